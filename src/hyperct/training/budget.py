"""Training budgets: train every method of a comparison to the same amount of one count.

What is counted (each objective logs its batch's counts, the trainer sums them per epoch into
``history.csv`` and ``run.json``):

* ``epochs``: passes over the training split.
* ``steps``: optimizer steps; an epoch has ``ceil(ceil(scans / batch_size) / grad_accum)``.
* ``label-exposures``: (sample, task) labels that entered a loss. The shared-LoRA baselines and
  the 3D classifiers use every available label (not -1) of the run's tasks of every sample;
  HyperCT uses ``min(k, labels available)`` per sample, ``k = sampling.tasks_per_sample``.
* ``backbone-passes``: image stacks (one scan's images) forward through the backbone. HyperCT
  adapts the backbone per task, so it costs one pass per (sample, task) pair, ``k`` per sample;
  the shared-LoRA baselines and the 3D classifiers read all tasks from one pass per sample.

:func:`budget_config` turns a budget into a method's config: ``optim.epochs`` = the epochs it
needs, rounded up (the learning-rate schedule spans them), and for every unit but epochs the
matching ``optim.max_*`` limit, at which the trainer stops mid-epoch. The realised count is then
within one optimizer step of the budget (the counts of one epoch are exact, not estimated: they
follow from the training labels alone). Counts are per process; budgets assume one process.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch

from hyperct.config.run import ConfigError, TrainConfig
from hyperct.models.interface import Capability
from hyperct.models.registry import family_of
from hyperct.tasks import LABEL_MISSING, TASK_NAMES

BudgetUnit = Literal["epochs", "steps", "label-exposures", "backbone-passes"]
BUDGET_UNITS: tuple[str, ...] = ("epochs", "steps", "label-exposures", "backbone-passes")

#: The ``optim`` limit each unit (but epochs) sets, and the history column it counts.
_LIMIT = {"steps": "max_steps", "label-exposures": "max_label_exposures",
          "backbone-passes": "max_backbone_passes"}
COUNT_COLUMN = {"steps": "steps", "label-exposures": "labels",
                "backbone-passes": "backbone_passes"}


@dataclass(frozen=True)
class EpochCounts:
    """What one epoch of a method spends."""

    steps: int
    labels: int
    backbone_passes: int

    def of(self, unit: str) -> int:
        """The count of ``unit`` (``epochs``: 1)."""
        check_unit(unit)
        return 1 if unit == "epochs" else int(getattr(self, COUNT_COLUMN[unit]))


def check_unit(unit: str) -> None:
    """Refuse an unknown budget unit, naming the known ones."""
    if unit not in BUDGET_UNITS:
        raise ConfigError(f"--budget must be one of {BUDGET_UNITS}, got {unit!r}")


def epoch_counts(cfg: TrainConfig, labels: torch.Tensor) -> EpochCounts:
    """One epoch's counts for ``cfg.method`` on training labels ``labels`` (scans, 25)."""
    ids = [TASK_NAMES.index(t) for t in cfg.task_names]
    available = (labels[:, ids] != LABEL_MISSING).sum(dim=1)
    batches = math.ceil(len(labels) / cfg.optim.batch_size)
    steps = math.ceil(batches / cfg.optim.grad_accum)
    if Capability.TASK_FEATURES in family_of(cfg.method).model.capabilities:
        pairs = int(available.clamp(max=cfg.sampling.tasks_per_sample).sum())
        return EpochCounts(steps, pairs, pairs)
    return EpochCounts(steps, int(available.sum()), len(labels))


def budget_config(cfg: TrainConfig, unit: str, amount: int, labels: torch.Tensor) -> TrainConfig:
    """``cfg`` trained to ``amount`` of ``unit`` (see the module docstring)."""
    check_unit(unit)
    if amount < 1:
        raise ConfigError(f"--budget-amount must be >= 1, got {amount}")
    if unit == "epochs":
        return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, epochs=amount))
    if cfg.method == "stl":
        raise ConfigError(f"stl trains one model per task: --budget {unit} is not defined for "
                          "it; use --budget epochs or leave stl out")
    per_epoch = epoch_counts(cfg, labels).of(unit)
    if per_epoch == 0:
        raise ConfigError(f"method {cfg.method!r}: an epoch spends no {unit} (no training labels "
                          "among the run's tasks)")
    optim = dataclasses.replace(cfg.optim, epochs=math.ceil(amount / per_epoch),
                                **{_LIMIT[unit]: amount})
    return dataclasses.replace(cfg, optim=optim)


def default_amount(cfg: TrainConfig, unit: str, labels: torch.Tensor) -> int:
    """The budget ``optim.epochs`` epochs of ``cfg.method`` spend: what a comparison gives
    every method when no amount is named (``cfg`` is the reference method's config)."""
    return epoch_counts(cfg, labels).of(unit) * cfg.optim.epochs
