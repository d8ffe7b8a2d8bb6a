"""Shared fixtures: the real files in ../shared/data and small helpers."""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (expected ../shared/data beside the clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_ct(shared_data: Path) -> Path:
    return shared_data / "real_ct"


_TINY_MODEL: dict[str, Any] = {
    "backbone": "dinov3-tiny",
    "rank": 2,
    "alpha": 2.0,
    "dropout": 0.0,
    "task_dim": 8,
    "module_dim": 4,
    "latent_dim": 8,
    "hyper_output_dim": 8,
    "num_residual_blocks": 1,
}


@pytest.fixture
def tiny_model() -> dict[str, Any]:
    """Model config fields of a random-init tiny HyperCT (baselines take the shared ones)."""
    return dict(_TINY_MODEL)


#: A small ReXGroundingCT copy: JSON split -> (CT-RATE volume, [(sentence, category code)]).
REX_SCANS: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    "train": [
        (
            "train_1_a_1",
            [("Nodule in the right upper lobe.", "2d"), ("Emphysema in both apices.", "1c")],
        ),
        ("train_1_a_2", [("Small left pleural effusion.", "2e")]),
        ("train_2_a_1", [("Ground-glass opacity in the lingula.", "2c")]),
    ],
    "val": [("valid_5_a_1", [("Bronchiectasis in the lower lobes.", "1b")])],
    "test": [
        (
            "valid_6_b_2",
            [("Atelectasis at the left base.", "2b"), ("Linear opacity in the right lobe.", "2a")],
        )
    ],
}
REX_SHAPE = (8, 8, 6)
REX_AFFINE = np.diag([-0.75, -0.75, 1.5, 1.0])


def rex_mask(n: int, channel_axis: str = "first") -> np.ndarray:
    """Finding masks of ``n`` findings on the REX_SHAPE grid: channel k has 4 * (k + 1) voxels."""
    mask = np.zeros((n, *REX_SHAPE), np.uint8)
    for k in range(n):
        mask[k, 2:4, 2:4, 0 : k + 1] = 1
    return mask if channel_axis == "first" else np.moveaxis(mask, 0, 3)


@pytest.fixture
def rex_scans() -> dict[str, list[tuple[str, list[tuple[str, str]]]]]:
    """The scans :func:`rex_tree` builds by default (a deep copy, free to change)."""
    return copy.deepcopy(REX_SCANS)


@pytest.fixture
def rex_tree(tmp_path: Path) -> Callable[..., Path]:
    """Build ReXGroundingCT in the release's formats (dataset.json, 4-D masks, CT-RATE tree)."""
    import nibabel as nib

    def build(scans: dict = REX_SCANS, channel_axis: str = "first") -> Path:
        root = tmp_path / "rex"
        dataset: dict[str, list] = {}
        for split, items in scans.items():
            dataset[split] = []
            for scan_id, findings in items:
                prefix, patient, study, _ = scan_id.split("_")
                folder = root / prefix / f"{prefix}_{patient}" / f"{prefix}_{patient}_{study}"
                folder.mkdir(parents=True, exist_ok=True)
                ct = np.full(REX_SHAPE, -1000, np.int16)
                ct[1:7, 1:7, :] = 40
                nib.save(nib.Nifti1Image(ct, REX_AFFINE), folder / f"{scan_id}.nii.gz")
                (root / "segmentations").mkdir(parents=True, exist_ok=True)
                nib.save(
                    nib.Nifti1Image(rex_mask(len(findings), channel_axis), REX_AFFINE),
                    root / "segmentations" / f"{scan_id}.nii.gz",
                )
                dataset[split].append(
                    {
                        "name": f"{scan_id}.nii.gz",
                        "findings": {str(k): s for k, (s, _) in enumerate(findings)},
                        "categories": {str(k): c for k, (_, c) in enumerate(findings)},
                    }
                )
        (root / "dataset.json").write_text(json.dumps(dataset, indent=1))
        return root

    return build
