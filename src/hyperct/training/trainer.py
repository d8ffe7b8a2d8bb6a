"""Train one model from a :class:`TrainConfig`: epochs, validation, model selection, checkpoints.

Run folder: ``config.yaml`` (resolved), ``last.pt`` (resume), ``best.pt`` (best mean validation
AUC; lowest validation loss when the objective selects by loss: a model without tasks that
writes reports, UniCT without classification),
``history.csv``, ``tb/`` (TensorBoard), ``predictions.csv`` (best model on val and test),
``reports.csv`` (the generated reports of val and test, report models only),
``segmentation_findings.csv`` (a segmenting model's val and test masks scored against the
cache's finding masks: :mod:`hyperct.training.split_segmentation`), ``run.json``
(versions, git SHA, device, seeds, runtime). Works alone or under ``torchrun``.

Everything that can refuse a run (device, data, every split's scans in the cache, a resume whose
config changed) is checked before the run folder is written. The epoch loop
(:func:`run_epochs`), its model selection and :func:`make_scheduler` are shared with
``--new-task`` (:mod:`hyperct.training.new_task`).

>>> from hyperct.training import load_config, train  # doctest: +SKIP
>>> result = train(load_config("demo"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from hyperct.config.files import save_config
from hyperct.config.run import OptimConfig, TrainConfig, config_to_dict
from hyperct.evaluation.segmentation_files import FINDINGS_CSV
from hyperct.inference.batch import ScanPredictions, predict_batches
from hyperct.inference.checkpoint import (
    BEST,
    LAST,
    MODEL_ASSETS,
    load_checkpoint,
    save_checkpoint,
    weights_digest,
)
from hyperct.inference.device import on_device, resolve_device
from hyperct.inference.heap import log_allocator, return_freed_memory
from hyperct.inference.predict import load_weights_into
from hyperct.inference.rng import seed_everything
from hyperct.inference.reports import REPORTS, generate_batches, write_reports
from hyperct.io.atomic import write_csv_atomic
from hyperct.models.build import SEG_CLASSES, build_model
from hyperct.models.interface import (
    Capability,
    ReportGeneratingModel,
    SegmentingModel,
    require,
)
from hyperct.models.registry import family_of
from hyperct.training.data_setup import RunData, eval_loader, load_run_data, train_labels, train_loader
from hyperct.training.distributed import (
    DistInfo,
    all_gather_objects,
    average_buffers,
    barrier,
    cleanup,
    init_distributed,
)
from hyperct.training.evaluate import (
    EVAL_SPLITS,
    mean_auc,
    task_aucs,
    validation_loss,
    write_split_predictions,
)
from hyperct.training.loop import LoopContext, train_one_epoch
from hyperct.training.objective_setup import build_objective
from hyperct.training.objectives import AuxLoss
from hyperct.training.report_setup import NoReportTextError, report_assets
from hyperct.training.run_log import RunLogger, Timer, write_run_record
from hyperct.training.split_segmentation import segment_split
from hyperct.training.state import TrainState, restore, to_checkpoint

logger = logging.getLogger(__name__)



@dataclass
class Validation:
    """One validation: the selection score (higher is better), the history column it is logged
    as (``value``, which may be lower-is-better) and per-part columns (e.g. AUC per task)."""

    score: float
    column: str
    value: float
    details: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_aucs(cls, aucs: dict[str, float]) -> Validation:
        """Selection by the mean validation AUC over the tasks that had both classes."""
        metric = mean_auc(aucs)
        return cls(metric, "val_mean_auc", metric, {f"val_auc/{k}": v for k, v in aucs.items()})

    @classmethod
    def from_loss(cls, loss: float) -> Validation:
        """Selection by the lowest validation loss."""
        return cls(-loss, "val_loss", loss)


#: Validation of the model in its current state.
Validate = Callable[[], Validation]


class RunExistsError(FileExistsError):
    """The run folder already holds a run and ``resume`` was not asked for."""


@dataclass
class RunResult:
    """Where a run is and how it ended: ``best_metric`` is the best epoch's ``selection``
    (the mean validation AUC, or the validation loss when the objective selects by loss)."""

    run_dir: Path
    best_epoch: int
    best_metric: float
    epochs: int
    selection: str = "val mean AUC"


@dataclass
class Session:
    """Process-level facts of a run whose folder has been started."""

    cfg: TrainConfig
    run_dir: Path
    device: torch.device
    dist: DistInfo
    log: RunLogger


def train_single(
    cfg: TrainConfig, *, resume: bool = False, aux_losses: Sequence[AuxLoss] = ()
) -> RunResult:
    """Train one model (for ``stl``: one model on ``cfg.tasks``) into ``cfg.output_dir``."""
    timer = Timer()
    run_dir = check_run_dir(cfg, resume)
    dist = init_distributed(resolve_device(cfg.runtime.device))
    try:
        device = resolve_device(cfg.runtime.device, dist.local_rank)
        if device.type == "cpu":
            log_allocator()
            if cfg.runtime.return_freed_memory:
                return_freed_memory()
        data = load_run_data(cfg)
        assets = _model_assets(cfg, data, run_dir / LAST if resume else None)
        state = _build_state(cfg, device, data, aux_losses, assets)
        if resume:
            restore(state, run_dir / LAST)
        session = start_session(cfg, run_dir, device, dist)
        try:
            if resume:
                session.log.history(state.history)
            run_epochs(state, session, data, lambda: _validate(state, session, data))
            digests = all_gather_objects(weights_digest(state.model), session.dist)
            _finish(state, session, data, timer, digests)
        finally:
            session.log.close()
    finally:
        cleanup(dist)
    if state.objective.selects_by_loss:
        return RunResult(run_dir, state.best_epoch, -state.best_metric, state.epoch, "val loss")
    return RunResult(run_dir, state.best_epoch, state.best_metric, state.epoch)


def check_run_dir(cfg: TrainConfig, resume: bool) -> Path:
    """The run folder, refusing a resume without ``last.pt`` and a new run over an old one."""
    run_dir = Path(cfg.output_dir)
    has_run = (run_dir / LAST).is_file()
    if resume and not has_run:
        raise FileNotFoundError(f"--resume: no {LAST} in {run_dir} to resume from")
    if has_run and not resume:
        raise RunExistsError(f"{run_dir} already holds a run; resume it or choose another output_dir")
    return run_dir


def start_session(cfg: TrainConfig, run_dir: Path, device: torch.device, dist: DistInfo) -> Session:
    """Create the run folder and write ``config.yaml``: only once the run is known to start."""
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    barrier(dist)
    logger.info("run %s: method %s on %s", run_dir, cfg.method, device)
    return Session(cfg, run_dir, device, dist, RunLogger(run_dir, enabled=dist.is_main))


def make_scheduler(
    optim: OptimConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch learning-rate schedule ``optim.scheduler`` names."""
    if optim.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=optim.epochs)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=optim.step_size, gamma=optim.gamma)


