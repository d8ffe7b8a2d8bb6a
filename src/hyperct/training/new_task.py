"""Teach a trained HyperCT a new task: only the new task's embedding trains.

The hypernetwork, the shared head and the backbone stay frozen, so the 25 original tasks predict
exactly as before. Labels come from the manifest column named like the new task (1/0/-1). The
new run folder holds ``best.pt``/``last.pt`` (the original weights plus the new embedding; the
config records the task in ``model.extra_tasks``), ``history.csv`` and ``run.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hyperct.evaluation.auc import auc
from hyperct.tasks import LABEL_MISSING, LABEL_VALUES
from hyperct.training.batch import to_device
from hyperct.training.checkpoint import BEST, LAST, Checkpoint, save_checkpoint, trainable_state
from hyperct.training.config import ConfigError, TrainConfig, config_to_dict
from hyperct.training.config_io import save_config
from hyperct.training.data_setup import RunData, eval_loader, load_run_data, same_spec, train_loader
from hyperct.training.device import autocast
from hyperct.training.distributed import DistInfo
from hyperct.training.loop import LoopContext, train_one_epoch
from hyperct.training.objectives import Objective
from hyperct.training.rng import seed_everything
from hyperct.training.run_log import RunLogger, Timer, write_run_record
from hyperct.training.trainer import RunResult

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

    ``cfg`` supplies data, optimiser, runtime, seed and ``output_dir``; its model section is
    ignored (the model is the run's). Resuming is not supported: rerun into a new folder.
    """
    from hyperct.training.predict import load_trained_model

    if resume:
        raise ConfigError("--resume is not supported with --new-task; train into a new output_dir")
    out = Path(cfg.output_dir)
    if (out / LAST).is_file():
        raise FileExistsError(f"{out} already holds a run; choose another output_dir")
    model, base = load_trained_model(run, cfg.runtime.device)
    if not hasattr(model, "add_task"):
        raise ConfigError(f"{run}: --new-task needs a HyperCT run, not {base.config['method']!r}")
    data = load_run_data(cfg)
    if not same_spec(data.spec, base.spec):
        raise ConfigError(f"{cfg.data.cache}: prepared with another spec than {run} was trained with")
    task_id = model.add_task(task)
    params = model.train_only_added_tasks()
    labels = task_labels(data.manifest, task, cfg.data.manifest)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    best = _fit_embedding(model, params, data, cfg, task_id, labels, base)
    return RunResult(out, best[0], best[1], cfg.optim.epochs)


def _fit_embedding(
    model: nn.Module,
    params: list[nn.Parameter],
    data: RunData,
    cfg: TrainConfig,
    task_id: int,
    labels: dict[str, float],
    base: Checkpoint,
) -> tuple[int, float]:
    """Train the embedding for ``cfg.optim.epochs``; keep the best validation AUC as best.pt."""
    seed_everything(cfg.seed)
    device = next(iter(model.parameters())).device
    objective = NewTaskObjective(task_id, labels, autocast=lambda: autocast(device, cfg.runtime.bf16))
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, cfg.optim.step_size, cfg.optim.gamma)
    ctx = LoopContext(device=device, params=params, grad_accum=cfg.optim.grad_accum,
                      max_grad_norm=cfg.optim.max_grad_norm, progress=cfg.runtime.progress)
    log, timer, out = RunLogger(Path(cfg.output_dir)), Timer(), Path(cfg.output_dir)
    best_epoch, best_auc, step = -1, -math.inf, 0
    for epoch in range(cfg.optim.epochs):
        model.train()
        stats = train_one_epoch(model, train_loader(data, cfg, DistInfo(), epoch), objective,
                                optimizer, ctx, start_step=step)
        scheduler.step()
        step += stats.steps
        metric = _val_auc(model, data, cfg, task_id, labels, device)
        ckpt = _checkpoint(model, base, cfg, epoch + 1, metric)
        if best_epoch < 0 or (not math.isnan(metric) and not metric <= best_auc):
            best_epoch, best_auc = epoch + 1, metric
            save_checkpoint(ckpt, out / BEST)
        save_checkpoint(ckpt, out / LAST)
        log.epoch({"epoch": epoch + 1, "train_loss": stats.loss, "val_auc": metric})
    log.close()
    write_run_record(out, {"method": "hyperct-new-task", "task": task_id, "best_epoch": best_epoch,
                           "best_val_auc": best_auc, "runtime_s": round(timer.seconds, 1),
                           "config": config_to_dict(cfg)})
    return best_epoch, best_auc


@torch.no_grad()
def _val_auc(
    model: nn.Module, data: RunData, cfg: TrainConfig, task_id: int, labels: dict[str, float],
    device: torch.device,
) -> float:
    model.eval()
    ys, ps = [], []
    for batch in eval_loader(data.val, data.collate, cfg.runtime.eval_batch_size, DistInfo()):
        batch = to_device(batch, device)
        with autocast(device, cfg.runtime.bf16):
            logits = model.predict_all(batch["image"], batch["image_mask"], tasks=[task_id])
        ps.extend(torch.sigmoid(logits.float())[:, 0].tolist())
        ys.extend(labels[s] for s in batch["scan_id"])
    y, p = np.array(ys), np.array(ps)
    known = y != LABEL_MISSING
    return auc(y[known].astype(int), p[known]) if 0 < y[known].sum() < known.sum() else float("nan")


def _checkpoint(
    model: nn.Module, base: Checkpoint, cfg: TrainConfig, epoch: int, metric: float
) -> Checkpoint:
    config = dict(base.config)
    config["model"] = {**config["model"], "extra_tasks": list(model.config.extra_tasks)}
    config.update(data=dataclasses.asdict(cfg.data), output_dir=cfg.output_dir)
    return Checkpoint(model=trainable_state(model), config=config, tasks=list(model.task_names),
                      spec=base.spec, backbone=base.backbone, epoch=epoch,
                      metrics={"val_auc": metric})
