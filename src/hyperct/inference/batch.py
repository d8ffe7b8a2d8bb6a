"""Running a model over collated batches: moving them to the device, all-task logits, and the
per-scan probabilities of a whole loader."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hyperct.inference.device import autocast
from hyperct.models.interface import ScreeningModel
from hyperct.tasks import TASK_NAMES


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` on ``device`` (non-blocking); other values unchanged."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def predict_logits(model: ScreeningModel, batch: dict[str, Any]) -> torch.Tensor:
    """All-task logits ``(B, T)`` of a batch; 2.5D batches carry ``image_mask``, 3D ones do not."""
    return model.predict_all(batch["image"], batch.get("image_mask"))


@dataclass
class ScanPredictions:
    """Per-scan labels and probabilities of all 25 tasks, rows in ``scan_ids`` order."""

    scan_ids: list[str]
    labels: np.ndarray
    probs: np.ndarray

    @classmethod
    def empty(cls) -> ScanPredictions:
        """No scans (all 25 task columns)."""
        width = len(TASK_NAMES)
        return cls([], np.zeros((0, width)), np.zeros((0, width)))

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
    model: ScreeningModel, batches: Iterable[dict[str, Any]], device: torch.device, bf16: bool
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
    if not ids:
        return ScanPredictions.empty()
    return ScanPredictions(ids, np.concatenate(labels), np.concatenate(probs))


