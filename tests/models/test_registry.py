"""Models are created by name from typed configs."""

from __future__ import annotations

import pytest
import torch

from hyperct.models.hyperct import HyperCT
from hyperct.models.interface import Capability
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.models.registry import create_model, model_config
from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.models.report3d import ReportGenerator3D
from hyperct.models.unict import UniCT


def test_models_are_created_by_name() -> None:
    assert isinstance(create_model("hyperct", backbone="dinov3-tiny", task_dim=16), HyperCT)
    assert isinstance(
        create_model("shared-lora", backbone="dinov3-tiny", rank=2), SharedLoRAMultiTask
    )


def test_unknown_model_and_bad_fields_are_named() -> None:
    with pytest.raises(KeyError, match="hyperct"):
        create_model("vit-3d")
    with pytest.raises(ValueError, match="dropout"):
        model_config("hyperct", dropout=2.0)
    config = MultiTaskConfig(backbone="dinov3-tiny")
    assert MultiTaskConfig.from_dict(config.to_dict()) == config


_TOKENIZER = ReportTokenizer.train(
    ["No pleural effusion.", "The heart is enlarged.", "Emphysema is seen."] * 3,
    TokenizerConfig(vocab_size=300),
)
_UNICT = {"encoder": "volume3d", "backbone3d_kwargs": {"width": 4}, "dim": 16, "heads": 2,
          "classes": ("a", "b"), "seg_classes": ("1a",), "seg_embed": 4, "seg_upsample": 1,
          "decoder": {"width": 16, "layers": 1, "heads": 2, "max_len": 12}}


def test_unict_takes_its_tokenizer_through_the_registry() -> None:
    model = create_model("unict", tokenizer=_TOKENIZER, **_UNICT)
    assert isinstance(model, UniCT) and Capability.REPORT_GENERATION in model.capabilities
    assert model.tokenizer.to_state() == _TOKENIZER.to_state()
    reports = model.eval().generate_reports(torch.randn(1, 1, 16, 16, 16))
    assert len(reports) == 1 and isinstance(reports[0], str)
    without = create_model("unict", supervise_report=False, **_UNICT)
    assert Capability.REPORT_GENERATION not in without.capabilities


def test_report3d_takes_the_same_tokenizer_argument_into_its_config() -> None:
    model = create_model("report3d", tokenizer=_TOKENIZER, encoder_kwargs={"width": 4},
                         token_grid=(1, 1, 1), width=16, layers=1, heads=2, max_len=12)
    assert isinstance(model, ReportGenerator3D)
    assert model.config.tokenizer == _TOKENIZER.to_state()


def test_a_tokenizer_where_none_fits_or_is_missing_is_named() -> None:
    with pytest.raises(ValueError, match="'hyperct' writes no reports"):
        create_model("hyperct", tokenizer=_TOKENIZER, backbone="dinov3-tiny")
    with pytest.raises(ValueError, match="'report3d' needs its report tokenizer"):
        create_model("report3d")
    with pytest.raises(TypeError, match="must be a ReportTokenizer, got dict"):
        create_model("unict", tokenizer=_TOKENIZER.to_state(), **_UNICT)
    with pytest.raises(ValueError, match="supervise_report"):
        create_model("unict", **_UNICT)
