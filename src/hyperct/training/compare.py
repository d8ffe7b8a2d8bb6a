"""Train several methods with one config and summarise them like the paper's Table 1.

``<out>/<variant>/`` holds each run (finished runs are kept, stopped ones resumed); a variant is a
method, or ``<method>+anatomy`` when it trains with the auxiliary anatomy loss
(``anatomy="both"`` runs each method with and without it). ``<out>/predictions.csv`` stacks the
predictions (``method`` column: the variant); ``<out>/summary.csv`` and ``summary.md`` give the
AUC per task, per group (conventional / opportunistic) and overall, with variants as columns,
for each cohort of the chosen split; ``timing.csv`` the training seconds per step. With anatomy
pairs, ``anatomy_pairs.csv`` holds the paired bootstrap AUC difference (with - without) and its
confidence interval per task, group and overall.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from hyperct.evaluation.metrics import group_means, task_metrics
from hyperct.inference.predictions import read_predictions, write_predictions
from hyperct.tasks import TASK_NAMES
from hyperct.io.atomic import write_csv_atomic, write_text_atomic
from hyperct.inference.checkpoint import LAST
from hyperct.config.run import METHODS, ConfigError, TrainConfig
from hyperct.training.run_log import HISTORY, RECORD, read_history

logger = logging.getLogger(__name__)


#: Suffix of a variant trained with the auxiliary anatomy loss.
ANATOMY_SUFFIX = "+anatomy"
AnatomyMode = Literal["config", "off", "on", "both"]


@dataclass
class CompareResult:
    """Where the comparison's tables are, and the summary itself."""

    predictions_path: Path
    summary_path: Path
    summary: pd.DataFrame
    markdown: str
    timing: pd.DataFrame
    anatomy_pairs: pd.DataFrame | None = None


@dataclass(frozen=True)
class Variant:
    """One run of a comparison: a method, with or without anatomy supervision."""

    method: str
    anatomy: bool

    @property
    def name(self) -> str:
        return self.method + (ANATOMY_SUFFIX if self.anatomy else "")


def variants(cfg: TrainConfig, methods: Sequence[str], anatomy: AnatomyMode) -> list[Variant]:
    """The runs of a comparison: ``config`` keeps the config's ``anatomy.enabled``, ``off`` /
    ``on`` force it, ``both`` trains each method without and with it."""
    flags = {
        "config": [bool(cfg.anatomy.get("enabled"))], "off": [False], "on": [True],
        "both": [False, True],
    }
    if anatomy not in flags:
        raise ConfigError(f"--anatomy must be one of {sorted(flags)}, got {anatomy!r}")
    return [Variant(m, flag) for m in methods for flag in flags[anatomy]]


def compare_methods(
    *,
    cfg: TrainConfig,
    methods: Sequence[str],
    out: str | Path,
    split: str = "test",
    anatomy: AnatomyMode = "config",
    bootstrap: int = 1000,
) -> CompareResult:
    """Train every variant into ``out/<variant>`` and write the joint tables.

    ``bootstrap``: resamples of the paired with/without-anatomy test (0: no test).
    """
    from hyperct.training.runs import train

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown {unknown or 'none given'}; choose from {METHODS}")
    out = Path(out)
    runs = variants(cfg, methods, anatomy)
    for variant in runs:
        run_dir = out / variant.name
        if (run_dir / RECORD).is_file() and variant.method != "stl":
            logger.info("%s: finished run in %s kept", variant.name, run_dir)
            continue
        sub = dataclasses.replace(
            cfg, method=variant.method, output_dir=str(run_dir),
            anatomy={**cfg.anatomy, "enabled": variant.anatomy},
        )
        train(sub, resume=variant.method != "stl" and (run_dir / LAST).is_file())
    table = pd.concat(
        [read_predictions(out / v.name / "predictions.csv").assign(method=v.name) for v in runs],
        ignore_index=True,
    )
    predictions_path = write_predictions(table, out / "predictions.csv")
    names = [v.name for v in runs]
    summary = summary_table(table, split)
    summary = summary[["cohort", "row", *[n for n in names if n in summary.columns]]]
    summary_path = write_csv_atomic(summary, out / "summary.csv", float_format="%.4f")
    timing = timing_table(out, runs)
    write_csv_atomic(timing, out / "timing.csv", float_format="%.4f")
    pairs = anatomy_pairs(table, runs, split, bootstrap) if bootstrap else None
    if pairs is not None:
        write_csv_atomic(pairs, out / "anatomy_pairs.csv", float_format="%.4f")
    markdown = "\n".join([summary_markdown(summary, names), timing_markdown(timing),
                          pairs_markdown(pairs) if pairs is not None else ""]).rstrip() + "\n"
    write_text_atomic(out / "summary.md", markdown)
    return CompareResult(predictions_path, summary_path, summary, markdown, timing, pairs)


