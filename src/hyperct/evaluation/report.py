"""`hyperct evaluate`: tables, plots and one self-contained HTML page for one or more runs.

>>> from hyperct.evaluation.report import evaluate          # doctest: +SKIP
>>> result = evaluate(runs=["runs/hyperct"], predictions=["vendor.csv"], out="eval")  # +SKIP
>>> result.report                                            # doctest: +SKIP
PosixPath('eval/report.html')

The first source is the reference of the paired comparisons. Outputs in ``out``: report.html,
metrics.csv, group_means.csv, auc_ci.csv, paired_differences.csv, decision_curves.csv,
calibration.csv, summary.json and plots/*.png.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from hyperct import __version__
from hyperct.evaluation import html
from hyperct.evaluation.plots import (
    calibration_figure,
    decision_curve_figure,
    png_base64,
    roc_figure,
    save_png,
)
from hyperct.inference.predictions import COHORT, SPLIT
from hyperct.evaluation.report_extras import (
    lora_section,
    report_metrics_section,
    saliency_section,
    segmentation_section,
)
from hyperct.evaluation.run_outputs import RunReferences, run_output_sections
from hyperct.evaluation.sources import Source, load_sources, model_order
from hyperct.evaluation.tables import EvaluationConfig, EvaluationTables, compute_tables
from hyperct.io.atomic import write_csv_atomic, write_text_atomic

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """Where everything was written, and the tables themselves."""

    out_dir: Path
    report: Path
    files: list[Path] = field(default_factory=list)
    tables: EvaluationTables | None = None


def evaluate(
    *,
    runs: Sequence[str | Path] = (),
    predictions: Sequence[str | Path] = (),
    out: str | Path | None = None,
    config: EvaluationConfig = EvaluationConfig(),
    lora: bool = True,
    segmentation: str | Path | None = None,
    report_metrics: str | Path | None = None,
    references: RunReferences | None = None,
    meteor: bool = True,
    sections: Sequence[html.Section] = (),
) -> EvaluationResult:
    """Evaluate RUN folders and predictions files and write the report to ``out``.

    ``out`` defaults to ``<first RUN>/evaluation`` (or ``./evaluation`` for a file). With
    ``lora`` the LoRA analysis of a HyperCT checkpoint in the first RUN is included;
    ``segmentation`` (the summary CSV of ``hyperct evaluate-masks``) and ``report_metrics`` (the
    JSON of ``hyperct evaluate-reports``) add their sections. The masks, reports and fusion
    attention a segmenting run's prediction wrote into the first RUN add theirs
    (:mod:`hyperct.evaluation.run_outputs`; ``references``: the manifest and cache to score
    them against, default the run's own; ``meteor`` off skips METEOR there). ``sections`` are
    appended as given (the demo's UniCT example).
    """
    df, sources = load_sources([*runs, *predictions])
    out_dir = Path(out) if out is not None else _default_out(sources[0])
    models = model_order(df)
    logger.info("evaluating %d model(s) on %d rows: %s", len(models), len(df), ", ".join(models))
    tables = compute_tables(df, models, config)
    files = _write_tables(tables, out_dir)
    figures, plot_files = _write_plots(tables, models, out_dir / "plots")
    extras = [
        saliency_section(sources),
        segmentation_section(Path(segmentation) if segmentation is not None else None),
        report_metrics_section(Path(report_metrics) if report_metrics is not None else None),
    ]
    skip = [k for k, v in (("segmentation", segmentation), ("reports", report_metrics)) if v]
    extras += run_output_sections(sources[0], out_dir, config.splits, config.bootstrap,
                                  references, skip, meteor)
    if lora:
        extras.insert(0, lora_section(sources, out_dir / "plots"))
    sections = [*_sections(tables, models, figures), *(s for s in extras if s is not None),
                *sections]
    report = out_dir / "report.html"
    write_text_atomic(report, html.page("hyperct evaluation", _meta(sources, config), sections))
    files += [*plot_files, _write_summary(tables, sources, config, out_dir)]
    logger.info("report written to %s", report)
    return EvaluationResult(out_dir=out_dir, report=report, files=[report, *files], tables=tables)


def _default_out(first: Source) -> Path:
    return (first.run_dir / "evaluation") if first.run_dir is not None else Path("evaluation")


def _subsets(tables: EvaluationTables) -> list[tuple[str, str]]:
    """(cohort, split) pairs in order of first appearance."""
    pairs = tables.evaluated[[COHORT, SPLIT]].drop_duplicates()
    return [tuple(p) for p in pairs.to_numpy().tolist()]


def _write_tables(tables: EvaluationTables, out_dir: Path) -> list[Path]:
    return [
        write_csv_atomic(table, out_dir / name, float_format="%.6g")
        for name, table in tables.as_files().items()
    ]


def _write_plots(
    tables: EvaluationTables, models: list[str], plot_dir: Path
) -> tuple[dict[tuple[str, str], list[tuple[str, str]]], list[Path]]:
    """Three figures per (cohort, split); returns embedded sources + captions, and the files."""
    figures: dict[tuple[str, str], list[tuple[str, str]]] = {}
    files = []
    for cohort, split in _subsets(tables):
        rows = tables.evaluated[
            (tables.evaluated[COHORT] == cohort) & (tables.evaluated[SPLIT] == split)
        ]
        curves = tables.decision_curves[
            (tables.decision_curves[COHORT] == cohort) & (tables.decision_curves[SPLIT] == split)
        ]
        where = f"{cohort}, {split}"
        made = [
            ("roc", roc_figure(rows, models, f"ROC curves ({where})")),
            (
                "decision_curves",
                decision_curve_figure(curves, models, f"Decision curves ({where})"),
            ),
            ("calibration", calibration_figure(rows, models, f"Reliability diagrams ({where})")),
        ]
        for kind, fig in made:
            path = save_png(fig, plot_dir / f"{kind}_{_slug(cohort)}_{_slug(split)}.png")
            files.append(path)
            caption = f"{kind.replace('_', ' ')}: {where}; opportunistic tasks titled in orange"
            figures.setdefault((cohort, split), []).append((png_base64(path), caption))
    return figures, files


def _sections(
    tables: EvaluationTables,
    models: list[str],
    figures: dict[tuple[str, str], list[tuple[str, str]]],
) -> list[html.Section]:
    sections = [html.Section("Summary", _summary_body(tables, models), "summary")]
    for cohort, split in _subsets(tables):
        body = _subset_body(tables, models, cohort, split, figures.get((cohort, split), []))
        anchor = f"{_slug(cohort)}-{_slug(split)}"
        sections.append(html.Section(f"Cohort {cohort}, {split} split", body, anchor))
    return sections


def _summary_body(tables: EvaluationTables, models: list[str]) -> str:
    means = tables.auc_ci[tables.auc_ci["level"] != "task"] if not tables.auc_ci.empty else None
    if means is None:
        return "<p class=note>No AUC could be computed.</p>"
    return (
        "<p class=note>Mean AUC over tasks (bootstrap CI) per cohort and split; details, "
        "paired tests and curves in the sections below.</p>" + html.summary_table(means, models)
    )


def _subset_body(
    tables: EvaluationTables,
    models: list[str],
    cohort: str,
    split: str,
    figures: list[tuple[str, str]],
) -> str:
    def pick(table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table
        return table[(table[COHORT] == cohort) & (table[SPLIT] == split)]

    ci = pick(tables.auc_ci)
    metrics = pick(tables.metrics)
    counts = metrics[metrics["model"] == models[0]].set_index("task")[["n", "n_pos"]]
    parts = [
        "<h3>AUC with bootstrap CI</h3>",
        f"<p class=note>{int(ci['n_scans'].max()) if not ci.empty else 0} scans; "
        "percentile bootstrap over scans; means average the tasks with a defined AUC.</p>",
        html.auc_table(ci, counts, models),
    ]
    diff = pick(tables.differences)
    if not diff.empty:
        parts += [
            f"<h3>Paired differences vs {html.escape(models[0])}</h3>",
            "<p class=note>Paired bootstrap on the scans both models predicted; two-sided p.</p>",
            html.difference_table(diff, models[1:], models[0]),
        ]
    for model in models:
        rows = metrics[metrics["model"] == model]
        if not rows.empty:
            parts.append(
                f"<details><summary>Operating point metrics: {html.escape(model)}</summary>"
                + html.operating_table(rows)
                + "</details>"
            )
    parts += [html.figure(src, caption) for src, caption in figures]
    return "".join(parts)


def _meta(sources: list[Source], config: EvaluationConfig) -> str:
    names = ", ".join(html.escape(str(s.predictions_path)) for s in sources)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    b = config.bootstrap
    return (
        f"hyperct {__version__}, {stamp}. Sources: {names}. Bootstrap: {b.n_resamples} resamples, "
        f"seed {b.seed}, {b.level:.0%} percentile intervals. Operating point: Youden's J on the "
        f"{config.operating_point.select_split} split."
    )


def _write_summary(
    tables: EvaluationTables, sources: list[Source], config: EvaluationConfig, out_dir: Path
) -> Path:
    ci = tables.auc_ci
    headline = ci[ci["level"] != "task"] if not ci.empty else ci
    summary = {
        "hyperct_version": __version__,
        "sources": [str(s.predictions_path) for s in sources],
        "config": asdict(config),
        "headline": _records(headline),
    }
    path = out_dir / "summary.json"
    write_text_atomic(path, json.dumps(summary, indent=2, default=str) + "\n")
    return path


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON-ready dicts: NaN becomes null, numpy scalars plain numbers."""
    clean = table.astype(object).where(table.notna(), None)
    return json.loads(clean.to_json(orient="records"))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())
