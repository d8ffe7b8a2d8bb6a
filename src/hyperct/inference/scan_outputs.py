"""What a segmenting model (UniCT) predicts beyond probabilities: finding masks on the CT's own
grid, the report and the fusion attention of each scan.

Written into one output folder (``hyperct predict`` uses the folder of ``--out``):

* ``masks/<scan_id>.nii.gz``: 4-D uint8, channels last, channel k = the model's
  ``segmentation_classes[k]`` (listed in ``masks/channels.json``). The mask probabilities are
  thresholded at :data:`MASK_THRESHOLD` on the model grid, then mapped to the CT's grid and
  orientation by nearest neighbour (:func:`hyperct.preprocess.grid_map.masks_to_ct_grid`), so
  the file has the shape and affine of the input CT, voxel for voxel, and any NIfTI viewer or
  ``hyperct evaluate-masks --categories`` reads it. Binary rather than probabilities: the
  files stay small (gzip of 0/1) and a thresholded mask is what every mask metric scores.
* ``reports.csv``: ``scan_id, report`` (:mod:`hyperct.inference.reports`), when the model has
  a report head.
* ``fusion_attention.csv``: one row per scan and query task, the key tasks as columns
  (:data:`ATTENTION_COLUMNS` first): the attention across the task latents, averaged over
  heads, so every row sums to 1. Absent when the model has no fusion.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hyperct.inference.batch import ScanPredictions, to_device
from hyperct.inference.device import autocast
from hyperct.inference.reports import COLUMNS, REPORTS, write_reports
from hyperct.io.atomic import write_csv_atomic, write_text_atomic
from hyperct.models.interface import Capability, SegmentingModel
from hyperct.models.report.generate import GenerationConfig
from hyperct.preprocess.grid_map import GridRecord, masks_to_ct_grid, write_ct_grid_masks
from hyperct.tasks import TASK_NAMES

logger = logging.getLogger(__name__)

MASK_THRESHOLD = 0.5
MASKS_DIR = "masks"
CHANNELS_JSON = "channels.json"
ATTENTION_CSV = "fusion_attention.csv"
ATTENTION_COLUMNS = ("scan_id", "query")


@dataclass
class SegmentedScans:
    """One batch's outputs, numpy on the CPU: probabilities ``(B, T)``, binary masks
    ``(B, K, depth, H, W)`` on the model grid, reports (or None) and the head-averaged fusion
    attention ``(B, F, F)`` (or None)."""

    scan_ids: list[str]
    probs: np.ndarray
    masks: np.ndarray
    reports: list[str] | None
    attention: np.ndarray | None

    def scan(self, index: int) -> SegmentedScans:
        """The outputs of the batch's ``index``-th scan alone (a batch of one)."""
        one = slice(index, index + 1)
        return SegmentedScans(
            scan_ids=self.scan_ids[one],
            probs=self.probs[one],
            masks=self.masks[one],
            reports=self.reports[one] if self.reports is not None else None,
            attention=self.attention[one] if self.attention is not None else None,
        )


@torch.no_grad()
def segment_batch(
    model: SegmentingModel, batch: dict[str, Any], scan_ids: Sequence[str], bf16: bool
) -> SegmentedScans:
    """All outputs of one batch (``image``, optional ``image_mask``), in one model pass; the
    report is written when the model writes reports (it has a report head)."""
    device = next(iter(model.parameters())).device  # type: ignore[attr-defined]
    batch = to_device(batch, device)
    writes = Capability.REPORT_GENERATION in model.capabilities
    generation = GenerationConfig() if writes else None
    with autocast(device, bf16):
        out = model.predict(batch["image"], batch.get("image_mask"), generation)
    masks = (out.mask_probabilities.float() >= MASK_THRESHOLD).to(torch.uint8).cpu().numpy()
    attention = out.fusion_attention
    return SegmentedScans(
        scan_ids=[str(s) for s in scan_ids],
        probs=out.probabilities.float().cpu().numpy(),
        masks=masks,
        reports=out.reports,
        attention=attention.float().mean(dim=1).cpu().numpy() if attention is not None else None,
    )


def catalogue_probs(probs: np.ndarray, task_names: Sequence[str]) -> np.ndarray:
    """Probabilities ``(B, T)`` of ``task_names`` in the catalogue's 25 columns (NaN for a task
    the model does not predict), the layout of :class:`ScanPredictions`."""
    out = np.full((len(probs), len(TASK_NAMES)), np.nan, dtype=np.float64)
    out[:, [TASK_NAMES.index(t) for t in task_names]] = probs
    return out