def timing_table(out: Path, runs: Sequence[Variant]) -> pd.DataFrame:
    """Median training seconds per optimizer step over each run's epochs, and the anatomy
    variant's ratio to the same method without it."""
    rows = []
    for variant in runs:
        history = read_history(out / variant.name / HISTORY)
        per_step = [
            float(r["train_seconds"]) / float(r["steps"])
            for r in history
            if r.get("train_seconds") not in (None, "") and float(r.get("steps") or 0) > 0
        ]
        rows.append({"variant": variant.name, "method": variant.method,
                     "anatomy": variant.anatomy, "epochs": len(history),
                     "seconds_per_step": float(np.median(per_step)) if per_step else np.nan})
    timing = pd.DataFrame(rows)
    plain = timing[~timing["anatomy"]].set_index("method")["seconds_per_step"]
    timing["ratio_to_without_anatomy"] = [
        row.seconds_per_step / plain[row.method] if row.anatomy and row.method in plain else np.nan
        for row in timing.itertuples()
    ]
    return timing


def anatomy_pairs(
    table: pd.DataFrame, runs: Sequence[Variant], split: str, n_resamples: int
) -> pd.DataFrame | None:
    """Paired bootstrap AUC difference (with anatomy - without) of every method run both ways,
    on ``split``; None when no method was."""
    from hyperct.evaluation.bootstrap import BootstrapConfig, paired_difference_table

    names = {v.name for v in runs}
    rows = table[table["split"] == split]
    frames = []
    for variant in runs:
        with_name = variant.name + ANATOMY_SUFFIX
        if variant.anatomy or with_name not in names:
            continue
        diff = paired_difference_table(
            rows, (variant.name, variant.name), (with_name, with_name),
            BootstrapConfig(n_resamples=n_resamples),
        )
        frames.append(diff.assign(method=variant.method))
    return pd.concat(frames, ignore_index=True) if frames else None


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


def timing_markdown(timing: pd.DataFrame) -> str:
    """Training seconds per step, one row per variant."""
    lines = ["### training time", "", "| | s/step | x without anatomy |", "|---|---:|---:|"]
    for row in timing.itertuples():
        ratio = "" if pd.isna(row.ratio_to_without_anatomy) else f"{row.ratio_to_without_anatomy:.2f}"
        lines.append(f"| {row.variant} | {row.seconds_per_step:.3f} | {ratio} |")
    return "\n".join(lines) + "\n"


def pairs_markdown(pairs: pd.DataFrame) -> str:
    """Group and overall AUC differences (with - without anatomy) with their intervals."""
    lines = ["### anatomy: AUC with - without (paired bootstrap 95% CI)", "",
             "| cohort | method | row | without | with | difference (CI) | p |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in pairs[pairs["level"] != "task"].itertuples():
        lines.append(
            f"| {row.cohort} | {row.method} | {row.name} | {row.auc_reference:.3f} | "
            f"{row.auc_other:.3f} | {row.difference:+.3f} ({row.ci_low:+.3f} to "
            f"{row.ci_high:+.3f}) | {row.p_value:.3f} |"
        )
    return "\n".join(lines) + "\n"
