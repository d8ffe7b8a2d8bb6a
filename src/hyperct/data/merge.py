"""Merge a label table (from the report labeler or the echo matcher) into a manifest by scan id."""

from __future__ import annotations

import logging

import pandas as pd

from hyperct.data.manifest import parse_labels
from hyperct.tasks import LABEL_MISSING, TASK_NAMES, task_by_name

logger = logging.getLogger(__name__)


def merge_labels(
    manifest: pd.DataFrame, labels: pd.DataFrame, id_column: str = "scan_id"
) -> pd.DataFrame:
    """Return a copy of ``manifest`` whose task columns take their values from ``labels``.

    ``labels`` has ``id_column`` (matched to the manifest's ``scan_id``) and any task columns,
    named by task name or short name; its other columns are ignored. For each task column in
    ``labels``, matched scans get the table's value (the table is the authority, -1 included);
    scans absent from the table keep their value (-1 if the manifest lacked the column). Label
    values must be 1, 0 or -1: a blank or other value is an error naming the row and column.
    """
    if id_column not in labels.columns:
        raise ValueError(
            f"label table has no id column {id_column!r}; columns: {list(labels.columns)}"
        )
    task_columns = _task_columns(labels, id_column)
    table = labels.rename(columns=task_columns).copy()
    table[id_column] = table[id_column].astype(str).str.strip()
    dup = table[id_column][table[id_column].duplicated()]
    if len(dup):
        raise ValueError(f"label table: duplicate {id_column} value(s) {dup.unique()[:5].tolist()}")
    problems: list[str] = []
    locate = {
        idx: f"label table row {pos + 1} ({id_column}={sid})"
        for pos, (idx, sid) in enumerate(table[id_column].items())
    }
    for task in task_columns.values():
        table[task] = parse_labels(table[task], task, locate, problems)
    if problems:
        raise ValueError(
            "label table: "
            + "; ".join(problems[:20])
            + (f" ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
    return _apply(manifest, table.set_index(id_column), list(task_columns.values()))


def _task_columns(labels: pd.DataFrame, id_column: str) -> dict[str, str]:
    mapping = {}
    for col in labels.columns:
        if col == id_column:
            continue
        try:
            mapping[col] = task_by_name(str(col)).name
        except KeyError:
            logger.debug("label table column %r is not a task, ignored", col)
    if not mapping:
        raise ValueError(f"label table has no task columns; columns: {list(labels.columns)}")
    return mapping


def _apply(manifest: pd.DataFrame, table: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    out = manifest.copy()
    ids = out["scan_id"].astype(str)
    unknown = table.index.difference(pd.Index(ids))
    if len(unknown):
        logger.warning(
            "%d labelled scan(s) are not in the manifest, ignored (e.g. %s)",
            len(unknown),
            list(unknown[:3]),
        )
    matched = ids.isin(table.index)
    for task in tasks:
        current = out[task] if task in out.columns else pd.Series(LABEL_MISSING, index=out.index)
        values = ids[matched].map(table[task])
        out[task] = current.where(~matched, values).astype("int8")
    logger.info(
        "merged %d task column(s) for %d of %d scans", len(tasks), int(matched.sum()), len(out)
    )
    return out[
        [c for c in out.columns if c not in TASK_NAMES]
        + [t for t in TASK_NAMES if t in out.columns]
    ]