def _model_assets(cfg: TrainConfig, data: RunData, resume_from: Path | None) -> dict[str, Any]:
    """What the model is built from besides the config (a resume reuses what ``last.pt``
    saved): a report family's tokenizer, trained on the training reports; UniCT's finding-mask
    channels of the cache, and its tokenizer when the report head is supervised; others none."""
    section = family_of(cfg.method).section
    if section not in ("report", "unict"):
        return {}
    if resume_from is not None:
        return dict(load_checkpoint(resume_from).extra.get(MODEL_ASSETS) or {})
    if section == "report":
        return report_assets(cfg, data.manifest)
    assets: dict[str, Any] = {SEG_CLASSES: list(data.train.finding_channels)}
    if cfg.unict_config().supervise_report:
        try:
            assets |= report_assets(cfg, data.manifest)
        except NoReportTextError as err:
            raise NoReportTextError(
                f"unict.supervise_report: {err}; set unict.supervise_report=false to train "
                "UniCT without its report head"
            ) from None
    return assets


def _build_state(
    cfg: TrainConfig, device: torch.device, data: RunData, aux_losses: Sequence[AuxLoss],
    assets: dict[str, Any],
) -> TrainState:
    seed_everything(cfg.seed)
    model = on_device(build_model(cfg, assets), device)
    labels = train_labels(data.manifest, cfg.data.train_cohort)
    objective = build_objective(cfg, model, device, labels, aux_losses)
    params = [p for p in model.parameters() if p.requires_grad] + objective.parameters()
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    logger.info("%d trainable parameters", sum(p.numel() for p in params))
    return TrainState(cfg, model, objective, optimizer, make_scheduler(cfg.optim, optimizer),
                      data.spec, assets=assets)


