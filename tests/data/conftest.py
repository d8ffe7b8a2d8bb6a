"""Manifests built from the real CT files in ../shared/data, for data-layer tests."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct.tasks import TASK_NAMES

REAL_SCANS = {
    "sm": "ts_example_ct_sm.nii.gz",
    "crop": "ts_chest_crop.nii.gz",
    "series": "dicom_series",
    "slices": "dicom_slices",
}


def make_manifest_frame(real_ct: Path, folder: Path, seed: int = 0) -> pd.DataFrame:
    """One row per real scan, paths relative to ``folder``, labels drawn from {1, 0, -1}."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (scan_id, name) in enumerate(REAL_SCANS.items()):
        row = {
            "scan_id": scan_id,
            "patient_id": f"p{i}",
            "path": os.path.relpath(real_ct / name, folder),
            "cohort": "internal",
            "split": ["train", "train", "val", "test"][i],
            "anatomy_path": "",
        }
        row.update(
            {
                task: int(v)
                for task, v in zip(TASK_NAMES, rng.choice([1, 0, -1], size=len(TASK_NAMES)))
            }
        )
        rows.append(row)
    rows[0]["anatomy_path"] = os.path.relpath(real_ct / "ts_example_ct_sm_totalseg.nii.gz", folder)
    return pd.DataFrame(rows)


@pytest.fixture
def manifest_frame(real_ct: Path, tmp_path: Path) -> pd.DataFrame:
    """The real-scan manifest as a DataFrame with paths relative to ``tmp_path``."""
    return make_manifest_frame(real_ct, tmp_path)


@pytest.fixture
def real_manifest(real_ct: Path, tmp_path: Path) -> Path:
    path = tmp_path / "manifest.csv"
    make_manifest_frame(real_ct, tmp_path).to_csv(path, index=False)
    return path
