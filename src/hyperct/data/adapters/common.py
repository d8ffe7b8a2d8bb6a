"""Helpers shared by the dataset adapters: empty label columns, patient-level validation split."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.tasks import LABEL_MISSING, TASK_NAMES

logger = logging.getLogger(__name__)


def with_missing_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Add every task column absent from ``df``, filled with -1 (not available)."""
    out = df.copy()
    for task in TASK_NAMES:
        if task not in out.columns:
            out[task] = np.int8(LABEL_MISSING)
    return out


def carve_val_split(df: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Move a random ``fraction`` of the training *patients* (all their scans) to split 'val'."""
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    out = df.copy()
    patients = np.array(sorted(out.loc[out["split"] == "train", "patient_id"].unique()))
    n_val = int(round(fraction * len(patients)))
    if n_val:
        chosen = np.random.default_rng(seed).choice(patients, size=n_val, replace=False)
        out.loc[out["patient_id"].isin(chosen) & (out["split"] == "train"), "split"] = "val"
        logger.info(
            "moved %d of %d training patients to the val split (seed %d)",
            n_val,
            len(patients),
            seed,
        )
    return out


def relative_to(paths: list[Path], folder: Path) -> list[str]:
    """Paths relative to the manifest's folder (portable manifests), as the contract reads them."""
    return [os.path.relpath(p.resolve(), folder.resolve()) for p in paths]