def run_epochs(state: TrainState, session: Session, data: RunData, validate: Validate) -> None:
    """Train until ``optim.epochs`` or the first ``optim.max_*`` limit (the epoch that reaches
    it ends there, see :func:`remaining_budget`); after each epoch validate, keep the best
    validation score as ``best.pt``, and write ``last.pt`` (which holds the history) then
    ``history.csv``."""
    cfg = state.cfg
    ctx = LoopContext(
        device=session.device, params=state.params(), grad_accum=cfg.optim.grad_accum,
        max_grad_norm=cfg.optim.max_grad_norm, dist=session.dist, progress=cfg.runtime.progress,
        log_step=session.log.step,
    )
    while state.epoch < cfg.optim.epochs:
        limits = remaining_budget(cfg.optim, state.history)
        if limits is not None and min(limits.values()) <= 0:
            break
        timer = Timer()
        lr = state.optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(
            state.model, train_loader(data, cfg, session.dist, state.epoch), state.objective,
            state.optimizer, ctx, start_step=state.step, limits=limits,
        )
        average_buffers(state.model, session.dist)
        train_seconds = timer.seconds
        state.objective.epoch_end()
        state.scheduler.step()
        state.epoch, state.step = state.epoch + 1, state.step + stats.steps
        val = validate()
        improved = state.is_better(val.score)
        if improved:
            state.best_metric, state.best_epoch = val.score, state.epoch
        row = {"epoch": state.epoch, "lr": lr, "train_loss": stats.loss, val.column: val.value,
               "steps": stats.steps, "samples": stats.samples, "labels": stats.labels,
               "backbone_passes": stats.backbone_passes,
               "train_seconds": round(train_seconds, 3), "seconds": round(timer.seconds, 2),
               **{f"train_{part}": value for part, value in stats.parts.items()}}
        _save(state, session, row | val.details, improved)
        logger.info("epoch %d: train loss %.4f, %s %.4f%s", state.epoch, stats.loss,
                    val.column, val.value, " (best)" if improved else "")


#: The count (history column and :class:`~hyperct.training.loop.EpochStats` field) each
#: ``optim.max_*`` limit bounds.
LIMITS = {"max_steps": "steps", "max_label_exposures": "labels",
          "max_backbone_passes": "backbone_passes"}


def remaining_budget(optim: OptimConfig, history: Sequence[dict[str, Any]]) -> dict[str, int] | None:
    """What the run may still spend of each ``optim.max_*`` limit set, given the epochs done
    (their history rows); None when no limit is set.

    Counts are this process's: under DDP each rank counts its own share.
    """
    done = spent(history)
    limits = {count: getattr(optim, name) - done[count] for name, count in LIMITS.items()
              if getattr(optim, name) is not None}
    return limits or None


