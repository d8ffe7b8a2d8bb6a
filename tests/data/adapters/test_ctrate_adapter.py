"""CT-RATE adapter on a small fake tree in the real layout and formats."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from hyperct.data.adapters.ctrate import adapt_ctrate
from hyperct.data.cache import ScanCache
from hyperct.data.manifest import load_manifest
from hyperct.data.prepare import prepare_cache
from hyperct.preprocess.spec import SliceStackSpec
from hyperct.tasks import CONVENTIONAL, OPPORTUNISTIC

VOLUMES = ["train_1_a_1", "train_1_a_2", "train_2_a_1", "train_3_b_1", "valid_1_a_1"]
STORED = {"train_1_a_1", "train_2_a_1"}  # saved as stored values (HU + 1024); the others in HU


def _chest_hu(shape=(8, 24, 24)) -> np.ndarray:
    """Outside air, a soft-tissue body, two lungs: a histogram like a chest CT."""
    z, y, x = np.indices(shape)
    hu = np.full(shape, -1000, np.int16)
    body = ((y - 12) / 10) ** 2 + ((x - 12) / 11) ** 2 < 1
    hu[body] = 40
    for cx in (7, 17):
        hu[body & (((y - 11) / 6) ** 2 + ((x - cx) / 3.5) ** 2 < 1)] = -850
    return hu


def _fake_ctrate(root: Path) -> None:
    for name in VOLUMES:
        split, patient, study, _ = name.split("_")
        folder = (
            root
            / ("train" if split == "train" else "valid")
            / f"{split}_{patient}"
            / f"{split}_{patient}_{study}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        data = _chest_hu() + (1024 if name in STORED else 0)
        nib.save(
            nib.Nifti1Image(
                np.transpose(data, (2, 1, 0)).astype(np.int16), np.diag([-0.75, -0.75, 1.5, 1])
            ),
            folder / f"{name}.nii.gz",
        )
    meta = pd.DataFrame(
        {
            "VolumeName": [f"{v}.nii.gz" for v in VOLUMES],
            "RescaleSlope": 1,
            "RescaleIntercept": -1024,
            "XYSpacing": "[0.75, 0.75]",
            "ZSpacing": 1.5,
            "PatientSex": "F",
            "PatientAge": "063Y",
            "StudyDate": 20200101,
        }
    )
    (root / "metadata").mkdir()
    meta.to_csv(root / "metadata" / "train_metadata.csv", index=False)
    labels = pd.DataFrame({"VolumeName": [f"{v}.nii.gz" for v in VOLUMES]})
    for i, task in enumerate(CONVENTIONAL):
        labels[task.name] = [(i + j) % 2 for j in range(len(VOLUMES))]
    (root / "multi_abnormality_labels").mkdir()
    labels.to_csv(root / "multi_abnormality_labels" / "train_predicted_labels.csv", index=False)
    reports = pd.DataFrame(
        {
            "VolumeName": [f"{v}.nii.gz" for v in VOLUMES],
            "Findings_EN": "Emphysema.",
            "Impressions_EN": "No effusion.",
        }
    )
    (root / "radiology_text_reports").mkdir()
    reports.to_csv(root / "radiology_text_reports" / "train_reports.csv", index=False)


@pytest.fixture
def ctrate_manifest(tmp_path: Path) -> Path:
    _fake_ctrate(tmp_path / "ctrate")
    adapt_ctrate(tmp_path / "ctrate", tmp_path / "out" / "manifest.csv", check_hu=2)
    return tmp_path / "out" / "manifest.csv"


def test_manifest_rows_ids_splits_labels(ctrate_manifest: Path) -> None:
    df = load_manifest(ctrate_manifest)
    assert sorted(df["scan_id"]) == sorted(VOLUMES)
    row = df.set_index("scan_id").loc["train_1_a_2"]
    assert row["patient_id"] == "train_1" and row["split"] == "train" and row["cohort"] == "ctrate"
    assert df.set_index("scan_id").loc["valid_1_a_1", "split"] == "test"
    assert (
        row["age"] == "63.0" and row["sex"] == "F" and "Findings: Emphysema." in row["report_text"]
    )
    assert (
        row[CONVENTIONAL[0].name] == 1 and row[CONVENTIONAL[1].name] == 0
    )  # (i + j) % 2 with j = 1
    assert (df[[t.name for t in OPPORTUNISTIC]] == -1).all().all()
    assert not Path(pd.read_csv(ctrate_manifest)["path"][0]).is_absolute()  # portable manifest


def test_hu_never_rescaled_twice(ctrate_manifest: Path, tmp_path: Path) -> None:
    report = prepare_cache(
        ctrate_manifest, SliceStackSpec(slices=6, size=24), tmp_path / "cache", progress=False
    )
    assert report.ok
    cache = ScanCache(tmp_path / "cache")
    for name in VOLUMES:  # stored-value and HU volumes both end up with air at -1000 HU
        grid = cache.load(name)
        assert grid.min() == -1000 and np.median(grid) in (-1000, -850, 40), name


def test_val_fraction_is_patient_level(tmp_path: Path) -> None:
    _fake_ctrate(tmp_path / "ctrate")
    df = adapt_ctrate(
        tmp_path / "ctrate", tmp_path / "m.csv", val_fraction=0.34, seed=0, check_hu=0
    )
    assert (df["split"] == "val").any()
    assert df.groupby("patient_id")["split"].nunique().max() == 1


def test_missing_tree_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no CT-RATE volumes"):
        adapt_ctrate(tmp_path, tmp_path / "m.csv")


def test_header_metadata_spacing_mismatch_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_ctrate(tmp_path / "ctrate")
    meta_csv = tmp_path / "ctrate" / "metadata" / "train_metadata.csv"
    meta = pd.read_csv(meta_csv)
    meta["ZSpacing"] = 5.0
    meta.to_csv(meta_csv, index=False)
    with caplog.at_level("WARNING"):
        adapt_ctrate(tmp_path / "ctrate", tmp_path / "m.csv", check_hu=1)
    assert (
        "header spacing (1.5, 0.75, 0.75) mm (z, y, x) differs from the metadata's (5.0, 0.75, 0.75)"
        in caplog.text
    )
