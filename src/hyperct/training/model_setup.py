"""Building the model a method trains: HyperCT, the shared-LoRA multi-task baseline, or a 3D
classifier.

The ``model`` section of the config is handed to the 2.5D model's own config dataclass, the
``model3d`` section to :class:`~hyperct.models.classifier3d.Classifier3DConfig`; an unknown key
is reported with its dotted name.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from torch import nn

from hyperct.training.config import METHODS_3D, ConfigError, TrainConfig, method_section

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


def model3d_config(method: str, fields: dict[str, Any]) -> Any:
    """The :class:`Classifier3DConfig` of 3D method ``method`` from the ``model3d`` section.

    Plain keys are Classifier3DConfig fields; a sub-section named after a 3D method holds that
    backbone's config fields and applies to that method only.
    """
    from hyperct.models.classifier3d import Classifier3DConfig

    plain, section = method_section(fields, method, "model3d", METHODS_3D)
    known = {f.name for f in dataclasses.fields(Classifier3DConfig)} - {"backbone", "num_tasks",
                                                                        "backbone_kwargs"}
    unknown = sorted(set(plain) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key 'model3d.{unknown[0]}'; known: {sorted(known)} or a section "
            f"per 3D method {list(METHODS_3D)}"
        )
    try:
        return Classifier3DConfig(backbone=method, backbone_kwargs=dict(section), **plain)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model3d: {err}") from None


def build_model(cfg: TrainConfig) -> nn.Module:
    """A fresh model for ``cfg.method`` (2.5D: backbone frozen, adapters initialised)."""
    if cfg.is_3d:
        from hyperct.models.classifier3d import Classifier3D

        config = model3d_config(cfg.method, cfg.model3d)
        try:
            return Classifier3D(config)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model3d.{cfg.method}: {err}") from None
    fields = dict(cfg.model)
    if cfg.runtime.activation_checkpointing:
        fields["activation_checkpointing"] = True
    model_cls, _ = _model_classes(cfg.method)
    return model_cls(model_config(cfg.method, fields))


def _model_classes(method: str) -> tuple[type, type]:
    """(model class, config class) of a 2.5D method: HyperCT, or the shared-LoRA model of the
    baselines; imported lazily (they pull in transformers)."""
    from hyperct.models.registry import MODELS

    return MODELS["hyperct" if method == "hyperct" else "shared-lora"]
