"""One training epoch: objective backward per batch, gradient accumulation, averaging, step."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from hyperct.inference.batch import to_device
from hyperct.training.distributed import DistInfo, average_gradients
from hyperct.training.objectives import PART_LOSS, Objective

logger = logging.getLogger(__name__)

StepLogger = Callable[[int, dict[str, float]], None]


@dataclass
class LoopContext:
    """What an epoch needs besides model, data and objective."""

    device: torch.device
    params: list[nn.Parameter]
    grad_accum: int = 1
    max_grad_norm: float | None = None
    dist: DistInfo = field(default_factory=DistInfo)
    progress: bool = True
    log_step: StepLogger | None = None


@dataclass
class EpochStats:
    """Mean training loss over the batches that had labels, and counts: ``labels`` are the
    (sample, task) labels that entered a loss, ``backbone_passes`` the image stacks that went
    through the backbone (see :mod:`hyperct.training.budget`). ``parts``: the mean of each
    per-part loss the objective logs (``loss/<part>``) over the batches that logged it."""

    loss: float
    batches: int
    steps: int
    samples: int
    labels: int = 0
    backbone_passes: int = 0
    parts: dict[str, float] = field(default_factory=dict)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[dict[str, Any]],
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    ctx: LoopContext,
    start_step: int = 0,
    limits: Mapping[str, int] | None = None,
) -> EpochStats:
    """Train over ``batches`` once; returns the epoch's stats (``steps`` optimizer steps).

    ``limits`` end the epoch early (a training budget reached mid-epoch): what this epoch may
    still spend of ``steps``, ``labels`` or ``backbone_passes``. They are checked before each
    optimizer step's first batch, so a count overshoots its limit by less than one step.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total, n_loss, step, pending, seen = 0.0, 0, start_step, 0, 0
    counts = {"samples": 0, "labels": 0, "backbone_passes": 0}
    parts: dict[str, list[float]] = {}
    bar = tqdm(batches, desc="train", leave=False, disable=not (ctx.progress and ctx.dist.is_main))
    for batch in bar:
        if pending == 0 and limits and _spent(limits, counts | {"steps": step - start_step}):
            break
        logs = objective.backward(model, to_device(batch, ctx.device), 1.0 / ctx.grad_accum)
        pending, seen = pending + 1, seen + 1
        if not math.isnan(logs["loss"]):
            total, n_loss = total + logs["loss"], n_loss + 1
            for key in counts:
                counts[key] += int(logs.get(key, 0.0))
            for key in (k for k in logs if k.startswith(PART_LOSS)):
                parts.setdefault(key, []).append(logs[key])
            bar.set_postfix(loss=f"{logs['loss']:.4f}")
        if pending == ctx.grad_accum:
            step += 1
            _optimizer_step(optimizer, ctx)
            pending = 0
            if ctx.log_step is not None:
                ctx.log_step(step, logs)
    if pending:
        step += 1
        _optimizer_step(optimizer, ctx)
    means = {key: sum(values) / len(values) for key, values in sorted(parts.items())}
    return EpochStats(total / max(n_loss, 1), seen, step - start_step, **counts, parts=means)


def _spent(limits: Mapping[str, int], counts: Mapping[str, int]) -> bool:
    return any(counts[key] >= limit for key, limit in limits.items())


def _optimizer_step(optimizer: torch.optim.Optimizer, ctx: LoopContext) -> None:
    average_gradients(ctx.params, ctx.dist)
    if ctx.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(ctx.params, ctx.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
