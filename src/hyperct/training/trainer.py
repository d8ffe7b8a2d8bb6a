"""Train one model from a :class:`TrainConfig`: epochs, validation, model selection, checkpoints.

Run folder: ``config.yaml`` (resolved), ``last.pt`` (resume), ``best.pt`` (best mean validation
AUC), ``history.csv``, ``tb/`` (TensorBoard), ``predictions.csv`` (best model on val and test),
``run.json`` (versions, git SHA, device, seeds, runtime). Works alone or under ``torchrun``.

>>> from hyperct.training import load_config, train  # doctest: +SKIP
>>> result = train(load_config("demo"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from hyperct.training.checkpoint import BEST, LAST, save_checkpoint, weights_digest
from hyperct.training.config import TrainConfig, config_to_dict
from hyperct.training.config_io import save_config
from hyperct.training.data_setup import RunData, eval_loader, load_run_data, train_labels, train_loader
from hyperct.training.device import resolve_device
from hyperct.training.distributed import (
    DistInfo,
    all_gather_objects,
    average_buffers,
    barrier,
    cleanup,
    init_distributed,
)
from hyperct.training.evaluate import ScanPredictions, mean_auc, predict_batches, task_aucs
from hyperct.training.loop import LoopContext, train_one_epoch
from hyperct.training.model_setup import build_model
from hyperct.training.objective_setup import build_objective
from hyperct.training.objectives import AuxLoss
from hyperct.training.rng import seed_everything
from hyperct.training.run_log import RunLogger, Timer, write_run_record
from hyperct.training.state import TrainState, restore, to_checkpoint

logger = logging.getLogger(__name__)


class RunExistsError(FileExistsError):
    """The run folder already holds a run and ``resume`` was not asked for."""


@dataclass
class RunResult:
    """Where a run is and how it ended."""

    run_dir: Path
    best_epoch: int
    best_metric: float
    epochs: int


@dataclass
class Session:
    """Process-level facts of a run."""

    cfg: TrainConfig
    run_dir: Path
    device: torch.device
    dist: DistInfo
    log: RunLogger


def train(cfg: TrainConfig, *, resume: bool = False, aux_losses: Sequence[AuxLoss] = ()) -> RunResult:
    """Train ``cfg`` (or resume it from ``last.pt``) and write the run folder.

    ``aux_losses`` are extra loss terms (model, batch) -> scalar added by the objective.
    STL (``method: stl``) trains one model per task; see :func:`hyperct.training.stl.train_stl`.
    """
    if cfg.method == "stl":
        from hyperct.training.stl import train_stl

        return train_stl(cfg, resume=resume, aux_losses=aux_losses)
    return train_single(cfg, resume=resume, aux_losses=aux_losses)


def train_single(
    cfg: TrainConfig, *, resume: bool = False, aux_losses: Sequence[AuxLoss] = ()
) -> RunResult:
    """Train one model (for ``stl``: one model on ``cfg.tasks``) into ``cfg.output_dir``."""
    timer = Timer()
    session = _open_session(cfg, resume)
    try:
        data = load_run_data(cfg)
        state = _build_state(cfg, session, data, aux_losses)
        if resume:
            restore(state, session.run_dir / LAST)
        _run_epochs(state, session, data)
        digests = all_gather_objects(weights_digest(state.model), session.dist)
        _finish(state, session, data, timer, digests)
    finally:
        session.log.close()
        cleanup(session.dist)
    return RunResult(session.run_dir, state.best_epoch, state.best_metric, state.epoch)


def _open_session(cfg: TrainConfig, resume: bool) -> Session:
    dist = init_distributed(resolve_device(cfg.runtime.device))
    device = resolve_device(cfg.runtime.device, dist.local_rank)
    run_dir = Path(cfg.output_dir)
    has_run = (run_dir / LAST).is_file()
    if resume and not has_run:
        raise FileNotFoundError(f"--resume: no {LAST} in {run_dir} to resume from")
    if has_run and not resume:
        raise RunExistsError(f"{run_dir} already holds a run; resume it or choose another output_dir")
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    barrier(dist)
    logger.info("run %s: method %s on %s", run_dir, cfg.method, device)
    return Session(cfg, run_dir, device, dist, RunLogger(run_dir, enabled=dist.is_main))


def _build_state(
    cfg: TrainConfig, session: Session, data: RunData, aux_losses: Sequence[AuxLoss]
) -> TrainState:
    seed_everything(cfg.seed)
    model = build_model(cfg).to(session.device)
    labels = train_labels(data.manifest, cfg.data.train_cohort)
    objective = build_objective(cfg, model, session.device, labels, aux_losses)
    params = [p for p in model.parameters() if p.requires_grad] + objective.parameters()
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scheduler = _scheduler(cfg, optimizer)
    logger.info("%d trainable parameters", sum(p.numel() for p in params))
    return TrainState(cfg, model, objective, optimizer, scheduler, data.spec)


def _scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch learning-rate schedule ``optim.scheduler`` names."""
    if cfg.optim.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.optim.epochs)
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=cfg.optim.step_size, gamma=cfg.optim.gamma
    )


