"""Segmentation and report metrics of a comparison's variants, read from their run folders.

Files read in a run folder, for a variant trained to that output:

* ``predictions.csv`` (:mod:`hyperct.inference.predictions`): the classification probabilities;
* ``reports.csv`` (:data:`hyperct.inference.reports.REPORTS`; ``scan_id, report``): the
  generated reports, scored against the ``report_text`` of the run's manifest on the scans of
  the split that have one;
* ``segmentation_findings.csv`` (:data:`hyperct.evaluation.segmentation_files.FINDINGS_CSV`,
  the per-finding table of ``hyperct evaluate-masks``: ``scan_id, finding, category, dice,
  matched_instances, pred_instances, ref_instances, hit``): the predicted masks' scores against
  the reference masks, of which the scans of the split are kept.

Metrics (:data:`METRICS`), per cohort: the mean over tasks of F1 (at each run's threshold
chosen on validation, :func:`hyperct.evaluation.metrics.task_metrics`) and of average precision
(mAP) - the AUCs are in the comparison's own tables; Global Dice and hit rate over all findings
(:mod:`hyperct.evaluation.segmentation_summary`); BLEU-4, ROUGE-L, CE macro-F1 and CRG
(:mod:`hyperct.evaluation.report_metrics`; METEOR is left out, it needs Java). Every run is
scored on its own; with folds, the folds' segmentation and report scans are also stacked (each
scan is tested in one fold) and scored once as the ``out-of-fold`` run, with bootstrap CIs over
scans for Dice, hit rate, CE-F1 and CRG. A variant whose file is missing gets no row, and a
warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn.metrics import average_precision_score

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.metrics import task_metrics
from hyperct.evaluation.report_metrics import ReportMetricsConfig, report_metrics
from hyperct.evaluation.segmentation_files import FINDINGS_CSV
from hyperct.evaluation.segmentation_summary import ALL, summary_table
from hyperct.inference.predictions import COHORT, LABEL, PROB, SPLIT, TASK, read_predictions
from hyperct.inference.reports import REPORTS
from hyperct.labels.io import read_csv_text

logger = logging.getLogger(__name__)

#: (output, metric) rows of the table, in order.
METRICS: tuple[tuple[str, str], ...] = (
    ("classification", "mean_f1"), ("classification", "map"),
    ("segmentation", "global_dice"), ("segmentation", "hit_rate"),
    ("report", "bleu_4"), ("report", "rouge_l"), ("report", "ce_macro_f1"), ("report", "crg"),
)
COLUMNS = ("variant", "run", "cohort", "output", "metric", "value", "ci_low", "ci_high",
           "n_scans")


@dataclass(frozen=True)
class ScoredRun:
    """One run to score: its variant and run names, folder, manifest and trained outputs."""

    variant: str
    run: str
    run_dir: Path
    manifest: pd.DataFrame
    outputs: tuple[str, ...]


def output_metrics(
    runs: Sequence[ScoredRun], split: str, n_resamples: int, pooled_run: str | None = None,
    folded: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows of :data:`COLUMNS` for every run's outputs on ``split``; with ``pooled_run`` (the
    folds' stacked run name) also the variant's folds stacked on the ``folded`` cohorts, whose
    scans each fold tests once (segmentation and report)."""
    config = BootstrapConfig(n_resamples=max(n_resamples, 10))
    rows: list[dict[str, object]] = []
    for variant in dict.fromkeys(r.variant for r in runs):
        own = [r for r in runs if r.variant == variant]
        for output, read, score in (("classification", _predictions, _score_predictions),
                                    ("segmentation", _findings, _score_findings),
                                    ("report", _report_pairs, _score_reports)):
            if output not in own[0].outputs:
                continue
            parts = [(r.run, read(r, split)) for r in own]
            parts = [(name, part) for name, part in parts if part is not None]
            if pooled_run is not None and len(parts) == len(own) and output != "classification":
                stacked = pd.concat([p for _, p in parts], ignore_index=True)
                parts.append((pooled_run, stacked[stacked["cohort"].isin(list(folded))]))
            for name, part in parts:
                for cohort, rows_ in part.groupby("cohort", sort=True):
                    rows += [{"variant": variant, "run": name, "cohort": cohort,
                              "output": output, **row} for row in score(rows_, config)]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    if n_resamples == 0:
        table[["ci_low", "ci_high"]] = np.nan
    return table


def _split_cohorts(run: ScoredRun, split: str) -> pd.Series:
    """Scan id -> cohort of the scans of ``split`` in the run's manifest."""
    rows = run.manifest[run.manifest["split"] == split]
    return pd.Series(rows["cohort"].to_numpy(), index=rows["scan_id"].astype(str))


def _predictions(run: ScoredRun, split: str) -> pd.DataFrame | None:
    """Per (cohort, task) of ``split``: labelled scans, F1 at the run's validation threshold
    (thresholds chosen over the whole table, as ``hyperct evaluate`` does) and average precision."""
    path = run.run_dir / "predictions.csv"
    if not path.is_file():
        logger.warning("%s: no predictions.csv; its classification is not scored", run.run_dir)
        return None
    predictions = read_predictions(path)
    metrics = task_metrics(predictions)
    metrics = metrics[metrics[SPLIT] == split][[COHORT, TASK, "n", "f1"]]
    rows = predictions[(predictions[SPLIT] == split) & (predictions[LABEL] != -1)]
    ap = {key: (average_precision_score(part[LABEL], part[PROB])
                if 0 < part[LABEL].sum() < len(part) else np.nan)
          for key, part in rows.groupby([COHORT, TASK], sort=False)}
    return metrics.assign(ap=[ap.get(key, np.nan) for key in zip(metrics[COHORT], metrics[TASK])])