def mask_file(folder: str | Path, scan_id: str) -> Path:
    """``<folder>/masks/<scan_id>.nii.gz`` (a file-name-safe key for ids that need one)."""
    from hyperct.data.cache import cache_key

    return Path(folder) / MASKS_DIR / f"{cache_key(scan_id)}.nii.gz"


class OutputFolder:
    """Writes each scan's mask as it comes and collects its report and attention rows."""

    def __init__(self, folder: str | Path, model: SegmentingModel) -> None:
        self.folder = Path(folder)
        self.model = model
        self.channels = list(model.segmentation_classes)
        self.fusion_tasks = tuple(model.fusion_tasks)
        self.reports: list[tuple[str, str]] = []
        self.attention: list[dict[str, Any]] = []
        self.voxels: dict[str, list[int]] = {}  # scan id -> voxels of each channel on its CT grid

    def predict(
        self, batches: Iterable[dict[str, Any]], record: Callable[[str], GridRecord], bf16: bool
    ) -> ScanPredictions:
        """Every scan of the batches: masks written, reports and attention kept, the
        probabilities returned as by :func:`~hyperct.inference.batch.predict_batches`."""
        was_training = self.model.training  # type: ignore[attr-defined]
        self.model.eval()  # type: ignore[attr-defined]
        ids: list[str] = []
        labels, probs = [], []
        for batch in batches:
            scans = segment_batch(self.model, batch, batch["scan_id"], bf16)
            self.add(scans, record)
            ids += scans.scan_ids
            probs.append(catalogue_probs(scans.probs, self.model.task_names))
            labels.append(batch["labels"].cpu().numpy())
        self.model.train(was_training)  # type: ignore[attr-defined]
        if not ids:
            return ScanPredictions.empty()
        return ScanPredictions(ids, np.concatenate(labels), np.concatenate(probs))

    def add(self, scans: SegmentedScans, record: Callable[[str], GridRecord]) -> None:
        """Write the masks of ``scans`` (``record(scan_id)`` maps each to its CT's grid) and
        keep their voxel counts, reports and attention rows."""
        for i, scan_id in enumerate(scans.scan_ids):
            grid = record(scan_id)
            on_ct = masks_to_ct_grid(scans.masks[i], grid)
            write_ct_grid_masks(on_ct, grid, mask_file(self.folder, scan_id))
            counts = on_ct.reshape(len(on_ct), -1).sum(axis=1, dtype=np.int64)
            self.voxels[scan_id] = [int(n) for n in counts]
            if scans.reports is not None:
                self.reports.append((scan_id, scans.reports[i]))
            if scans.attention is not None:
                for task, row in zip(self.fusion_tasks, scans.attention[i]):
                    self.attention.append(
                        {"scan_id": scan_id, "query": task, **dict(zip(self.fusion_tasks, row))}
                    )

    def tables(self) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The reports table and the attention table (None where the model has none)."""
        reports = pd.DataFrame(self.reports, columns=list(COLUMNS)) if self.reports else None
        attention = pd.DataFrame(self.attention) if self.attention else None
        return reports, attention

    def write_tables(
        self, reports: Iterable[pd.DataFrame | None], attention: Iterable[pd.DataFrame | None]
    ) -> list[Path]:
        """Write ``channels.json``, ``reports.csv`` and ``fusion_attention.csv`` from the parts
        (e.g. one per rank) of :meth:`tables`; returns the files written."""
        files = [
            write_text_atomic(
                self.folder / MASKS_DIR / CHANNELS_JSON,
                json.dumps({"channels": self.channels, "threshold": MASK_THRESHOLD}) + "\n",
            )
        ]
        report_parts = [t for t in reports if t is not None]
        if report_parts:
            files.append(write_reports(pd.concat(report_parts), self.folder / REPORTS))
        attention_parts = [t for t in attention if t is not None]
        if attention_parts:
            table = pd.concat(attention_parts).sort_values("scan_id", kind="stable")
            files.append(
                write_csv_atomic(table, self.folder / ATTENTION_CSV, float_format="%.6g")
            )
        logger.info("wrote %s", ", ".join(str(f) for f in files))
        return files
