"""Prediction from a trained run: load the model a checkpoint describes, predict a manifest's
scans from the cache, and write the predictions table (one row per scan x task)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from hyperct.evaluation.predictions import predictions_from_arrays, write_predictions
from hyperct.tasks import TASK_NAMES
from hyperct.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_backbone,
    load_checkpoint,
    load_trainable_state,
)
from hyperct.training.config import TrainConfig, config_from_dict
from hyperct.training.device import resolve_device
from hyperct.training.distributed import DistInfo
from hyperct.training.evaluate import ScanPredictions, predict_batches
from hyperct.training.rng import seed_everything

logger = logging.getLogger(__name__)

EVAL_SPLITS: tuple[str, ...] = ("val", "test")


def load_trained_model(
    checkpoint: str | Path, device: str = "auto", model_overrides: dict[str, Any] | None = None
) -> tuple[nn.Module, Checkpoint]:
    """The model of a run folder (its ``best.pt``) or checkpoint file, ready for inference.

    ``model_overrides`` changes model config fields that do not alter the weights' meaning,
    e.g. where the backbone weights live on this machine; the backbone identity is checked.
    """
    from hyperct.training.model_setup import build_model

    ckpt = load_checkpoint(checkpoint)
    cfg = checkpoint_config(ckpt)
    if model_overrides:
        cfg.model = {**cfg.model, **model_overrides}
    seed_everything(cfg.seed)  # a randomly initialised backbone is then rebuilt identically
    model = build_model(cfg)
    check_backbone(ckpt.backbone, model, str(checkpoint))
    load_trainable_state(model, ckpt.model, str(checkpoint))
    return model.to(resolve_device(device)).eval(), ckpt


def checkpoint_config(ckpt: Checkpoint) -> TrainConfig:
    """The training config stored in a checkpoint, validated again."""
    return config_from_dict(ckpt.config)


def load_weights_into(model: nn.Module, checkpoint: str | Path) -> Checkpoint:
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


def split_dataset(manifest: pd.DataFrame, cache: str | Path, split: str) -> Any:
    """Every cohort's scans of one split, served for evaluation (no augmentation)."""
    from hyperct.data.dataset import CachedScanDataset

    return CachedScanDataset(manifest, cache, split=split, train=False)


def write_split_predictions(
    *,
    predict: Callable[[Any], ScanPredictions],
    data: Any,
    cfg: TrainConfig,
    out: Path,
    write: bool = True,
    splits: Sequence[str] = EVAL_SPLITS,
) -> pd.DataFrame:
    """Predict each split with ``predict(dataset)`` and write one table to ``out``."""
    tables = []
    for split in splits:
        dataset = split_dataset(data.manifest, cfg.run_cache, split)
        if len(dataset):
            preds = predict(dataset)
            tables.append(predictions_table(preds, data.manifest, cfg.method,
                                            Path(cfg.output_dir).name, cfg.task_names))
    table = pd.concat(tables, ignore_index=True)
    if write:
        write_predictions(table, out)
    return table


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
) -> pd.DataFrame:
    """Predict all 25 tasks for every scan of ``manifest`` (or of ``splits``) from ``cache``.

    The cache must have been prepared with the checkpoint's preprocessing spec.
    """
    from hyperct.data.dataset import collate_scans
    from hyperct.data.manifest import load_manifest
    from hyperct.training.data_setup import cache_spec, eval_loader, same_spec

    model, ckpt = load_trained_model(checkpoint, device)
    if not same_spec(cache_spec(cache), ckpt.spec):
        raise CheckpointError(
            f"{cache}: the cache was prepared with another preprocessing spec than "
            f"{checkpoint} was trained with ({cache_spec(cache)} vs {ckpt.spec})"
        )
    table = load_manifest(manifest, check_files=False)
    cfg = checkpoint_config(ckpt)
    method = method or cfg.method
    run = run or Path(cfg.output_dir).name
    dev = next(iter(model.parameters())).device
    tasks = [t for t in ckpt.tasks if t in TASK_NAMES]
    if len(tasks) < len(ckpt.tasks):
        logger.info("tasks outside the catalogue (%s) are not written to the predictions table",
                    [t for t in ckpt.tasks if t not in TASK_NAMES])
    tables = []
    for split in splits or sorted(table["split"].unique()):
        dataset = split_dataset(table, cache, split)
        loader = eval_loader(dataset, collate_scans, batch_size, DistInfo())
        preds = predict_batches(model, loader, dev, bool(cfg.runtime.bf16))
        tables.append(predictions_table(preds, table, method, run, tasks))
    result = pd.concat(tables, ignore_index=True)
    if out is not None:
        write_predictions(result, out)
    return result