def _score_predictions(tasks: pd.DataFrame, config: BootstrapConfig) -> list[dict[str, object]]:
    return [{"metric": metric, "value": tasks[column].mean(), "ci_low": np.nan,
             "ci_high": np.nan, "n_scans": int(tasks["n"].max())}
            for metric, column in (("mean_f1", "f1"), ("map", "ap"))]


def _findings(run: ScoredRun, split: str) -> pd.DataFrame | None:
    path = run.run_dir / FINDINGS_CSV
    if not path.is_file():
        logger.warning("%s: no %s; its segmentation is not scored", run.run_dir, FINDINGS_CSV)
        return None
    findings = pd.read_csv(path, dtype={"scan_id": str, "category": str})
    cohorts = _split_cohorts(run, split)
    findings = findings[findings["scan_id"].isin(cohorts.index)]
    return findings.assign(cohort=findings["scan_id"].map(cohorts))


def _report_pairs(run: ScoredRun, split: str) -> pd.DataFrame | None:
    path = run.run_dir / REPORTS
    if not path.is_file():
        logger.warning("%s: no %s; its reports are not scored", run.run_dir, REPORTS)
        return None
    if "report_text" not in run.manifest.columns:
        raise ValueError(f"{run.run_dir}: the run writes reports but its manifest has no "
                         "report_text column to score them against")
    generated = read_csv_text(path).set_index("scan_id")["report"]
    manifest = run.manifest.assign(scan_id=run.manifest["scan_id"].astype(str))
    reference = manifest[(manifest["split"] == split) & (manifest["report_text"].str.strip() != "")]
    missing = sorted(set(reference["scan_id"]) - set(generated.index))
    if missing:
        raise ValueError(f"{path}: no generated report for {len(missing)} {split} scan(s) "
                         f"with a reference report (e.g. {missing[:5]})")
    return pd.DataFrame({"scan_id": reference["scan_id"].to_numpy(),
                         "cohort": reference["cohort"].to_numpy(),
                         "generated": generated[reference["scan_id"]].to_numpy(),
                         "reference": reference["report_text"].to_numpy()})


def _score_findings(findings: pd.DataFrame, config: BootstrapConfig) -> list[dict[str, object]]:
    if findings.empty:
        return []
    summary = summary_table(findings, config)
    rows = summary[summary["category"] == ALL].set_index("metric")
    return [{"metric": metric, "value": rows.at[metric, "value"],
             "ci_low": rows.at[metric, "ci_low"], "ci_high": rows.at[metric, "ci_high"],
             "n_scans": int(rows.at[metric, "n_scans"])}
            for output, metric in METRICS if output == "segmentation"]


def _score_reports(pairs: pd.DataFrame, config: BootstrapConfig) -> list[dict[str, object]]:
    if pairs.empty:
        return []
    result = report_metrics(pairs["generated"].tolist(), pairs["reference"].tolist(),
                            ReportMetricsConfig(meteor=False, bootstrap=config))
    rows = []
    for output, metric in METRICS:
        if output != "report":
            continue
        low, high = result.intervals.get(metric, (np.nan, np.nan))
        rows.append({"metric": metric, "value": result.metrics[metric], "ci_low": low,
                     "ci_high": high, "n_scans": len(pairs)})
    return rows


def outputs_markdown(table: pd.DataFrame, variants: Sequence[str], pooled_run: str | None) -> str:
    """One table, metrics as rows and variants as columns: the value of a single run, mean ±
    sd over several, and with folds the stacked out-of-fold value with its CI."""
    if table.empty:
        return ""
    cols = [v for v in variants if v in set(table["variant"])]
    how = " (mean ± sd over folds; pooled out of fold with bootstrap 95% CI)" if pooled_run else ""
    lines: list[str] = []
    for cohort, rows in table.groupby("cohort", sort=False):
        lines += [f"### {cohort}: each variant's own outputs{how}", "",
                  "| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for _, metric in METRICS:
            cells = [_cell(rows[(rows["variant"] == v) & (rows["metric"] == metric)], pooled_run)
                     for v in cols]
            if any(cells):
                lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(rows: pd.DataFrame, pooled_run: str | None) -> str:
    runs = rows[rows["run"] != pooled_run]
    if runs.empty:
        return ""
    values = runs["value"].astype(float)
    text = f"{values.iloc[0]:.3f}" if len(values) == 1 else f"{values.mean():.3f} ± {values.std():.3f}"
    pooled = rows[rows["run"] == pooled_run]
    if pooled_run is not None and not pooled.empty:
        p = pooled.iloc[0]
        interval = "" if pd.isna(p["ci_low"]) else f" ({p['ci_low']:.3f} to {p['ci_high']:.3f})"
        text += f"; pooled {p['value']:.3f}{interval}"
    return text
