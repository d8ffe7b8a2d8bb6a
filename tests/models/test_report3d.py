"""The 3D report generator: a MONAI backbone's pooled map as visual tokens for the decoder."""

import pytest
import torch

from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.models.report3d import ReportGenerator3D, ReportGenerator3DConfig
from hyperct.tasks import TASK_NAMES

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


FINDINGS = ("Cardiomegaly", "Emphysema")


def _labels(rows: list[dict[str, int]]) -> torch.Tensor:
    """``(B, 25)`` task-id order, -1 except the given findings."""
    labels = torch.full((len(rows), len(TASK_NAMES)), -1)
    for i, row in enumerate(rows):
        for name, value in row.items():
            labels[i, TASK_NAMES.index(name)] = value
    return labels


def test_without_guidance_the_model_is_the_unguided_one_and_ignores_labels() -> None:
    torch.manual_seed(0)
    plain = ReportGenerator3D(_config())
    torch.manual_seed(0)
    guided = ReportGenerator3D(_config(guidance_findings=FINDINGS))
    assert plain.report.guidance is None
    extra = set(guided.state_dict()) - set(plain.state_dict())
    assert extra and all(key.startswith(("report.guidance.", "report.decoder.condition."))
                         for key in extra)
    assert set(plain.state_dict()) == set(guided.state_dict()) - extra
    images = torch.randn(2, 1, 8, 16, 16)
    labels = _labels([{"Cardiomegaly": 1}, {"Emphysema": 0}])
    plain.eval()
    assert plain.report_loss(images, REPORTS[:2], labels=labels).item() == pytest.approx(
        plain.report_loss(images, REPORTS[:2]).item())


def test_guided_memory_holds_one_prompt_per_finding_set_by_the_labels() -> None:
    torch.manual_seed(0)
    model = ReportGenerator3D(_config(guidance_findings=FINDINGS)).eval()
    images = torch.randn(2, 1, 8, 16, 16)
    labels = _labels([{"Cardiomegaly": 1, "Emphysema": 0}, {"Cardiomegaly": 0, "Emphysema": 1}])
    memory, logits = model.report.memory(images, labels[:, [TASK_NAMES.index(f) for f in FINDINGS]])
    assert memory.shape == (2, 4 + 2, model.feature_width) and logits is not None
    prompts = model.report.guidance.prompts.embeddings  # type: ignore[union-attr]
    assert torch.equal(memory[0, 4:], torch.stack([prompts[1, 0], prompts[0, 1]]))
    assert torch.equal(memory[1, 4:], torch.stack([prompts[0, 0], prompts[1, 1]]))
    # The labels of the guidance findings add their BCE; with none known only the token loss.
    token = model.report_loss(images, REPORTS[:2], labels=_labels([{}, {}]))
    assert token.item() == pytest.approx(model.report_loss(images, REPORTS[:2]).item(), rel=1e-6)
    assert model.report_loss(images, REPORTS[:2], labels=labels).item() > token.item()
    with pytest.raises(ValueError, match=r"labels must be \(B, 25\)"):
        model.report_loss(images, REPORTS[:2], labels=torch.zeros(2, 3))


def test_guided_model_rebuilt_from_its_config_and_weights_writes_the_same_reports() -> None:
    torch.manual_seed(0)
    config = _config(guidance_findings=FINDINGS)
    model = ReportGenerator3D(config)
    images = torch.randn(3, 1, 8, 16, 16)
    model.report_loss(images, REPORTS, labels=_labels([{"Emphysema": 1}] * 3))
    again = ReportGenerator3D(config).eval()
    again.load_trainable_state_dict(model.trainable_state_dict())
    assert torch.equal(again.report.guidance.known, model.report.guidance.known)  # type: ignore[union-attr]
    assert again.generate_reports(images) == model.eval().generate_reports(images)


def test_bad_guidance_config_is_named() -> None:
    with pytest.raises(ValueError, match=r"guidance_findings \['nope'\]"):
        _config(guidance_findings=("nope",))
    with pytest.raises(ValueError, match="guidance_weight"):
        _config(guidance_findings=FINDINGS, guidance_weight=-1.0)
