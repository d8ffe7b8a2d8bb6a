from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct.inference.predictions import (
    COLUMNS,
    PredictionsError,
    predictions_from_arrays,
    read_predictions,
    write_predictions,
)
from hyperct.tasks import NUM_TASKS, TASKS


def _table(n: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 2, size=(n, NUM_TASKS))
    return predictions_from_arrays(
        scan_ids=[f"s{i}" for i in range(n)],
        cohorts=["internal"] * n,
        splits=["val", "test"] * (n // 2),
        labels=labels,
        probs=rng.random((n, NUM_TASKS)),
        method="hyperct",
        run="r1",
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    df = _table()
    path = write_predictions(df, tmp_path / f"predictions{suffix}")
    back = read_predictions(path)
    assert list(back.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(
        back[["scan_id", "task", "label"]], df[["scan_id", "task", "label"]]
    )
    np.testing.assert_allclose(back["prob"], df["prob"], rtol=1e-5)


def test_external_csv_gets_method_from_stem_and_short_task_names(tmp_path: Path) -> None:
    path = tmp_path / "vendor_model.csv"
    path.write_text(
        "scan_id,cohort,split,task,label,prob\n"
        f"a,external,test,{TASKS[7].short_name},1,0.9\n"
        "b,external,test,Emphysema,0,0.2\n"
    )
    df = read_predictions(path)
    assert set(df["method"]) == {"vendor_model"}
    assert set(df["task"]) == {"Emphysema"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("c,internal,test,Emphysema,2,0.5", "line 3, column 'label'"),
        ("c,internal,test,Emphysema,1,1.5", "line 3, column 'prob'"),
        ("c,internal,dev,Emphysema,1,0.5", "line 3, column 'split'"),
        ("c,internal,test,Not a task,1,0.5", "line 3, column 'task'"),
        ("a,internal,test,Emphysema,1,0.5", "line 3 repeats scan 'a'"),
    ],
)
def test_errors_name_line_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        f"scan_id,cohort,split,task,label,prob\na,internal,test,Emphysema,1,0.5\n{row}\n"
    )
    with pytest.raises(PredictionsError, match=message):
        read_predictions(path)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("scan_id,cohort,split,task,label\na,internal,test,Emphysema,1\n")
    with pytest.raises(PredictionsError, match="missing column.*prob"):
        read_predictions(path)


def test_missing_label_may_have_no_prob(tmp_path: Path) -> None:
    df = _table()
    df.loc[df["label"] == -1, "prob"] = np.nan
    back = read_predictions(write_predictions(df, tmp_path / "p.csv"))
    assert back.loc[back["label"] == -1, "prob"].isna().all()
