"""The 3D report generator: a MONAI backbone's pooled map as visual tokens for the decoder."""

import pytest
import torch

from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.models.report3d import ReportGenerator3D, ReportGenerator3DConfig

REPORTS = ["No pleural effusion.", "The heart is enlarged.", "Emphysema is seen."]


def _config(**fields: object) -> ReportGenerator3DConfig:
    tokenizer = ReportTokenizer.train(REPORTS * 3, TokenizerConfig(vocab_size=300)).to_state()
    base = {"tokenizer": tokenizer, "encoder_kwargs": {"width": 4}, "token_grid": (1, 2, 2),
            "width": 16, "layers": 1, "heads": 2, "max_len": 10, "dropout": 0.0}
    return ReportGenerator3DConfig(**{**base, **fields})  # type: ignore[arg-type]


def test_generates_one_report_per_volume_greedy_or_beam() -> None:
    torch.manual_seed(0)
    model = ReportGenerator3D(_config()).eval()
    images = torch.randn(3, 1, 8, 16, 16)
    reports = model.generate_reports(images)
    assert len(reports) == 3 and all(isinstance(r, str) for r in reports)
    beam = ReportGenerator3D(_config(beam_width=2))
    beam.load_trainable_state_dict(model.trainable_state_dict())
    assert len(beam.eval().generate_reports(images)) == 3


def test_teacher_forced_loss_trains_and_the_token_count_is_fixed() -> None:
    torch.manual_seed(0)
    model = ReportGenerator3D(_config())
    images = torch.randn(2, 1, 8, 16, 16)
    visual = model.report.visual_tokens(images)
    assert visual.shape == (2, 4, model.feature_width)
    other_size = model.report.visual_tokens(torch.randn(2, 1, 12, 24, 24))
    assert other_size.shape == visual.shape  # pooled to the grid whatever the crop
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(15):
        loss = model.report_loss(images, REPORTS[:2])
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_a_model_rebuilt_from_its_config_writes_the_same_reports() -> None:
    torch.manual_seed(0)
    config = _config()
    model = ReportGenerator3D(config).eval()
    again = ReportGenerator3D(config).eval()
    again.load_trainable_state_dict(model.trainable_state_dict())
    images = torch.randn(2, 1, 8, 16, 16)
    assert again.generate_reports(images) == model.generate_reports(images)


def test_bad_config_and_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="encoder 'nope'"):
        _config(encoder="nope")
    with pytest.raises(ValueError, match="token_grid"):
        _config(token_grid=(1, 2))
    with pytest.raises(ValueError, match=r"\(B, C, D, H, W\)"):
        ReportGenerator3D(_config()).generate_reports(torch.randn(2, 16, 16))
    with pytest.raises(ValueError, match="takes no image_mask"):
        ReportGenerator3D(_config()).generate_reports(
            torch.randn(2, 1, 8, 16, 16), torch.ones(2, 4, dtype=torch.bool))


def test_bf16_training_steps_keep_the_loss_and_gradients_finite() -> None:
    """CPU bf16 autocast on a backbone whose last map is two slices deep (where oneDNN's bf16
    conv3d backward gave NaN, see hyperct.models.conv3d)."""
    torch.manual_seed(0)
    model = ReportGenerator3D(_config(encoder_kwargs={"width": 4, "stem_stride": (1, 1, 1)}))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.randn(4, 1, 32, 16, 16)  # stride 16: a 2 x 1 x 1 map
    for step in range(8):
        junk = torch.full((1 << 20,), float("nan"))  # freed memory holding NaN, as in training
        del junk
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model.report_loss(images, [*REPORTS, REPORTS[0]])
        assert torch.isfinite(loss), step
        opt.zero_grad()
        loss.float().backward()
        bad = [name for name, p in model.named_parameters()
               if p.grad is not None and not torch.isfinite(p.grad).all()]
        assert not bad, f"step {step}: non-finite gradients in {bad}"
        opt.step()
