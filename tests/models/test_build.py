"""UniCT is built from a run config and its assets, and rebuilt from ``best.pt`` alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hyperct.config.run import ConfigError, config_from_dict, config_to_dict
from hyperct.findings_categories import MASK_CHANNELS
from hyperct.inference.checkpoint import (
    MODEL_ASSETS,
    Checkpoint,
    save_checkpoint,
    trainable_state,
)
from hyperct.inference.predict import load_trained_model
from hyperct.models.build import SEG_CLASSES, build_model
from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.models.unict import UniCT
from hyperct.preprocess.spec import SpacingCropSpec
from hyperct.tasks import TASK_NAMES

TINY_UNICT = {
    "encoder": "volume3d", "backbone3d_kwargs": {"width": 4}, "dim": 16, "heads": 2,
    "cls_latents": 2, "report_latents": 2, "seg_embed": 4, "seg_upsample": 1,
    "decoder": {"width": 16, "layers": 1, "heads": 2, "max_len": 16},
}


def _assets(report: bool = True) -> dict:
    assets: dict = {SEG_CLASSES: list(MASK_CHANNELS[:3])}
    if report:
        texts = ["No effusion.", "Emphysema is seen.", "The heart is enlarged."] * 3
        tokenizer = ReportTokenizer.train(texts, TokenizerConfig(vocab_size=300, min_frequency=1))
        assets["tokenizer"] = tokenizer.to_state()
    return assets


def test_unict_is_built_with_the_task_outputs_cache_channels_and_tokenizer() -> None:
    cfg = config_from_dict({"method": "unict", "tasks": ["Emphysema"], "unict": TINY_UNICT})
    model = build_model(cfg, _assets())
    assert isinstance(model, UniCT)
    assert model.task_names == list(TASK_NAMES)  # all 25 outputs; ``tasks`` picks the trained
    assert model.config.seg_classes == MASK_CHANNELS[:3]
    assert model.tokenizer is not None and model.report_decoder is not None
    off = config_from_dict({"method": "unict", "unict": {**TINY_UNICT, "supervise_report": False}})
    assert build_model(off, _assets(report=False)).report_decoder is None


def test_unict_without_its_assets_is_refused_naming_them() -> None:
    cfg = config_from_dict({"method": "unict", "unict": TINY_UNICT})
    with pytest.raises(ConfigError, match="finding-mask channels"):
        build_model(cfg, {})
    with pytest.raises(ConfigError, match="unict.supervise_report.*tokenizer"):
        build_model(cfg, _assets(report=False))


def test_a_unict_checkpoint_rebuilds_the_same_model_from_best_pt_alone(tmp_path: Path) -> None:
    cfg = config_from_dict({"method": "unict", "unict": TINY_UNICT,
                            "output_dir": str(tmp_path / "run")})
    assets = _assets()
    torch.manual_seed(0)
    model = build_model(cfg, assets).eval()
    spec = SpacingCropSpec(spacing_zyx=(3.0, 2.0, 2.0), pad_shape_zyx=(8, 20, 20),
                           crop_shape_zyx=(8, 16, 16))
    save_checkpoint(Checkpoint(model=trainable_state(model), config=config_to_dict(cfg),
                               tasks=list(TASK_NAMES), spec=spec.to_dict(),
                               backbone=model.backbone_identity(), extra={MODEL_ASSETS: assets}),
                    tmp_path / "run" / "best.pt")
    torch.manual_seed(1)  # nothing of the rebuilt model may depend on the generator's state
    loaded, ckpt = load_trained_model(tmp_path / "run", device="cpu")
    assert isinstance(loaded, UniCT) and ckpt.extra[MODEL_ASSETS] == assets
    volumes = torch.randn(2, 1, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_all(volumes), model.predict_all(volumes))
        assert loaded.generate_reports(volumes) == model.generate_reports(volumes)
