"""The mutable state of a run (model, objective, optimizer, scheduler, counters) and its
conversion to and from a :class:`~hyperct.inference.checkpoint.Checkpoint`."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hyperct.config.run import TrainConfig, config_to_dict
from hyperct.inference.checkpoint import (
    MODEL_ASSETS,
    Checkpoint,
    CheckpointError,
    check_backbone,
    load_checkpoint,
    load_trainable_state,
    trainable_state,
)
from hyperct.inference.rng import capture_rng_state, restore_rng_state
from hyperct.inference.spec import same_spec
from hyperct.models.interface import ScreeningModel
from hyperct.training.objectives import Objective
from hyperct.training.run_log import HISTORY, read_history

logger = logging.getLogger(__name__)

#: Config sections that may differ when resuming (they do not change what is learned).
RESUMABLE_CHANGES = ("runtime", "optim.epochs", "output_dir", "data.num_workers")


@dataclass
class TrainState:
    """Everything that changes while training; ``epoch`` counts completed epochs.

    ``saved_config`` and ``tasks`` are what checkpoints record (by default the resolved
    ``cfg`` and its tasks; ``--new-task`` records the trained run's model with the added task).
    ``history`` holds every epoch's row, so ``last.pt`` alone can restore ``history.csv``.
    ``assets`` are what the model was built from besides the config (the report tokenizer).
    """

    cfg: TrainConfig
    model: ScreeningModel
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    spec: dict[str, Any]
    saved_config: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    epoch: int = 0
    step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    assets: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.saved_config = self.saved_config or config_to_dict(self.cfg)
        self.tasks = self.tasks or list(self.cfg.task_names)

    def params(self) -> list[nn.Parameter]:
        """Every parameter the optimizer updates (model adapters + objective's own)."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def is_better(self, metric: float) -> bool:
        """Strictly better validation score; the first epoch is taken when all are NaN."""
        if self.best_epoch < 0:
            return True
        return not math.isnan(metric) and (math.isnan(self.best_metric) or metric > self.best_metric)


def to_checkpoint(state: TrainState, metrics: dict[str, Any]) -> Checkpoint:
    """Snapshot of ``state`` (weights copied to CPU)."""
    return Checkpoint(
        model=trainable_state(state.model),
        config=state.saved_config,
        tasks=list(state.tasks),
        spec=state.spec,
        backbone=state.model.backbone_identity(),
        epoch=state.epoch,
        step=state.step,
        optimizer=state.optimizer.state_dict(),
        scheduler=state.scheduler.state_dict(),
        rng=capture_rng_state(),
        extra={"objective": state.objective.state_dict(), "history": list(state.history),
               MODEL_ASSETS: state.assets},
        metrics={**metrics, "best_metric": state.best_metric, "best_epoch": state.best_epoch},
    )


def restore(state: TrainState, path: Path) -> None:
    """Load ``path`` into ``state`` after checking backbone, config and spec agree."""
    ckpt = load_checkpoint(path)
    check_backbone(ckpt.backbone, state.model, str(path))
    _check_config(ckpt.config, state.saved_config, str(path))
    if not same_spec(ckpt.spec, state.spec):
        raise CheckpointError(
            f"{path}: the cache's preprocessing spec differs from the one this run was trained "
            f"with ({ckpt.spec} vs {state.spec})"
        )
    load_trainable_state(state.model, ckpt.model, str(path))
    state.optimizer.load_state_dict(ckpt.optimizer)
    state.scheduler.load_state_dict(ckpt.scheduler)
    state.objective.load_state_dict(ckpt.extra["objective"])
    restore_rng_state(ckpt.rng)
    state.epoch, state.step = ckpt.epoch, ckpt.step
    state.best_metric = float(ckpt.metrics["best_metric"])
    state.best_epoch = int(ckpt.metrics["best_epoch"])
    state.history = _saved_history(ckpt, path.parent / HISTORY)
    logger.info("resumed %s at epoch %d (best epoch %d)", path, state.epoch, state.best_epoch)


def _check_config(saved: dict[str, Any], current: dict[str, Any], source: str) -> None:
    diffs = [k for k in _flat_diff(saved, current) if not k.startswith(RESUMABLE_CHANGES)]
    if diffs:
        raise CheckpointError(
            f"{source}: cannot resume with a changed config; differing keys: {diffs} "
            f"(only {list(RESUMABLE_CHANGES)} may change)"
        )


def _flat_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _flat_diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _saved_history(ckpt: Checkpoint, csv_path: Path) -> list[dict[str, Any]]:
    """The history rows up to the checkpoint's epoch; checkpoints written before the history
    travelled inside them fall back to the run's ``history.csv``."""
    rows = ckpt.extra.get("history")
    if rows is None:
        rows = read_history(csv_path) if csv_path.is_file() else []
    return [dict(r) for r in rows if int(r["epoch"]) <= ckpt.epoch]
