"""Models are created by name from typed configs."""

from __future__ import annotations

import pytest

from hyperct.models.hyperct import HyperCT
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.models.registry import create_model, model_config


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
