"""2.5D screening models created by name: ``create_model("hyperct", **config_fields)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask

#: name -> (model class, config class)
MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "hyperct": (HyperCT, HyperCTConfig),
    "shared-lora": (SharedLoRAMultiTask, MultiTaskConfig),
}


def model_config(name: str, **fields: Any) -> HyperCTConfig | MultiTaskConfig:
    """The typed config of model ``name`` with ``fields`` set (validated on construction)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name][1](**fields)


def create_model(name: str, **fields: Any) -> nn.Module:
    """Build model ``name`` (``"hyperct"`` or ``"shared-lora"``) from config fields.

    >>> model = create_model("hyperct", backbone="dinov3-tiny")  # doctest: +SKIP
    """
    config = model_config(name, **fields)
    return MODELS[name][0](config)
