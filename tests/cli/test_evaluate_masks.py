"""`hyperct evaluate-masks`: CSVs written; a scan that cannot be scored makes the exit code 1."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from hyperct.cli.main import main


def _mask(path: Path, *boxes: tuple[slice, slice, slice]) -> None:
    data = np.zeros((12, 12, 10, len(boxes)), dtype=np.uint8)
    for i, box in enumerate(boxes):
        data[(*box, i)] = 1
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))


def _run(monkeypatch, args: list[str]) -> int:
    return main(args)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    pred.mkdir()
    ref.mkdir()
    box = (slice(2, 6), slice(2, 6), slice(2, 6))
    _mask(ref / "a.nii.gz", box)
    _mask(pred / "a.nii.gz", (slice(4, 8), slice(2, 6), slice(2, 6)))
    return pred, ref


def test_writes_findings_and_summary(monkeypatch, capsys, tmp_path, folders) -> None:
    pred, ref = folders
    out = tmp_path / "out"
    args = ["evaluate-masks", str(pred), str(ref), "--out", str(out), "--resamples", "20"]
    assert _run(monkeypatch, args) == 0
    assert "global_dice 0.500" in capsys.readouterr().out
    assert pd.read_csv(out / "segmentation_findings.csv")["dice"].tolist() == [0.5]
    assert (out / "segmentation_summary.csv").is_file()


def test_a_scan_without_prediction_is_reported_with_exit_1(
    monkeypatch, capsys, tmp_path, folders
) -> None:
    pred, ref = folders
    _mask(ref / "b.nii.gz", (slice(0, 3), slice(0, 3), slice(0, 3)))
    args = ["evaluate-masks", str(pred), str(ref), "--out", str(tmp_path / "o"), "--resamples", "20"]
    assert _run(monkeypatch, args) == 1
    err = capsys.readouterr().err
    assert "failed: b: no predicted mask" in err and "evaluate-masks: 1 item(s) failed" in err
