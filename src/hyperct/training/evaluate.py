"""All-task prediction over a loader, and the validation score used for model selection."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hyperct.evaluation.auc import auc
from hyperct.tasks import LABEL_MISSING, TASK_NAMES
from hyperct.training.batch import predict_logits, to_device
from hyperct.training.device import autocast

logger = logging.getLogger(__name__)


@dataclass
class ScanPredictions:
    """Per-scan labels and probabilities of all 25 tasks, rows in ``scan_ids`` order."""

    scan_ids: list[str]
    labels: np.ndarray
    probs: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[ScanPredictions]) -> ScanPredictions:
        """Join parts (e.g. one per rank), dropping repeated scans, sorted by scan id."""
        seen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for part in parts:
            for i, sid in enumerate(part.scan_ids):
                seen.setdefault(sid, (part.labels[i], part.probs[i]))
        ids = sorted(seen)
        if not ids:
            return cls([], parts[0].labels[:0], parts[0].probs[:0])
        labels = np.stack([seen[s][0] for s in ids])
        probs = np.stack([seen[s][1] for s in ids])
        return cls(ids, labels, probs)


@torch.no_grad()
def predict_batches(
    model: nn.Module, batches: Iterable[dict[str, Any]], device: torch.device, bf16: bool
) -> ScanPredictions:
    """Sigmoid probabilities of all tasks for every scan the batches hold (eval mode)."""
    was_training = model.training
    model.eval()
    ids: list[str] = []
    labels, probs = [], []
    for batch in batches:
        batch = to_device(batch, device)
        with autocast(device, bf16):
            logits = predict_logits(model, batch)
        probs.append(torch.sigmoid(logits.float()).cpu().numpy())
        labels.append(batch["labels"].cpu().numpy())
        ids.extend(str(s) for s in batch["scan_id"])
    model.train(was_training)
    width = len(TASK_NAMES)
    return ScanPredictions(
        ids,
        np.concatenate(labels) if labels else np.zeros((0, width)),
        np.concatenate(probs) if probs else np.zeros((0, width)),
    )


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
