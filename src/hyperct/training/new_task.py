"""Teach a trained HyperCT a new task: only the new task's embedding trains.

The hypernetwork, the shared head and the backbone stay frozen, so the 25 original tasks predict
exactly as before. Labels come from the manifest column named like the new task (1/0/-1). The
new run folder holds ``best.pt``/``last.pt`` (the original weights plus the new embedding; the
config records the task in ``model.extra_tasks``), ``history.csv`` and ``run.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hyperct.config.run import ConfigError, TrainConfig, config_to_dict
from hyperct.evaluation.auc import auc
from hyperct.inference.batch import to_device
from hyperct.inference.checkpoint import LAST, Checkpoint
from hyperct.inference.device import autocast
from hyperct.inference.rng import seed_everything
from hyperct.inference.spec import same_spec
from hyperct.models.interface import Capability, TaskExtensibleModel
from hyperct.tasks import LABEL_MISSING, LABEL_VALUES
from hyperct.training.data_setup import RunData, eval_loader, load_run_data
from hyperct.training.distributed import DistInfo
from hyperct.training.objectives import Objective
from hyperct.training.run_log import Timer, write_run_record
from hyperct.training.state import TrainState
from hyperct.training.trainer import (
    RunExistsError,
    RunResult,
    Validation,
    make_scheduler,
    run_epochs,
    start_session,
)

logger = logging.getLogger(__name__)


class NewTaskObjective(Objective):
    """BCE of the new task's logit on the samples labelled for it (labels looked up by scan)."""

    def __init__(self, task_id: int, labels: dict[str, float], **kwargs: Any) -> None:
        super().__init__([task_id], **kwargs)
        self.task_id, self.labels = task_id, labels

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        target = torch.tensor([self.labels[s] for s in batch["scan_id"]])
        keep = (target != LABEL_MISSING).nonzero().squeeze(1)
        if keep.numel() == 0:
            return {"loss": float("nan"), "samples": 0.0}
        device = batch["image"].device
        idx = keep.to(device)
        with self.autocast():
            logits = model(batch["image"].index_select(0, idx), batch["image_mask"].index_select(0, idx),
                           torch.full((keep.numel(),), self.task_id, device=device))
        loss = F.binary_cross_entropy_with_logits(logits.float(), target[keep].to(device))
        (loss * scale).backward()
        return {"loss": float(loss.detach()), "samples": float(keep.numel())}


def task_labels(manifest: pd.DataFrame, task: str, source: str) -> dict[str, float]:
    """scan_id -> label of the new task from its manifest column (1/0/-1; empty = -1)."""
    if task not in manifest.columns:
        raise ConfigError(f"{source}: no column {task!r} with the new task's labels")
    values = pd.to_numeric(manifest[task], errors="coerce").fillna(LABEL_MISSING)
    bad = ~values.isin(LABEL_VALUES)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConfigError(f"{source}: row {row}, column {task!r} is {manifest[task].iloc[row]!r}; "
                          "expected 1, 0 or -1")
    return dict(zip(manifest["scan_id"].astype(str), values.astype(float)))


def train_new_task(*, run: str | Path, task: str, cfg: TrainConfig, resume: bool = False) -> RunResult:
    """Add ``task`` to the HyperCT of ``run`` and train its embedding on ``cfg.data``.

    ``cfg`` supplies data, optimiser and schedule, runtime, seed and ``output_dir``; its model
    section is ignored (the model is the run's). The epochs, model selection on the new task's
    validation AUC and the checkpoints are the trainer's. Resuming is not supported: rerun into
    a new folder.
    """
    from hyperct.inference.predict import load_trained_model

    if resume:
        raise ConfigError("--resume is not supported with --new-task; train into a new output_dir")
    out = Path(cfg.output_dir)
    if (out / LAST).is_file():
        raise RunExistsError(f"{out} already holds a run; choose another output_dir")
    loaded, base = load_trained_model(run, cfg.runtime.device)
    if Capability.ADD_TASK not in loaded.capabilities:
        raise ConfigError(f"{run}: --new-task needs a HyperCT run, not {base.config['method']!r}")
    model = cast(TaskExtensibleModel, loaded)
    data = load_run_data(cfg)
    if not same_spec(data.spec, base.spec):
        raise ConfigError(f"{cfg.data.cache}: prepared with another spec than {run} was trained with")
    task_id = model.add_task(task)
    params = model.train_only_added_tasks()
    labels = task_labels(data.manifest, task, cfg.data.manifest)
    timer = Timer()
    seed_everything(cfg.seed)
    device = next(iter(params)).device
    objective = NewTaskObjective(task_id, labels, autocast=lambda: autocast(device, cfg.runtime.bf16))
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    state = TrainState(cfg, model, objective, optimizer, make_scheduler(cfg.optim, optimizer),
                       base.spec, saved_config=_saved_config(model, base, cfg),
                       tasks=list(model.task_names))
    session = start_session(cfg, out, device, DistInfo())
    try:
        run_epochs(state, session, data, lambda: Validation.from_aucs(
            _val_auc(model, data, cfg, task_id, task, labels, device)))
    finally:
        session.log.close()
    write_run_record(out, {"method": "hyperct-new-task", "task": task_id,
                           "best_epoch": state.best_epoch, "best_val_auc": state.best_metric,
                           "runtime_s": round(timer.seconds, 1), "config": config_to_dict(cfg)})
    return RunResult(out, state.best_epoch, state.best_metric, state.epoch)


@torch.no_grad()
def _val_auc(
    model: TaskExtensibleModel, data: RunData, cfg: TrainConfig, task_id: int, task: str,
    labels: dict[str, float], device: torch.device,
) -> dict[str, float]:
    """The new task's validation AUC (nothing when the val split lacks one of its classes)."""
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()  # type: ignore[attr-defined]
    ys, ps = [], []
    for batch in eval_loader(data.val, data.collate, cfg.runtime.eval_batch_size, DistInfo()):
        batch = to_device(batch, device)
        with autocast(device, cfg.runtime.bf16):
            logits = model.predict_all(batch["image"], batch["image_mask"], tasks=[task_id])
        ps.extend(torch.sigmoid(logits.float())[:, 0].tolist())
        ys.extend(labels[s] for s in batch["scan_id"])
    model.train(was_training)  # type: ignore[attr-defined]
    y, p = np.array(ys), np.array(ps)
    known = y != LABEL_MISSING
    if not 0 < y[known].sum() < known.sum():
        return {}
    return {task: auc(y[known].astype(int), p[known])}


def _saved_config(model: TaskExtensibleModel, base: Checkpoint, cfg: TrainConfig) -> dict[str, Any]:
    """The trained run's config with the added task, this run's data and folder."""
    config = dict(base.config)
    config["model"] = {**config["model"], "extra_tasks": list(model.config.extra_tasks)}
    config.update(data=dataclasses.asdict(cfg.data), output_dir=cfg.output_dir)
    return config
