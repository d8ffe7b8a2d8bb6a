"""The objective a method trains with: HyperCT's task sampling, or a weighting method."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from hyperct.tasks import TASK_NAMES
from hyperct.training.config import TrainConfig
from hyperct.training.device import autocast
from hyperct.training.objectives import (
    AuxLoss,
    HyperCTObjective,
    Objective,
    WeightedMultiTaskObjective,
)
from hyperct.training.sampling import inverse_prevalence_weights

#: Offset of the task-sampling generator's seed from the run seed (keeps streams apart).
_SAMPLER_SEED_OFFSET = 7919


def build_objective(
    cfg: TrainConfig,
    device: torch.device,
    train_labels: torch.Tensor,
    aux_losses: Sequence[AuxLoss] = (),
) -> Objective:
    """``cfg.method``'s objective over the run's tasks (``cfg.task_names``)."""
    task_ids = [TASK_NAMES.index(t) for t in cfg.task_names]
    common = {
        "aux_losses": aux_losses,
        "autocast": functools.partial(autocast, device, cfg.runtime.bf16),
    }
    if cfg.method == "hyperct":
        weights = (
            inverse_prevalence_weights(train_labels)
            if cfg.sampling.strategy == "inverse_prevalence"
            else None
        )
        generator = torch.Generator().manual_seed(cfg.seed + _SAMPLER_SEED_OFFSET)
        return HyperCTObjective(task_ids, generator=generator, task_weights=weights, **common)
    from hyperct.mtl import create_weighting

    method = {"stl": "ew", "nashmtl": "nash_mtl"}.get(cfg.method, cfg.method)
    weighting = create_weighting(method, len(task_ids), **cfg.mtl).to(device)
    return WeightedMultiTaskObjective(task_ids, weighting=weighting, **common)
