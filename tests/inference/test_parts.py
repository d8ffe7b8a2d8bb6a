"""Merging prediction parts: one table, duplicates refused by name, gaps against the manifest."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct.inference.parts import merge_parts
from hyperct.inference.predictions import PredictionsError, predictions_from_arrays, write_predictions
from hyperct.tasks import TASK_NAMES


def _part(folder: Path, name: str, ids: list[str], tasks: list[str] = TASK_NAMES) -> Path:
    rng = np.random.default_rng(len(ids))
    table = predictions_from_arrays(
        scan_ids=ids, cohorts=["internal"] * len(ids), splits=["test"] * len(ids),
        labels=rng.integers(-1, 2, (len(ids), len(tasks))), probs=rng.random((len(ids), len(tasks))),
        method="hyperct", run="r1", task_names=tasks)
    return write_predictions(table, folder / name)


def _manifest(folder: Path, ids: list[str]) -> Path:
    frame = pd.DataFrame({"scan_id": ids, "patient_id": ids, "path": [f"{i}.nii.gz" for i in ids],
                          "cohort": "internal", "split": "test", **dict.fromkeys(TASK_NAMES, -1)})
    frame.to_csv(folder / "m.csv", index=False)
    return folder / "m.csv"


def test_parts_in_any_order_give_one_sorted_table(tmp_path: Path) -> None:
    a, b = _part(tmp_path, "a.csv", ["s3", "s1"]), _part(tmp_path, "b.parquet", ["s2"])
    merged = merge_parts([b, a], manifest=_manifest(tmp_path, ["s1", "s2", "s3"]))
    assert merged.gaps == {}
    assert list(merged.table["scan_id"].unique()) == ["s1", "s2", "s3"]
    assert list(merged.table["task"][:25]) == list(TASK_NAMES)
    assert merged.table.equals(merge_parts([a, b]).table)


def test_a_scan_in_two_parts_is_refused_naming_scan_task_and_files(tmp_path: Path) -> None:
    a, b = _part(tmp_path, "a.csv", ["s1", "s2"]), _part(tmp_path, "b.csv", ["s2", "s3"])
    with pytest.raises(PredictionsError, match=r"scan 's2', task '.+'.*/a\.csv and .*/b\.csv"):
        merge_parts([a, b])
    with pytest.raises(PredictionsError, match=r"a\.csv: given twice"):
        merge_parts([a, b, a])


def test_gaps_against_the_manifest_and_incomplete_scans(tmp_path: Path) -> None:
    a = _part(tmp_path, "a.csv", ["s1"])
    b = _part(tmp_path, "b.csv", ["s2"], tasks=TASK_NAMES[:3])
    merged = merge_parts([a, b], manifest=_manifest(tmp_path, ["s1", "s2", "s4"]))
    assert merged.gaps == {"s2": f"22 task(s) missing, e.g. {TASK_NAMES[3]!r}",
                           "s4": "no part holds it"}
    assert set(merged.table["scan_id"]) == {"s1", "s2"}


def test_a_scan_outside_the_manifest_is_refused(tmp_path: Path) -> None:
    a = _part(tmp_path, "a.csv", ["s1", "x9"])
    with pytest.raises(PredictionsError, match=r"a\.csv: scan 'x9' is not among the scans"):
        merge_parts([a], manifest=_manifest(tmp_path, ["s1"]))
