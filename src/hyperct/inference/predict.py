"""Prediction from a trained run: load the model a checkpoint describes, predict a manifest's
scans from the cache, and build the predictions table (one row per scan x task)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from torch.utils.data import DataLoader, Dataset

from hyperct.config.run import ConfigError, TrainConfig, config_from_dict
from hyperct.data.shard import Shard
from hyperct.inference.batch import ScanPredictions, predict_batches
from hyperct.inference.checkpoint import (
    MODEL_ASSETS,
    Checkpoint,
    CheckpointError,
    check_backbone,
    load_checkpoint,
    load_trainable_state,
)
from hyperct.inference.device import on_device, resolve_device
from hyperct.inference.distributed import all_gather_objects, process_group
from hyperct.inference.heap import log_allocator
from hyperct.inference.predictions import (
    predictions_from_arrays,
    sort_predictions,
    write_predictions,
)
from hyperct.inference.rng import seed_everything
from hyperct.inference.spec import cache_spec, checkpoint_spec, same_spec
from hyperct.inference.scan_outputs import OutputFolder
from hyperct.models.interface import Capability, ScreeningModel, SegmentingModel, require
from hyperct.tasks import TASK_NAMES

if TYPE_CHECKING:
    from hyperct.data.cache import ScanCache

logger = logging.getLogger(__name__)


def load_trained_model(
    checkpoint: str | Path, device: str = "auto", model_overrides: dict[str, Any] | None = None
) -> tuple[ScreeningModel, Checkpoint]:
    """The model of a run folder (its ``best.pt``) or checkpoint file, ready for inference.

    ``model_overrides`` changes model config fields that do not alter the weights' meaning,
    e.g. where the backbone weights live on this machine; the backbone identity is checked.
    The checkpoint's config and spec are validated first, so a corrupt one names the file.
    """
    from hyperct.models.build import build_model

    ckpt = load_checkpoint(checkpoint)
    cfg = checkpoint_config(ckpt, checkpoint)
    checkpoint_spec(ckpt, checkpoint)
    if model_overrides:
        _override_model(cfg, model_overrides)
    target = resolve_device(device)
    if target.type == "cpu":
        log_allocator()
    seed_everything(cfg.seed)  # a randomly initialised backbone is then rebuilt identically
    model = build_model(cfg, ckpt.extra.get(MODEL_ASSETS))
    check_backbone(ckpt.backbone, model, str(checkpoint))
    load_trainable_state(model, ckpt.model, str(checkpoint))
    return on_device(model, target).eval(), ckpt  # type: ignore[attr-defined]


def _override_model(cfg: TrainConfig, overrides: dict[str, Any]) -> None:
    """Set model config fields in the section the run's model family reads them from."""
    from hyperct.models.registry import family_of

    if family_of(cfg.method).section == "unict":
        cfg.unict = {**cfg.unict, **overrides}
    else:
        cfg.model = {**cfg.model, **overrides}


def checkpoint_config(ckpt: Checkpoint, source: str | Path) -> TrainConfig:
    """The training config stored in a checkpoint, validated again; ``source`` names the file."""
    try:
        return config_from_dict(ckpt.config)
    except ConfigError as err:
        raise CheckpointError(f"{source}: the checkpoint's config is not valid ({err})") from None


def load_weights_into(model: ScreeningModel, checkpoint: str | Path) -> Checkpoint:
    """Put a checkpoint's trainable weights into an existing model of the same backbone."""
    ckpt = load_checkpoint(checkpoint)
    check_backbone(ckpt.backbone, model, str(checkpoint))
    load_trainable_state(model, ckpt.model, str(checkpoint))
    return ckpt


def predictions_table(
    preds: ScanPredictions,
    manifest: pd.DataFrame,
    method: str,
    run: str,
    tasks: Sequence[str] = TASK_NAMES,
) -> pd.DataFrame:
    """The long predictions table of ``preds`` for ``tasks``, cohort and split from the manifest."""
    rows = manifest.set_index("scan_id").loc[preds.scan_ids]
    ids = [TASK_NAMES.index(t) for t in tasks]
    return predictions_from_arrays(
        scan_ids=preds.scan_ids, cohorts=rows["cohort"].astype(str).tolist(),
        splits=rows["split"].astype(str).tolist(), labels=preds.labels[:, ids].astype(int),
        probs=preds.probs[:, ids], method=method, run=run, task_names=list(tasks),
    )


def split_dataset(manifest: pd.DataFrame, cache: str | Path, split: str) -> Dataset:
    """Every cohort's scans of one split, served for evaluation (no augmentation)."""
    from hyperct.data.dataset import CachedScanDataset

    return CachedScanDataset(manifest, cache, split=split, train=False)


@dataclass
class ManifestPrediction:
    """The predictions table of a manifest, the scans that could not be predicted and why.

    Under ``torchrun`` every rank holds the whole table and all failures; ``main`` is rank 0,
    the one that wrote the table and reports.
    """

    table: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)
    main: bool = True
    outputs: list[Path] = field(default_factory=list)


