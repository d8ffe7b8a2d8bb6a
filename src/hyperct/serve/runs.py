"""The trained runs a service serves: loaded once at start, each with its operating points.

A segmenting run (UniCT) predicts, in the same one pass, each study's finding masks on the model
grid and, with a report head, its report (:func:`hyperct.inference.scans.segment_inputs`).

A run's operating point per task is the threshold chosen by Youden's J on the run's own
validation predictions (``predictions.csv`` in the run folder, as ``hyperct evaluate`` does);
a task without usable validation rows falls back to 0.5 and says so in ``threshold_source``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hyperct.inference.scan_outputs import SegmentedScans
from hyperct.io.volume import Volume
from hyperct.models.interface import Capability, ScreeningModel, SegmentingModel, require
from hyperct.tasks import task_by_name

logger = logging.getLogger(__name__)


@dataclass
class Predicted:
    """One study's prediction: its findings, and for a segmenting run its masks and report."""

    findings: list[dict[str, Any]]
    segmented: SegmentedScans | None = None


@dataclass
class ServedRun:
    """One loaded run: the model, its checkpoint facts and its operating points."""

    name: str
    path: Path
    model: ScreeningModel
    spec: Any
    spec_dict: dict[str, Any]
    bf16: bool
    task_names: list[str]
    thresholds: dict[str, tuple[float, str]]
    identity: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def segmenter(self) -> SegmentingModel | None:
        """The model as a segmenting model (masks and, with a report head, a report); None for
        a run that predicts findings only."""
        if Capability.SEGMENTATION not in self.model.capabilities:
            return None
        return require(self.model, Capability.SEGMENTATION, SegmentingModel, f"run {self.name}")

    @property
    def mask_categories(self) -> list[str]:
        """The finding categories of the mask channels, in channel order (none: no masks)."""
        segmenter = self.segmenter
        return list(segmenter.segmentation_classes) if segmenter is not None else []

    @property
    def writes_report(self) -> bool:
        return self.segmenter is not None and Capability.REPORT_GENERATION in self.model.capabilities

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about the run."""
        return {
            "name": self.name,
            "tasks": self.task_names,
            "operating_points": {t: {"threshold": th, "source": src}
                                 for t, (th, src) in self.thresholds.items()},
            "mask_categories": self.mask_categories,
            "writes_report": self.writes_report,
            **self.identity,
        }

    def prepare(self, volume: Volume) -> dict[str, torch.Tensor]:
        """``volume`` preprocessed with the run's spec, as a one-scan model input; a volume
        whose values are not plausible CT HU raises ``ImplausibleCTError``."""
        from hyperct.inference.scans import volume_batch

        return volume_batch(self.model, self.spec, volume)

    def predict(self, inputs: Sequence[dict[str, torch.Tensor]]) -> tuple[list[Predicted], float]:
        """Per-task probability, threshold and call (and a segmenting run's masks and report)
        for each prepared CT, as one batch; and the seconds the batch took."""
        from hyperct.inference.scans import predict_inputs, segment_inputs

        start = time.perf_counter()
        segmenter = self.segmenter
        with self.lock:
            if segmenter is None:
                probs = predict_inputs(self.model, inputs, self.bf16)
                predicted = [Predicted(self._findings(row)) for row in probs]
            else:
                predicted = [Predicted(self._findings(scan.probs[0]), scan)
                             for scan in segment_inputs(segmenter, inputs, self.bf16)]
        return predicted, time.perf_counter() - start

    def _findings(self, probs: Sequence[float]) -> list[dict[str, Any]]:
        findings = []
        for name, prob in zip(self.task_names, probs):
            threshold, source = self.thresholds[name]
            findings.append({
                "task": name,
                "group": _group(name),
                "probability": round(float(prob), 6),
                "threshold": round(threshold, 6),
                "threshold_source": source,
                "positive": bool(prob >= threshold),
            })
        return findings

    def saliency(self, volume: Volume, task: str) -> Volume:
        """Grad-CAM of ``task`` on ``volume``'s own grid."""
        from hyperct.explain.api import explain_volume

        with self.lock:
            return explain_volume(self.model, volume, self.spec, task).saliency


def load_run(path: str | Path, device: str = "cpu") -> ServedRun:
    """Load the run folder (or checkpoint file) ``path`` for serving."""
    from hyperct.inference.predict import checkpoint_config, load_trained_model
    from hyperct.inference.spec import checkpoint_spec

    path = Path(path)
    model, ckpt = load_trained_model(path, device)
    cfg = checkpoint_config(ckpt, path)
    names = list(ckpt.tasks)
    run_dir = path if path.is_dir() else path.parent
    checkpoint_file = run_dir / "best.pt" if path.is_dir() else path
    identity = {
        "method": cfg.method,
        "checkpoint_sha256": _sha256(checkpoint_file),
        "backbone": ckpt.backbone,
        "preprocessing": ckpt.spec,
    }
    return ServedRun(
        name=run_dir.name,
        path=run_dir,
        model=model,
        spec=checkpoint_spec(ckpt, path),
        spec_dict=ckpt.spec,
        bf16=bool(cfg.runtime.bf16),
        task_names=names,
        thresholds=operating_points(run_dir, names),
        identity=identity,
    )


def operating_points(run_dir: Path, tasks: list[str]) -> dict[str, tuple[float, str]]:
    """Youden thresholds from the run's validation predictions (0.5 where there are none)."""
    from hyperct.evaluation.metrics import SOURCE_NO_VAL, choose_thresholds
    from hyperct.inference.predictions import read_predictions

    table = run_dir / "predictions.csv"
    chosen: dict[str, tuple[float, str]] = {}
    if table.is_file():
        for row in choose_thresholds(read_predictions(table)).itertuples():
            chosen[row.task] = (float(row.threshold), str(row.threshold_source))
    else:
        logger.warning("%s: no predictions.csv, so every operating point is 0.5", run_dir)
    return {t: chosen.get(t, (0.5, SOURCE_NO_VAL)) for t in tasks}


def _group(task: str) -> str:
    try:
        return str(task_by_name(task).group)
    except KeyError:
        return "other"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

