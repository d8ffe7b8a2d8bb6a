"""load_manifest: contract checks naming row and column; summary; merge_labels."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct.data.manifest import ManifestError, load_manifest, write_manifest
from hyperct.data.merge import merge_labels
from hyperct.data.summary import summarise_manifest
from hyperct.tasks import TASK_NAMES


def _write(df: pd.DataFrame, folder: Path, name: str = "m.csv") -> Path:
    path = folder / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def test_valid_manifest_loads_typed_with_absolute_paths(real_manifest: Path, real_ct: Path) -> None:
    df = load_manifest(real_manifest)
    assert len(df) == 4 and list(df["scan_id"]) == ["sm", "crop", "series", "slices"]
    assert all(df[t].dtype == np.int8 for t in TASK_NAMES)
    assert Path(df.loc[0, "path"]) == (real_ct / "ts_example_ct_sm.nii.gz").resolve()
    assert df.loc[1, "anatomy_path"] == ""


def test_parquet_reads_like_csv(manifest_frame: pd.DataFrame, tmp_path: Path) -> None:
    frame = manifest_frame
    a = load_manifest(_write(frame, tmp_path, "m.csv"))
    b = load_manifest(_write(frame, tmp_path, "m.parquet"))
    pd.testing.assert_frame_equal(a[list(TASK_NAMES)], b[list(TASK_NAMES)])
    assert list(a["path"]) == list(b["path"])


def test_problems_name_line_scan_and_column(manifest_frame: pd.DataFrame, tmp_path: Path) -> None:
    frame = manifest_frame.astype({"Emphysema": object, "Cardiomegaly": object})
    frame.loc[1, "Emphysema"] = ""
    frame.loc[2, "Cardiomegaly"] = 2
    frame.loc[3, "split"] = "validation"
    frame.loc[3, "scan_id"] = "sm"
    frame.loc[2, "path"] = "missing.nii.gz"
    with pytest.raises(ManifestError) as err:
        load_manifest(_write(frame, tmp_path))
    problems = "\n".join(err.value.problems)
    assert "line 3 (scan_id=crop), column 'Emphysema': blank label" in problems
    assert "line 4 (scan_id=series), column 'Cardiomegaly': label '2' is not 1, 0 or -1" in problems
    assert "line 5 (scan_id=sm), column 'split': 'validation'" in problems
    assert "line 5 (scan_id=sm), column 'scan_id': duplicate" in problems
    assert "line 4 (scan_id=series), column 'path': file not found" in problems


def test_missing_task_column_suggests_typo_and_flags_extra(
    manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = manifest_frame.rename(columns={"Cardiomegaly": "Cardiomegally"})
    frame["My finding"] = 0
    with pytest.raises(
        ManifestError,
        match="missing task column 'Cardiomegaly' \\(did you mean the column 'Cardiomegally'",
    ):
        load_manifest(_write(frame, tmp_path))


def test_split_leakage_detected(manifest_frame: pd.DataFrame, tmp_path: Path) -> None:
    frame = manifest_frame
    frame.loc[2, "patient_id"] = "p0"  # p0 now in train and val
    with pytest.raises(
        ManifestError,
        match=r"patient 'p0' \(cohort 'internal'\) is in several splits \['train', 'val'\]",
    ):
        load_manifest(_write(frame, tmp_path))
    assert len(load_manifest(_write(frame, tmp_path), check_leakage=False)) == 4
    frame.loc[2, "cohort"] = "external"  # same id in another cohort: another patient
    assert len(load_manifest(_write(frame, tmp_path))) == 4


def test_summary_counts(real_manifest: Path) -> None:
    df = load_manifest(real_manifest)
    summary = summarise_manifest(df)
    assert len(summary) == 3 * len(TASK_NAMES)  # train, val, test of one cohort
    train = summary[(summary["split"] == "train") & (summary["task"] == "Emphysema")].iloc[0]
    labels = df.loc[df["split"] == "train", "Emphysema"]
    assert train["scans"] == 2 and train["patients"] == 2
    assert train["positives"] == (labels == 1).sum() and train["missing"] == (labels == -1).sum()
    assert train["positives"] + train["negatives"] + train["missing"] == 2


def test_merge_labels_by_scan_id(real_manifest: Path) -> None:
    df = load_manifest(real_manifest)
    table = pd.DataFrame(
        {
            "VolumeName": ["crop", "sm", "other"],
            "Emphysema": [1, 0, 1],
            "cardiomegaly": [0, -1, 1],
            "note": ["a", "b", "c"],
        }
    )
    merged = merge_labels(df, table, id_column="VolumeName")
    assert merged.loc[merged.scan_id == "crop", "Emphysema"].item() == 1
    assert merged.loc[merged.scan_id == "sm", "Cardiomegaly"].item() == -1
    untouched = merged.scan_id == "series"
    assert (
        merged.loc[untouched, "Emphysema"].item()
        == df.loc[df.scan_id == "series", "Emphysema"].item()
    )
    assert "note" not in merged.columns and merged["Emphysema"].dtype == np.int8
    bad = table.astype({"Emphysema": object})
    bad.loc[1, "Emphysema"] = ""
    with pytest.raises(
        ValueError, match="row 2 \\(VolumeName=sm\\), column 'Emphysema': blank label"
    ):
        merge_labels(df, bad, id_column="VolumeName")


def test_write_manifest_round_trip(real_manifest: Path, tmp_path: Path) -> None:
    df = load_manifest(real_manifest)
    out = write_manifest(df, tmp_path / "again.parquet")
    pd.testing.assert_frame_equal(load_manifest(out)[list(TASK_NAMES)], df[list(TASK_NAMES)])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("column", ["path", "scan_id", "cohort", "patient_id", "split"])
@pytest.mark.parametrize("empty", [None, ""])
def test_null_or_empty_required_value_names_row_and_column(
    manifest_frame: pd.DataFrame, tmp_path: Path, fmt: str, column: str, empty: str | None
) -> None:
    frame = manifest_frame.astype({column: object})
    frame.loc[2, column] = empty
    with pytest.raises(ManifestError) as err:
        load_manifest(_write(frame, tmp_path, f"m.{fmt}"), check_files=False)
    where = "line 4" if fmt == "csv" else "row 3"
    assert any(
        p.startswith(where) and f"column {column!r}: blank value" in p for p in err.value.problems
    ), err.value.problems


def test_null_optional_path_stays_empty(manifest_frame: pd.DataFrame, tmp_path: Path) -> None:
    frame = manifest_frame.astype({"anatomy_path": "string"})
    frame.loc[1, "anatomy_path"] = pd.NA
    df = load_manifest(_write(frame, tmp_path, "m.parquet"))
    assert df.loc[1, "anatomy_path"] == ""


def test_empty_manifest_names_the_file(tmp_path: Path) -> None:
    for name in ("m.csv", "m.parquet"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(ManifestError, match=rf"(?s){name}: .*empty \(0 bytes\)"):
            load_manifest(tmp_path / name)


def test_latin1_manifest_refused_with_byte_and_hint(
    manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = manifest_frame.copy()
    frame.loc[0, "cohort"] = "Universitätsklinik"
    path = tmp_path / "m.csv"
    text = frame.to_csv(index=False)
    path.write_bytes(text.encode("latin-1"))
    offset = text.encode("latin-1").index("ä".encode("latin-1"))
    with pytest.raises(
        ManifestError, match=rf"(?s)m.csv: .*not UTF-8 at byte {offset} \(line 2.*save it as UTF-8"
    ):
        load_manifest(path)


def test_symlink_loop_in_path_is_a_problem_not_a_crash(
    manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    frame = manifest_frame.copy()
    frame.loc[1, "path"] = "loop"
    with pytest.raises(ManifestError) as err:
        load_manifest(_write(frame, tmp_path))
    assert any(p.startswith("line 3") and "column 'path'" in p for p in err.value.problems)
