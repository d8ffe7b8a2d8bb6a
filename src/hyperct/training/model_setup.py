"""Building the model a method trains: HyperCT, or the shared-LoRA multi-task baseline.

The ``model`` section of the config is handed to the model's own config dataclass; an unknown
key is reported as ``model.<key>``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from torch import nn

from hyperct.training.config import ConfigError, TrainConfig

logger = logging.getLogger(__name__)


def model_config(method: str, fields: dict[str, Any]) -> Any:
    """The model config dataclass of ``method`` filled from ``fields``.

    One config can drive every method (``hyperct compare``): keys that only the other model
    family knows (e.g. the hypernetwork sizes for a baseline) are dropped; keys neither knows
    are an error naming ``model.<key>``.
    """
    cls = _model_classes(method)[1]
    other = _model_classes("ew" if method == "hyperct" else "hyperct")[1]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known - {f.name for f in dataclasses.fields(other)})
    if unknown:
        raise ConfigError(
            f"unknown config key 'model.{unknown[0]}' for {cls.__name__}; known: {sorted(known)}"
        )
    ignored = sorted(set(fields) - known)
    if ignored:
        logger.info("method %s: model keys %s do not apply and are ignored", method, ignored)
    try:
        return cls(**{k: v for k, v in fields.items() if k in known})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: {err}") from None


def build_model(cfg: TrainConfig) -> nn.Module:
    """A fresh model for ``cfg.method`` (backbone frozen, adapters initialised)."""
    fields = dict(cfg.model)
    if cfg.runtime.activation_checkpointing:
        fields["activation_checkpointing"] = True
    model_cls, _ = _model_classes(cfg.method)
    return model_cls(model_config(cfg.method, fields))


def _model_classes(method: str) -> tuple[type, type]:
    """(model class, config class) of a method; imported lazily (they pull in transformers)."""
    if method == "hyperct":
        from hyperct.models.hyperct import HyperCT, HyperCTConfig

        return HyperCT, HyperCTConfig
    from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask

    return SharedLoRAMultiTask, MultiTaskConfig