def spent(history: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Steps, labels and backbone passes the epochs of ``history`` spent in all."""
    return {count: sum(int(float(row.get(count) or 0)) for row in history)
            for count in LIMITS.values()}


def _save(state: TrainState, session: Session, row: dict[str, float], improved: bool) -> None:
    state.history.append(row)
    if session.dist.is_main:
        ckpt = to_checkpoint(state, row)
        if improved:
            save_checkpoint(ckpt, session.run_dir / BEST)
        save_checkpoint(ckpt, session.run_dir / LAST)
        session.log.epoch(row)
        session.log.history(state.history)
    barrier(session.dist)


def _validate(state: TrainState, session: Session, data: RunData) -> Validation:
    """Mean validation AUC; the objective's validation loss when it selects by loss (a report
    model without tasks, UniCT without classification)."""
    from hyperct.tasks import TASK_NAMES

    if state.objective.selects_by_loss:
        loader = _loader(state, session, data.val, data)
        parts = all_gather_objects(
            validation_loss(state.objective, state.model, loader, session.device),  # type: ignore[arg-type]
            session.dist,
        )
        total, count = (sum(p[i] for p in parts) for i in (0, 1))  # type: ignore[index]
        return Validation.from_loss(total / count if count else math.nan)
    ids = [TASK_NAMES.index(t) for t in state.cfg.task_names]
    return Validation.from_aucs(task_aucs(_predict(state, session, data.val, data), ids))


def _write_split_segmentation(state: TrainState, session: Session, data: RunData) -> list[str]:
    """One pass of the best segmenting model over val and test: ``segmentation_findings.csv``
    (the scans with a finding mask, scored on the model grid; none when no such scan) and,
    with a report head, ``reports.csv``. Returns the names of the files written."""
    import pandas as pd

    from hyperct.inference.predict import split_dataset

    model = require(state.model, Capability.SEGMENTATION, SegmentingModel,
                    f"the masks of method {state.cfg.method!r}")
    manifest = data.manifest.assign(scan_id=data.manifest["scan_id"].astype(str))
    cohorts = manifest.drop_duplicates("scan_id").set_index("scan_id")["cohort"]
    findings, reports = [], []
    for split in EVAL_SPLITS:
        dataset = split_dataset(data.manifest, state.cfg.run_cache, split)
        if not len(dataset):  # type: ignore[arg-type]
            continue
        part = segment_split(model, _loader(state, session, dataset, data), state.cfg.runtime.bf16)
        for scored in all_gather_objects(part, session.dist):
            table = scored.findings  # type: ignore[attr-defined]
            findings.append(table.assign(split=split, cohort=table["scan_id"].map(cohorts)))
            if scored.reports is not None:  # type: ignore[attr-defined]
                reports.append(scored.reports)  # type: ignore[attr-defined]
    written = []
    table = pd.concat(findings, ignore_index=True) if findings else pd.DataFrame()
    if len(table):
        if session.dist.is_main:
            write_csv_atomic(table, session.run_dir / FINDINGS_CSV, float_format="%.6g")
        written.append(FINDINGS_CSV)
    else:
        logger.info("no val or test scan has a finding mask; the masks are not scored")
    if reports:
        if session.dist.is_main:
            write_reports(pd.concat(reports, ignore_index=True).drop_duplicates("scan_id"),
                          session.run_dir / REPORTS)
        written.append(REPORTS)
    return written


def _report_writer(state: TrainState) -> ReportGeneratingModel:
    return require(state.model, Capability.REPORT_GENERATION, ReportGeneratingModel,
                   f"the reports of method {state.cfg.method!r}")


def _loader(state: TrainState, session: Session, dataset: Dataset, data: RunData) -> Any:
    return eval_loader(dataset, data.collate, state.cfg.runtime.eval_batch_size, session.dist,
                       state.cfg.data.num_workers)


def _predict(state: TrainState, session: Session, dataset: Dataset, data: RunData) -> ScanPredictions:
    loader = _loader(state, session, dataset, data)
    part = predict_batches(state.model, loader, session.device, state.cfg.runtime.bf16)
    return ScanPredictions.concat(all_gather_objects(part, session.dist))  # type: ignore[arg-type]


def _finish(
    state: TrainState, session: Session, data: RunData, timer: Timer, digests: list[object]
) -> None:
    """Predict val and test with the best weights, write the predictions (a model with tasks),
    the generated reports (a model that writes reports), a segmenting model's mask scores and
    the run record.

    ``digests`` are each rank's final-weights hash: under DDP they must all be equal.
    """
    load_weights_into(state.model, session.run_dir / BEST)
    outputs = ["best.pt", "last.pt", "history.csv", "tb/"]
    if state.model.task_names:
        write_split_predictions(
            predict=lambda ds: _predict(state, session, ds, data), manifest=data.manifest,
            cfg=state.cfg, out=session.run_dir / "predictions.csv", write=session.dist.is_main,
        )
        outputs.append("predictions.csv")
    if Capability.SEGMENTATION in state.model.capabilities:
        outputs += _write_split_segmentation(state, session, data)
    elif Capability.REPORT_GENERATION in state.model.capabilities:
        _write_split_reports(state, session, data)
        outputs.append(REPORTS)
    selected = ("best_val_loss", -state.best_metric) if state.objective.selects_by_loss else (
        "best_val_mean_auc", state.best_metric)
    if session.dist.is_main:
        write_run_record(session.run_dir, {
            "method": state.cfg.method, "device": str(session.device),
            "world_size": session.dist.world_size, "seed": state.cfg.seed,
            "epochs": state.epoch, "best_epoch": state.best_epoch, **spent(state.history),
            selected[0]: selected[1], "runtime_s": round(timer.seconds, 1),
            "rank_weight_sha256": digests, "config": config_to_dict(state.cfg), "outputs": outputs,
        })
    barrier(session.dist)


def _write_split_reports(state: TrainState, session: Session, data: RunData) -> None:
    """``reports.csv``: the best model's report for every val and test scan."""
    import pandas as pd

    from hyperct.inference.predict import split_dataset

    writer = _report_writer(state)
    tables = []
    for split in EVAL_SPLITS:
        dataset = split_dataset(data.manifest, state.cfg.run_cache, split)
        if len(dataset):  # type: ignore[arg-type]
            part = generate_batches(writer, _loader(state, session, dataset, data),
                                    session.device, state.cfg.runtime.bf16)
            tables.extend(all_gather_objects(part, session.dist))
    if session.dist.is_main and tables:
        table = pd.concat(tables, ignore_index=True).drop_duplicates("scan_id")
        write_reports(table, session.run_dir / REPORTS)