def predict_manifest(
    *,
    checkpoint: str | Path,
    manifest: str | Path,
    cache: str | Path,
    out: str | Path | None = None,
    splits: Sequence[str] | None = None,
    batch_size: int = 4,
    device: str = "auto",
    method: str | None = None,
    run: str | None = None,
    shard: Shard = Shard(),
    outputs: str | Path | None = None,
) -> ManifestPrediction:
    """Predict all 25 tasks for every scan of ``manifest`` (or of ``splits``) from ``cache``.

    The cache must have been prepared with the checkpoint's preprocessing spec. A scan whose
    cache entry is missing or unreadable is a failure of that scan; the others are predicted.
    ``shard`` predicts only that shard's scans (:mod:`hyperct.data.shard`); under ``torchrun``
    each rank predicts its part of it and rank 0 writes the one table of all ranks.

    A segmenting model (UniCT) also writes its masks, reports and fusion attention into
    ``outputs`` (default: the folder of ``out``; see :mod:`hyperct.inference.scan_outputs`).
    """
    if outputs is None and out is not None:
        outputs = Path(out).parent
    with process_group(resolve_device(device)) as info:
        local, folder = _predict_part(
            checkpoint=checkpoint, manifest=manifest, cache=cache, splits=splits,
            batch_size=batch_size, device=str(resolve_device(device, info.local_rank)),
            method=method, run=run, part=shard.split(info.world_size, info.rank),
            outputs=outputs,
        )
        parts = all_gather_objects(local, info)
    tables = [p.table for p in parts]  # type: ignore[attr-defined]
    failed = {sid: err for p in parts for sid, err in p.failed.items()}  # type: ignore[attr-defined]
    result = ManifestPrediction(sort_predictions(pd.concat(tables, ignore_index=True)), failed,
                                info.is_main)
    if out is not None and info.is_main:
        write_predictions(result.table, out)
    if folder is not None and info.is_main:
        result.outputs = folder.write_tables(
            [p.reports for p in parts], [p.attention for p in parts]  # type: ignore[attr-defined]
        )
    return result


@dataclass
class _Part:
    """What one process sends the others: its predictions table and failures, and a
    segmenting model's reports and attention rows (its masks are written already)."""

    table: pd.DataFrame
    failed: dict[str, str]
    reports: pd.DataFrame | None = None
    attention: pd.DataFrame | None = None


def _predict_part(
    *,
    checkpoint: str | Path,
    manifest: str | Path,
    cache: str | Path,
    splits: Sequence[str] | None,
    batch_size: int,
    device: str,
    method: str | None,
    run: str | None,
    part: Shard,
    outputs: str | Path | None,
) -> tuple[_Part, OutputFolder | None]:
    """This process's scans of the manifest: those of ``part`` that the cache can serve, and
    the folder a segmenting model's outputs went to."""
    from hyperct.data.cache import ScanCache
    from hyperct.data.dataset import collate_scans
    from hyperct.data.manifest import load_manifest

    model, ckpt = load_trained_model(checkpoint, device)
    if not model.task_names:
        raise CheckpointError(
            f"{checkpoint}: this run's model has no tasks to predict (it writes reports: see "
            "reports.csv in the run folder, or `hyperct predict SCAN --checkpoint RUN`)"
        )
    if not same_spec(cache_spec(cache), ckpt.spec):
        raise CheckpointError(
            f"{cache}: the cache was prepared with another preprocessing spec than "
            f"{checkpoint} was trained with ({cache_spec(cache)} vs {ckpt.spec})"
        )
    table = load_manifest(manifest, check_files=False)
    cfg = checkpoint_config(ckpt, checkpoint)
    method = method or cfg.method
    run = run or Path(cfg.output_dir).name
    dev = next(iter(model.parameters())).device  # type: ignore[attr-defined]
    tasks = [t for t in ckpt.tasks if t in TASK_NAMES]
    if len(tasks) < len(ckpt.tasks):
        logger.info("tasks outside the catalogue (%s) are not written to the predictions table",
                    [t for t in ckpt.tasks if t not in TASK_NAMES])
    wanted = part.select(table)
    if splits:
        wanted = wanted[wanted["split"].isin(list(splits))]
    scans = ScanCache(cache)
    failed = {sid: why for sid in wanted["scan_id"] if (why := _cache_problem(scans, sid))}
    for sid, why in sorted(failed.items()):
        logger.error("scan %s failed: %s", sid, why)
    usable = wanted[~wanted["scan_id"].isin(list(failed))]
    folder = _output_folder(model, outputs)
    bf16 = bool(cfg.runtime.bf16)
    tables = [predictions_table(ScanPredictions.empty(), table, method, run, tasks)]
    for split in sorted(usable["split"].unique()):
        loader = DataLoader(split_dataset(usable, cache, split), batch_size=batch_size,
                            shuffle=False, collate_fn=collate_scans)
        if folder is None:
            preds = predict_batches(model, loader, dev, bf16)
        else:
            preds = folder.predict(loader, scans.load_grid_record, bf16)
        tables.append(predictions_table(preds, table, method, run, tasks))
    part_table = pd.concat(tables, ignore_index=True)
    if folder is None:
        return _Part(part_table, failed), None
    return _Part(part_table, failed, *folder.tables()), folder


def _output_folder(model: ScreeningModel, outputs: str | Path | None) -> OutputFolder | None:
    """Where a segmenting model's outputs go; None for another model (or without a folder)."""
    if Capability.SEGMENTATION not in model.capabilities:
        return None
    if outputs is None:
        logger.warning("the masks and reports of this run are not written: give an output file "
                       "(--out), they go into its folder")
        return None
    return OutputFolder(outputs, require(model, Capability.SEGMENTATION, SegmentingModel, "masks"))


def _cache_problem(cache: ScanCache, scan_id: str) -> str | None:
    """Why the cache cannot serve ``scan_id``, or None when it can."""
    if not cache.has(scan_id):
        return (f"not in the cache {cache.root} (run `hyperct prepare`; its errors.jsonl "
                "says why a scan failed there)")
    try:
        cache.load(scan_id)
    except (OSError, ValueError) as exc:
        return f"{cache.image_path(scan_id)}: unreadable cache entry ({exc})"
    return None
