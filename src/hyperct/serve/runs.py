"""The trained runs a service serves: loaded once at start, each with its operating points.

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

from hyperct.io.volume import Volume
from hyperct.models.interface import ScreeningModel
from hyperct.tasks import task_by_name

logger = logging.getLogger(__name__)


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

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about the run."""
        return {
            "name": self.name,
            "tasks": self.task_names,
            "operating_points": {t: {"threshold": th, "source": src}
                                 for t, (th, src) in self.thresholds.items()},
            **self.identity,
        }

    def prepare(self, volume: Volume) -> dict[str, torch.Tensor]:
        """``volume`` preprocessed with the run's spec, as a one-scan model input; a volume
        whose values are not plausible CT HU raises ``ImplausibleCTError``."""
        from hyperct.inference.scans import volume_batch

        return volume_batch(self.model, self.spec, volume)

    def predict(self, inputs: Sequence[dict[str, torch.Tensor]]) -> tuple[list[list[dict[str, Any]]], float]:
        """Per-task probability, threshold and call for each prepared CT (one batch), and the
        seconds the batch took."""
        from hyperct.inference.scans import predict_inputs

        start = time.perf_counter()
        with self.lock:
            probs = predict_inputs(self.model, inputs, self.bf16)
        seconds = time.perf_counter() - start
        return [self._findings(row) for row in probs.tolist()], seconds

    def _findings(self, probs: list[float]) -> list[dict[str, Any]]:
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

