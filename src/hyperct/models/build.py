"""Building the model a run config describes: the family of its method
(:data:`hyperct.models.registry.FAMILIES`) from the config's ``model`` or ``model3d`` section.

Training builds a fresh model with it and inference rebuilds a trained one from the config a
checkpoint carries, so both always agree. The ``model`` section is handed to the 2.5D family's
config dataclass, the ``model3d`` section to
:class:`~hyperct.models.classifier3d.Classifier3DConfig`; an unknown key is reported with its
dotted name. The ``report`` section and the run's tokenizer (a *model asset*: learned from the
training data before the weights, saved in the checkpoint's ``extra["model_assets"]``) build a
:class:`~hyperct.models.report3d.ReportGenerator3DConfig`. UniCT is built from the ``unict``
section, its task outputs (the 25 tasks), and two assets: the finding-mask channels of the run's
cache (its segmentation classes) and, when its report head is supervised, the tokenizer.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from hyperct.config.run import METHODS_3D, ConfigError, ReportConfig, TrainConfig, method_section
from hyperct.models.interface import ScreeningModel

logger = logging.getLogger(__name__)


def model_config(method: str, fields: dict[str, Any]) -> Any:
    """The model config dataclass of ``method`` filled from ``fields``.

    One config can drive every method (``hyperct compare``): keys that only the other model
    family knows (e.g. the hypernetwork sizes for a baseline) are dropped; keys neither knows
    are an error naming ``model.<key>``.
    """
    from hyperct.models.registry import FAMILIES, family_of

    cls = family_of(method).config
    known = {f.name for f in dataclasses.fields(cls)}
    others = {
        f.name for family in FAMILIES.values() if family.section == "model"
        for f in dataclasses.fields(family.config)
    }
    unknown = sorted(set(fields) - known - others)
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


def report_config(report: ReportConfig, tokenizer: dict[str, str]) -> Any:
    """The :class:`ReportGenerator3DConfig` of the ``report`` section with a trained tokenizer."""
    from hyperct.models.report3d import ReportGenerator3DConfig
    from hyperct.tasks import CONVENTIONAL

    findings = tuple(t.name for t in CONVENTIONAL) if report.guidance else ()
    try:
        return ReportGenerator3DConfig(
            tokenizer=tokenizer, encoder=report.encoder, encoder_kwargs=dict(report.encoder_kwargs),
            token_grid=tuple(report.token_grid), width=report.width, layers=report.layers,
            heads=report.heads, dropout=report.dropout, max_len=report.max_len,
            beam_width=report.beam_width if report.decoding == "beam" else 1,
            length_penalty=report.length_penalty, guidance_findings=findings,
            guidance_weight=report.guidance_weight,
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"report: {err}") from None


def build_model(cfg: TrainConfig, assets: dict[str, Any] | None = None) -> ScreeningModel:
    """A fresh model for ``cfg.method`` (2.5D: backbone frozen, adapters initialised).

    ``assets`` are what a family learns from the data before its weights: the report
    generators need ``{"tokenizer": ReportTokenizer.to_state()}``, UniCT
    ``{"seg_classes": [...]}`` and the tokenizer when ``unict.supervise_report``; the others none.
    """
    from hyperct.models.registry import family_of

    family = family_of(cfg.method)
    if family.section == "report":
        if not assets or "tokenizer" not in assets:
            raise ConfigError(
                f"method {cfg.method!r} needs its report tokenizer (trained on the training "
                "reports at the start of a run and saved in its checkpoints)"
            )
        return family.model(report_config(cfg.report, assets["tokenizer"]))  # type: ignore[return-value]
    if family.section == "unict":
        return _unict(cfg, assets or {})
    if family.section == "model3d":
        config = model3d_config(cfg.method, cfg.model3d)
        try:
            return family.model(config)  # type: ignore[return-value]
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model3d.{cfg.method}: {err}") from None
    fields = dict(cfg.model)
    if cfg.runtime.activation_checkpointing:
        fields["activation_checkpointing"] = True
    return family.model(model_config(cfg.method, fields))  # type: ignore[return-value]


#: Model assets of UniCT: the cache's finding-mask channels (one segmentation class each).
SEG_CLASSES = "seg_classes"


def _unict(cfg: TrainConfig, assets: dict[str, Any]) -> ScreeningModel:
    """UniCT with the 25 task outputs (the run's ``tasks`` choose which are trained), the
    cache's finding channels as segmentation classes and, for a report head, the tokenizer."""
    from hyperct.models.report.tokenizer import ReportTokenizer
    from hyperct.models.unict import UniCT
    from hyperct.tasks import TASK_NAMES

    if SEG_CLASSES not in assets:
        raise ConfigError(f"method {cfg.method!r} needs the finding-mask channels of its cache "
                          "(recorded at the start of a run and saved in its checkpoints)")
    config = cfg.unict_config(classes=TASK_NAMES, seg_classes=tuple(assets[SEG_CLASSES]))
    if config.supervise_report and "tokenizer" not in assets:
        raise ConfigError(
            f"unict.supervise_report: method {cfg.method!r} needs its report tokenizer (trained "
            "on the training reports at the start of a run and saved in its checkpoints)"
        )
    tokenizer = ReportTokenizer.from_state(assets["tokenizer"]) if config.supervise_report else None
    try:
        return UniCT(config, tokenizer)  # type: ignore[return-value]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"unict: {err}") from None
