"""Compare predicted report labels with gold labels: per-finding and macro/micro scores.

Gold label sets such as CT-RATE are binary (0 also means "not mentioned"), so -1 is read as 0 on
both sides before comparing. Disagreements are listed with the evidence that decided them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hyperct.tasks import CONVENTIONAL

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Per-finding precision/recall/F1/support, macro and micro F1, and the disagreements."""

    per_task: pd.DataFrame
    macro_f1: float
    micro_f1: float
    disagreements: pd.DataFrame
    problems: list[str] = field(default_factory=list)


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _binary(values: pd.Series, where: str, problems: list[str]) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna() | ~numbers.isin([1, 0, -1])]
    for idx, raw in bad.head(5).items():
        problems.append(f"{where}: row with id {idx!r} has label {raw!r} (expected 1, 0 or -1)")
    return (numbers == 1).astype(int)


def evaluate_labels(
    pred: pd.DataFrame,
    gold: pd.DataFrame,
    id_column: str = "AccessionNo",
    tasks: list[str] | None = None,
    evidence: pd.DataFrame | None = None,
) -> Evaluation:
    """Score ``pred`` against ``gold`` on the ids both hold, for the tasks both hold."""
    problems: list[str] = []
    for name, df in (("predictions", pred), ("gold", gold)):
        if id_column not in df.columns:
            raise ValueError(f"{name}: no id column {id_column!r}; columns are {list(df.columns)}")
    pred = pred.assign(**{id_column: pred[id_column].astype(str)}).set_index(id_column)
    gold = gold.assign(**{id_column: gold[id_column].astype(str)}).set_index(id_column)
    tasks = tasks or [
        t.name for t in CONVENTIONAL if t.name in pred.columns and t.name in gold.columns
    ]
    if not tasks:
        raise ValueError("predictions and gold share no task column")
    only_gold = gold.index.difference(pred.index)
    if len(only_gold):
        problems.append(
            f"{len(only_gold)} gold id(s) have no prediction, e.g. {list(only_gold[:5])}"
        )
    ids = gold.index.intersection(pred.index)
    rows, disagreements = [], []
    totals = [0, 0, 0]
    for task in tasks:
        p = _binary(pred.loc[ids, task], f"predictions column {task!r}", problems)
        g = _binary(gold.loc[ids, task], f"gold column {task!r}", problems)
        tp, fp, fn = (
            int(((p == 1) & (g == 1)).sum()),
            int(((p == 1) & (g == 0)).sum()),
            int(((p == 0) & (g == 1)).sum()),
        )
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
        precision, recall, f1 = _f1(tp, fp, fn)
        rows.append(
            {
                "task": task,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": int(g.sum()),
                "tp": tp,
                "fp": fp,
                "fn": fn,
            }
        )
        for report_id in ids[(p != g).to_numpy()]:
            disagreements.append(
                {
                    id_column: report_id,
                    "task": task,
                    "pred": int(p[report_id]),
                    "gold": int(g[report_id]),
                }
            )
    per_task = pd.DataFrame(rows)
    table = pd.DataFrame(disagreements, columns=[id_column, "task", "pred", "gold"])
    if evidence is not None and len(table):
        ev = evidence.assign(**{id_column: evidence[id_column].astype(str)})
        ev = ev[[id_column, "task", "status", "sentence", "phrase", "cue"]]
        table = table.merge(ev, on=[id_column, "task"], how="left")
    return Evaluation(per_task, float(per_task["f1"].mean()), _f1(*totals)[2], table, problems)


def evaluate_files(
    pred_path: str | Path,
    gold_path: str | Path,
    id_column: str = "AccessionNo",
    evidence_path: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> Evaluation:
    """File version of :func:`evaluate_labels`; evidence defaults to ``<pred>.evidence.csv``."""
    from hyperct.io.atomic import write_csv_atomic
    from hyperct.labels.io import read_csv_text

    pred_path = Path(pred_path)
    evidence_file = Path(evidence_path) if evidence_path else pred_path.with_suffix(".evidence.csv")
    evidence = read_csv_text(evidence_file) if evidence_file.is_file() else None
    result = evaluate_labels(
        read_csv_text(pred_path), read_csv_text(gold_path), id_column, evidence=evidence
    )
    if out_dir is not None:
        write_csv_atomic(result.per_task, Path(out_dir) / "per_task.csv")
        write_csv_atomic(result.disagreements, Path(out_dir) / "disagreements.csv")
    return result
