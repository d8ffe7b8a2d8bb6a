"""The objective a method trains with: HyperCT's task sampling, a weighting method, the 3D
classifiers' multi-label BCE, the report generators' teacher-forced text loss, or UniCT's
weighted per-task losses; the classification objectives with the anatomy supervision of the
``anatomy`` section."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from hyperct.config.run import METHODS, ConfigError, TrainConfig, method_section
from hyperct.inference.device import autocast
from hyperct.models.interface import (
    Capability,
    ScreeningModel,
    SharedFeatureModel,
    UnifiedTaskModel,
    require,
)
from hyperct.tasks import TASK_NAMES
from hyperct.training.objectives import (
    AuxLoss,
    HyperCTObjective,
    MultiLabelObjective,
    Objective,
    ReportObjective,
    UniCTObjective,
    WeightedMultiTaskObjective,
)
from hyperct.training.sampling import inverse_prevalence_weights

if TYPE_CHECKING:
    from hyperct.anatomy.supervision import AnatomySupervision

#: Offset of the task-sampling generator's seed from the run seed (keeps streams apart).
_SAMPLER_SEED_OFFSET = 7919


def build_objective(
    cfg: TrainConfig,
    model: ScreeningModel,
    device: torch.device,
    train_labels: torch.Tensor,
    aux_losses: Sequence[AuxLoss] = (),
) -> Objective:
    """``cfg.method``'s objective over the run's tasks (``cfg.task_names``), chosen by how the
    model exposes its features: volume features get the multi-label BCE, task-conditioned
    features HyperCT's task sampling, a shared representation the method's weighting, and a
    model that only writes reports the teacher-forced report loss, and a model with every task
    in one pass (UniCT) its own per-task losses.

    With ``anatomy.enabled`` the objective owns an auxiliary segmentation head on the model's
    feature map (:mod:`hyperct.anatomy.supervision`); UniCT, which segments the findings
    itself, refuses it.
    """
    bf16 = functools.partial(autocast, device, cfg.runtime.bf16)
    if Capability.UNIFIED_TASKS in model.capabilities:
        if cfg.anatomy_config().enabled:
            raise ConfigError(f"anatomy.enabled: method {cfg.method!r} segments the findings "
                              "with its own head and takes no anatomy head; disable it")
        unified = require(model, Capability.UNIFIED_TASKS, UnifiedTaskModel, f"method {cfg.method!r}")
        return UniCTObjective(
            [TASK_NAMES.index(t) for t in cfg.task_names],
            unified.config.supervise_classification, aux_losses=aux_losses, autocast=bf16,
        )
    if Capability.REPORT_GENERATION in model.capabilities and not model.task_names:
        if cfg.anatomy_config().enabled:
            raise ConfigError(f"anatomy.enabled: method {cfg.method!r} writes reports and has no "
                              "feature map objective for the anatomy head; disable it")
        return ReportObjective([], aux_losses, bf16)
    task_ids = [TASK_NAMES.index(t) for t in cfg.task_names]
    common = {
        "aux_losses": aux_losses,
        "autocast": bf16,
        "anatomy": _anatomy(cfg, model, device),
    }
    if Capability.VOLUME_FEATURES in model.capabilities:
        return MultiLabelObjective(task_ids, **common)
    if Capability.TASK_FEATURES in model.capabilities:
        weights = (
            inverse_prevalence_weights(train_labels)
            if cfg.sampling.strategy == "inverse_prevalence"
            else None
        )
        generator = torch.Generator().manual_seed(cfg.seed + _SAMPLER_SEED_OFFSET)
        return HyperCTObjective(task_ids, generator=generator, task_weights=weights,
                                tasks_per_sample=cfg.sampling.tasks_per_sample, **common)
    require(model, Capability.SHARED_FEATURES, SharedFeatureModel, f"method {cfg.method!r}")
    from hyperct.mtl import create_weighting

    method = {"stl": "ew", "nashmtl": "nash_mtl"}.get(cfg.method, cfg.method)
    weighting = create_weighting(method, len(task_ids), **weighting_options(cfg.mtl, cfg.method))
    return WeightedMultiTaskObjective(task_ids, weighting=weighting.to(device), **common)


def weighting_options(mtl: dict[str, Any], method: str) -> dict[str, Any]:
    """The options of ``method`` in the ``mtl`` config section.

    Plain keys apply to the method being trained; a sub-section named after a method applies to
    that method only, so one config can drive several methods in ``hyperct compare``
    (e.g. ``mtl: {mgda: {mode: representation}, dwa: {temperature: 2.0}}``).
    """
    plain, own = method_section(mtl, method, "mtl", METHODS)
    return {**plain, **own}


def _anatomy(
    cfg: TrainConfig, model: ScreeningModel, device: torch.device
) -> AnatomySupervision | None:
    """The anatomy supervision of the run, on the model's feature map; None when disabled."""
    config = cfg.anatomy_config()
    if not config.enabled:
        return None
    from hyperct.anatomy.supervision import build_supervision

    return build_supervision(config, model.feature_width, 3 if cfg.is_3d else 2, device)
