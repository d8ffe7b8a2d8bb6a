import pytest
import torch
from report_helpers import tiny_decoder
from torch import nn

from hyperct.models.report.generate import GenerationConfig
from hyperct.models.report.model import FeatureMapTokens, ReportModel
from hyperct.models.report.tokenizer import ReportTokenizer


def _conv_encoder(tokens: int | None = 8) -> FeatureMapTokens:
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv3d(1, 16, kernel_size=4, stride=4), nn.GELU())
    return FeatureMapTokens(backbone, channels=16, tokens=tokens)


def _volumes(batch: int) -> torch.Tensor:
    return torch.randn(batch, 1, 8, 8, 8, generator=torch.Generator().manual_seed(3))


def test_feature_map_becomes_one_token_per_location() -> None:
    tokens = _conv_encoder(tokens=None)(_volumes(2))
    assert tokens.shape == (2, 2 * 2 * 2, 16)


def test_learned_positions_make_locations_distinguishable() -> None:
    encoder = _conv_encoder()
    flat = torch.zeros(1, 1, 8, 8, 8)
    tokens = encoder(flat)[0]
    assert torch.cdist(tokens, tokens).fill_diagonal_(1.0).min() > 0


def test_wrong_backbone_output_is_a_clear_error() -> None:
    encoder = FeatureMapTokens(nn.Conv3d(1, 8, 4, stride=4), channels=16)
    with pytest.raises(ValueError, match=r"expected \(B, 16, \*spatial\)"):
        encoder(_volumes(1))
    with pytest.raises(ValueError, match="8 locations, positions are for 27"):
        FeatureMapTokens(nn.Conv3d(1, 16, 4, stride=4), channels=16, tokens=27)(_volumes(1))


def test_encoder_and_decoder_train_together(
    report_tokenizer: ReportTokenizer, short_reports: list[str]
) -> None:
    model = ReportModel(
        _conv_encoder(), tiny_decoder(report_tokenizer.vocab_size), report_tokenizer
    )
    volumes = _volumes(2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = model.loss(volumes, short_reports[:2])
    first.backward()
    conv = model.encoder.backbone[0].weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0
    for _ in range(40):
        optimiser.zero_grad()
        loss = model.loss(volumes, short_reports[:2])
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1 * first.item()
    model.eval()
    texts = model.generate(volumes, GenerationConfig(max_tokens=64))
    assert texts == [report_tokenizer.normalise(r) for r in short_reports[:2]]


def test_encoder_must_give_visual_tokens(report_tokenizer: ReportTokenizer) -> None:
    model = ReportModel(
        nn.Conv3d(1, 16, 4, stride=4), tiny_decoder(report_tokenizer.vocab_size), report_tokenizer
    )
    with pytest.raises(ValueError, match=r"expected visual tokens \(B, N, D\)"):
        model.generate(_volumes(1))
