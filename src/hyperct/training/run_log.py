"""Per-run logs: a CSV row per epoch, TensorBoard scalars, and the JSON run record.

Only rank 0 writes; other ranks get a logger that does nothing.
"""

from __future__ import annotations

import csv
import io
import datetime as dt
import json
import logging
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from hyperct.io.atomic import write_text_atomic

logger = logging.getLogger(__name__)

HISTORY = "history.csv"
RECORD = "run.json"


class RunLogger:
    """Writes ``history.csv`` and scalars to TensorBoard under ``tb/``."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self._tb: Any = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir / "tb"))

    def step(self, step: int, logs: dict[str, float]) -> None:
        """Training scalars of one optimizer step."""
        if self._tb is not None:
            for key, value in logs.items():
                self._tb.add_scalar(f"train_step/{key}", value, step)

    def epoch(self, row: dict[str, Any]) -> None:
        """One epoch's scalars in TensorBoard."""
        if not self.enabled:
            return
        for key, value in row.items():
            if isinstance(value, (int, float)) and key != "epoch":
                self._tb.add_scalar(f"epoch/{key}", value, row["epoch"])
        self._tb.flush()

    def history(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite ``history.csv`` from all epoch rows so far (the checkpoint holds the same
        rows, so a run killed between the two writes gets its file back on resume)."""
        if not self.enabled:
            return
        header = list(dict.fromkeys(k for r in rows for k in r))
        write_text_atomic(self.run_dir / HISTORY, _csv_text(rows, header))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_history(path: Path) -> list[dict[str, Any]]:
    """The epoch rows of a ``history.csv``."""
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _csv_text(rows: list[dict[str, Any]], header: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def git_sha() -> str | None:
    """The checkout's commit, when run from a git clone."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str]:
    """Versions of python and of the packages that shape a result."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("hyperct", "torch", "transformers", "numpy", "scikit-learn", "torchjd", "monai"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_run_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``run.json``: versions, git SHA, device, the given fields; atomically."""
    full = {
        "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "versions": versions(),
        "torch_threads": torch.get_num_threads(),
        **record,
    }
    return write_text_atomic(run_dir / RECORD, json.dumps(full, indent=2, default=str))


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
