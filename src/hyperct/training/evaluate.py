"""The validation score used for model selection: per-task AUCs of a loader's predictions, or
an objective's validation loss."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from hyperct.config.run import TrainConfig
from hyperct.evaluation.auc import auc
from hyperct.inference.batch import ScanPredictions, to_device
from hyperct.inference.predict import predictions_table, split_dataset
from hyperct.inference.predictions import write_predictions
from hyperct.tasks import LABEL_MISSING, TASK_NAMES
from hyperct.training.objectives import Objective

logger = logging.getLogger(__name__)

EVAL_SPLITS: tuple[str, ...] = ("val", "test")


def task_aucs(preds: ScanPredictions, task_ids: Sequence[int]) -> dict[str, float]:
    """AUC of each given task over its labelled scans; tasks lacking a class are left out."""
    out: dict[str, float] = {}
    for t in task_ids:
        known = preds.labels[:, t] != LABEL_MISSING
        y = preds.labels[known, t]
        if y.size and 0 < y.sum() < y.size:
            out[TASK_NAMES[t]] = auc(y.astype(int), preds.probs[known, t])
    return out


def mean_auc(aucs: dict[str, float]) -> float:
    """Mean of per-task AUCs (NaN when no task had both classes)."""
    return float(np.mean(list(aucs.values()))) if aucs else float("nan")


@torch.no_grad()
def validation_loss(
    objective: Objective, model: nn.Module, batches: Iterable[dict[str, Any]],
    device: torch.device,
) -> tuple[float, int]:
    """The objective's summed validation loss over the batches (eval mode) and over how many
    scans it was taken."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        loss, scans = objective.validation_loss(model, to_device(batch, device))
        total, count = total + loss, count + scans
    model.train(was_training)
    return total, count


def write_split_predictions(
    *,
    predict: Callable[[Any], ScanPredictions],
    manifest: pd.DataFrame,
    cfg: TrainConfig,
    out: Path,
    write: bool = True,
    splits: Sequence[str] = EVAL_SPLITS,
) -> pd.DataFrame:
    """Predict each split with ``predict(dataset)`` and write one table to ``out``."""
    tables = []
    for split in splits:
        dataset = split_dataset(manifest, cfg.run_cache, split)
        if len(dataset):  # type: ignore[arg-type]
            preds = predict(dataset)
            tables.append(predictions_table(preds, manifest, cfg.method,
                                            Path(cfg.output_dir).name, cfg.task_names))
    table = pd.concat(tables, ignore_index=True)
    if write:
        write_predictions(table, out)
    return table
