"""Train several methods with one config and summarise them like the paper's Table 1.

``<out>/<method>/`` holds each method's run (finished runs are kept, stopped ones resumed);
``<out>/predictions.csv`` stacks their predictions (``method`` column); ``<out>/summary.csv`` and
``summary.md`` give the AUC per task, per group (conventional / opportunistic) and overall, with
methods as columns, for each cohort of the chosen split.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hyperct.evaluation.metrics import group_means, task_metrics
from hyperct.evaluation.predictions import read_predictions, write_predictions
from hyperct.tasks import TASK_NAMES
from hyperct.io.atomic import write_atomic, write_text_atomic
from hyperct.training.checkpoint import LAST
from hyperct.training.config import METHODS, ConfigError, TrainConfig
from hyperct.training.run_log import RECORD

logger = logging.getLogger(__name__)


@dataclass
class CompareResult:
    """Where the comparison's tables are, and the summary itself."""

    predictions_path: Path
    summary_path: Path
    summary: pd.DataFrame
    markdown: str


def compare_methods(
    *, cfg: TrainConfig, methods: Sequence[str], out: str | Path, split: str = "test"
) -> CompareResult:
    """Train every method of ``methods`` into ``out/<method>`` and write the joint tables."""
    from hyperct.training.trainer import train

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown {unknown or 'none given'}; choose from {METHODS}")
    out = Path(out)
    for method in methods:
        run_dir = out / method
        if (run_dir / RECORD).is_file() and method != "stl":
            logger.info("%s: finished run in %s kept", method, run_dir)
            continue
        sub = dataclasses.replace(cfg, method=method, output_dir=str(run_dir))
        train(sub, resume=method != "stl" and (run_dir / LAST).is_file())
    table = pd.concat([read_predictions(out / m / "predictions.csv") for m in methods],
                      ignore_index=True)
    predictions_path = write_predictions(table, out / "predictions.csv")
    summary = summary_table(table, split)
    summary = summary[["cohort", "row", *[m for m in methods if m in summary.columns]]]
    summary_path = write_atomic(out / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False,
                                                                                float_format="%.4f"))
    markdown = summary_markdown(summary, list(methods))
    write_text_atomic(out / "summary.md", markdown)
    return CompareResult(predictions_path, summary_path, summary, markdown)


def summary_table(predictions: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """AUC per (cohort, row) with one column per method; rows: tasks, then group means."""
    if not (predictions["split"] == split).any():
        raise ValueError(f"no predictions on split {split!r} to summarise")
    metrics = task_metrics(predictions)  # thresholds come from val; AUC needs none
    metrics = metrics[metrics["split"] == split]
    tasks = metrics[["method", "cohort", "task", "auc"]].rename(columns={"task": "row"})
    groups = group_means(metrics)[["method", "cohort", "name", "auc"]]
    groups = groups.rename(columns={"name": "row"}).assign(row=lambda d: "mean AUC: " + d["row"])
    long = pd.concat([tasks, groups], ignore_index=True)
    wide = long.pivot_table(index=["cohort", "row"], columns="method", values="auc", sort=False,
                            dropna=False)
    order = {name: i for i, name in enumerate(TASK_NAMES)}
    wide = wide.reset_index()
    wide["_o"] = wide["row"].map(lambda r: order.get(r, len(order)))
    return wide.sort_values(["cohort", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def summary_markdown(summary: pd.DataFrame, methods: Sequence[str]) -> str:
    """The summary as one markdown table per cohort."""
    cols = [m for m in methods if m in summary.columns]
    lines: list[str] = []
    for cohort, rows in summary.groupby("cohort", sort=False):
        lines += [f"### {cohort}", "", "| | " + " | ".join(cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for _, row in rows.iterrows():
            cells = ["" if pd.isna(row[c]) else f"{row[c]:.3f}" for c in cols]
            lines.append(f"| {row['row']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