def _run_epochs(state: TrainState, session: Session, data: RunData) -> None:
    cfg = state.cfg
    ctx = LoopContext(
        device=session.device, params=state.params(), grad_accum=cfg.optim.grad_accum,
        max_grad_norm=cfg.optim.max_grad_norm, dist=session.dist, progress=cfg.runtime.progress,
        log_step=session.log.step,
    )
    while state.epoch < cfg.optim.epochs:
        timer = Timer()
        lr = state.optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(
            state.model, train_loader(data, cfg, session.dist, state.epoch), state.objective,
            state.optimizer, ctx, start_step=state.step,
        )
        average_buffers(state.model, session.dist)
        train_seconds = timer.seconds
        state.objective.epoch_end()
        state.scheduler.step()
        state.epoch, state.step = state.epoch + 1, state.step + stats.steps
        aucs = task_aucs(_predict(state, session, data.val, data), _task_ids(cfg))
        metric = mean_auc(aucs)
        improved = state.is_better(metric)
        if improved:
            state.best_metric, state.best_epoch = metric, state.epoch
        row = {"epoch": state.epoch, "lr": lr, "train_loss": stats.loss, "val_mean_auc": metric,
               "steps": stats.steps, "samples": stats.samples,
               "train_seconds": round(train_seconds, 3), "seconds": round(timer.seconds, 2)}
        _save(state, session, row | {f"val_auc/{k}": v for k, v in aucs.items()}, improved)
        logger.info("epoch %d: train loss %.4f, val mean AUC %.4f%s", state.epoch, stats.loss,
                    metric, " (best)" if improved else "")


def _save(state: TrainState, session: Session, row: dict[str, float], improved: bool) -> None:
    if session.dist.is_main:
        ckpt = to_checkpoint(state, row)
        if improved:
            save_checkpoint(ckpt, session.run_dir / BEST)
        save_checkpoint(ckpt, session.run_dir / LAST)
        session.log.epoch(row)
    barrier(session.dist)


def _predict(state: TrainState, session: Session, dataset: Dataset, data: RunData) -> ScanPredictions:
    loader = eval_loader(dataset, data.collate, state.cfg.runtime.eval_batch_size, session.dist,
                         state.cfg.data.num_workers)
    part = predict_batches(state.model, loader, session.device, state.cfg.runtime.bf16)
    return ScanPredictions.concat(all_gather_objects(part, session.dist))  # type: ignore[arg-type]


def _task_ids(cfg: TrainConfig) -> list[int]:
    from hyperct.tasks import TASK_NAMES

    return [TASK_NAMES.index(t) for t in cfg.task_names]


def _finish(
    state: TrainState, session: Session, data: RunData, timer: Timer, digests: list[object]
) -> None:
    """Predict val and test with the best weights, write the predictions and the run record.

    ``digests`` are each rank's final-weights hash: under DDP they must all be equal.
    """
    from hyperct.training.predict import load_weights_into, write_split_predictions

    load_weights_into(state.model, session.run_dir / BEST)
    write_split_predictions(
        predict=lambda ds: _predict(state, session, ds, data), data=data, cfg=state.cfg,
        out=session.run_dir / "predictions.csv", write=session.dist.is_main,
    )
    if session.dist.is_main:
        write_run_record(session.run_dir, {
            "method": state.cfg.method, "device": str(session.device),
            "world_size": session.dist.world_size, "seed": state.cfg.seed,
            "epochs": state.epoch, "best_epoch": state.best_epoch,
            "best_val_mean_auc": state.best_metric, "runtime_s": round(timer.seconds, 1),
            "rank_weight_sha256": digests,
            "config": config_to_dict(state.cfg), "outputs": ["best.pt", "last.pt", "predictions.csv",
                                             "history.csv", "tb/"],
        })
    barrier(session.dist)
