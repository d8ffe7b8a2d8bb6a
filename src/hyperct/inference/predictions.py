"""The predictions table: one row per (scan, task), the only input of every metric and plot.

Columns: ``scan_id, cohort, split, task, label, prob, method, run``. ``task`` is the task's full
name from :mod:`hyperct.tasks` (short names are accepted on reading and normalised), ``label`` is
1/0/-1 (-1 rows are kept in the table and skipped by the metrics), ``prob`` the predicted
probability in [0, 1]. Because evaluation never looks at model internals, any method and any
external model's CSV are evaluated the same way.

>>> import numpy as np
>>> df = predictions_from_arrays(
...     scan_ids=["a", "b"], cohorts=["internal"] * 2, splits=["test"] * 2,
...     labels=np.zeros((2, 25)), probs=np.full((2, 25), 0.1), method="hyperct", run="r1")
>>> len(df), list(df.columns) == list(COLUMNS)
(50, True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.io.atomic import atomic_path
from hyperct.tasks import LABEL_VALUES, TASK_NAMES, TASKS, task_by_name

logger = logging.getLogger(__name__)

SCAN_ID, COHORT, SPLIT, TASK, LABEL, PROB, METHOD, RUN = (
    "scan_id",
    "cohort",
    "split",
    "task",
    "label",
    "prob",
    "method",
    "run",
)
COLUMNS: tuple[str, ...] = (SCAN_ID, COHORT, SPLIT, TASK, LABEL, PROB, METHOD, RUN)
REQUIRED: tuple[str, ...] = (SCAN_ID, COHORT, SPLIT, TASK, LABEL, PROB)
SPLITS: tuple[str, ...] = ("train", "val", "test")
KEY: tuple[str, ...] = (METHOD, RUN, SCAN_ID, TASK)


class PredictionsError(ValueError):
    """A predictions table that breaks the contract; the message names the row and column."""


def read_predictions(
    path: str | Path, method: str | None = None, run: str | None = None
) -> pd.DataFrame:
    """Read and validate a predictions CSV or Parquet file.

    Missing ``method``/``run`` columns (an external model's CSV) are filled with the given
    values, or with the file's stem; given values never overwrite columns that exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, dtype={SCAN_ID: str, COHORT: str, SPLIT: str, TASK: str})
    for column, default in ((METHOD, method), (RUN, run)):
        if column not in df.columns:
            df[column] = default if default is not None else path.stem
    return validate_predictions(df, source=str(path))


def write_predictions(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate and write a predictions table atomically (CSV, or Parquet by the suffix)."""
    path = Path(path)
    df = validate_predictions(df, source=str(path))
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, float_format="%.6g")
    logger.info("wrote %d prediction rows to %s", len(df), path)
    return path


def predictions_from_arrays(
    *,
    scan_ids: Sequence[str],
    cohorts: Sequence[str],
    splits: Sequence[str],
    labels: np.ndarray,
    probs: np.ndarray,
    method: str,
    run: str,
    task_names: Sequence[str] = TASK_NAMES,
) -> pd.DataFrame:
    """Build the long table from per-scan arrays ``labels``/``probs`` of shape (scans, tasks)."""
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=float)
    n, t = len(scan_ids), len(task_names)
    if labels.shape != (n, t) or probs.shape != (n, t):
        raise PredictionsError(
            f"labels {labels.shape} and probs {probs.shape} must both be (scans, tasks) = {(n, t)}"
        )
    df = pd.DataFrame(
        {
            SCAN_ID: np.repeat(np.asarray(scan_ids, dtype=str), t),
            COHORT: np.repeat(np.asarray(cohorts, dtype=str), t),
            SPLIT: np.repeat(np.asarray(splits, dtype=str), t),
            TASK: np.tile(np.asarray(task_names, dtype=object), n),
            LABEL: labels.reshape(-1),
            PROB: probs.reshape(-1),
            METHOD: method,
            RUN: run,
        }
    )
    return validate_predictions(df, source="arrays")


def sort_predictions(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one canonical order (method, run, scan_id, then the catalogue's task order).

    Prediction sharded or not, merged from parts in any order, gives the same table.
    """
    position = {name: i for i, name in enumerate(TASK_NAMES)}
    order = df.assign(_task=df[TASK].map(position)).sort_values(
        [METHOD, RUN, SCAN_ID, "_task"], kind="stable"
    )
    return order.drop(columns="_task").reset_index(drop=True)


def validate_predictions(df: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """Check the contract and return a clean copy (column order, dtypes, full task names).

    Row numbers in errors are file lines for CSV (header = line 1) and 0-based rows otherwise.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise PredictionsError(
            f"{source}: missing column(s) {missing}; required {list(REQUIRED)}, "
            f"found {list(df.columns)}"
        )
    out = df.reset_index(drop=True).copy()
    line = _row_namer(source)
    for column in (SCAN_ID, COHORT, SPLIT, TASK, METHOD, RUN):
        if column not in out.columns:
            out[column] = "default"
        bad = out[column].isna()
        if bad.any():
            raise PredictionsError(f"{source}: {line(_first(bad))}, column {column!r} is empty")
        out[column] = out[column].astype(str)
    _check_split(out, source, line)
    out[TASK] = _normalise_tasks(out[TASK], source, line)
    out[LABEL] = _check_labels(out[LABEL], source, line)
    out[PROB] = _check_probs(out[PROB], out[LABEL], source, line)
    dup = out.duplicated(list(KEY))
    if dup.any():
        i = _first(dup)
        raise PredictionsError(
            f"{source}: {line(i)} repeats scan {out.at[i, SCAN_ID]!r}, task "
            f"{out.at[i, TASK]!r} for method {out.at[i, METHOD]!r}, run {out.at[i, RUN]!r}"
        )
    return out[list(COLUMNS)]


def _row_namer(source: str) -> Callable[[int], str]:
    is_csv = source.lower().endswith(".csv")
    return (lambda i: f"line {i + 2}") if is_csv else (lambda i: f"row {i}")


def _first(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _check_split(df: pd.DataFrame, source: str, line: Callable[[int], str]) -> None:
    bad = ~df[SPLIT].isin(SPLITS)
    if bad.any():
        i = _first(bad)
        raise PredictionsError(
            f"{source}: {line(i)}, column 'split' is {df.at[i, SPLIT]!r}; expected one of {SPLITS}"
        )


def _normalise_tasks(tasks: pd.Series, source: str, line: Callable[[int], str]) -> pd.Series:
    mapping: dict[str, str] = {}
    for value in tasks.unique():
        try:
            mapping[value] = task_by_name(value).name
        except KeyError:
            i = _first(tasks == value)
            raise PredictionsError(
                f"{source}: {line(i)}, column 'task' is {value!r}, not a task of hyperct.tasks "
                f"(e.g. {TASKS[0].name!r} or {TASKS[0].short_name!r})"
            ) from None
    return tasks.map(mapping)


def _check_labels(labels: pd.Series, source: str, line: Callable[[int], str]) -> pd.Series:
    numeric = pd.to_numeric(labels, errors="coerce")
    bad = ~numeric.isin(LABEL_VALUES)
    if bad.any():
        i = _first(bad)
        raise PredictionsError(
            f"{source}: {line(i)}, column 'label' is {labels.iloc[i]!r}; expected 1, 0 or -1"
        )
    return numeric.astype(np.int8)


def _check_probs(
    probs: pd.Series, labels: pd.Series, source: str, line: Callable[[int], str]
) -> pd.Series:
    numeric = pd.to_numeric(probs, errors="coerce").astype(float)
    known = labels.to_numpy() != -1
    values = numeric.to_numpy()
    bad = known & ~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PredictionsError(
            f"{source}: {line(i)}, column 'prob' is {probs.iloc[i]!r}; expected a probability "
            "in [0, 1] (a logit? apply the sigmoid first)"
        )
    return numeric
