"""Label a table of reports with one method and write labels, evidence and failures.

A report the rules labeler cannot read (not English) keeps -1 for every finding; its evidence
rows have status "not labelled" and say why.

Failed reports (empty text, an LLM reply that never validated) get -1 for every finding and a
line in ``failures``; the job goes on and the caller exits non-zero at the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hyperct.labels.reports.outcome import EVIDENCE_COLUMNS, FINDINGS, ReportOutcome
from hyperct.labels.reports.rules import RulesConfig, label_report
from hyperct.labels.reports.table import ReportColumns, check_reports, read_reports, text_problem

logger = logging.getLogger(__name__)
METHODS = ("rules", "llm", "learned")
#: What a finding the report never mentions becomes: -1 (not available, the default) or 0
#: (absent: CT-RATE's convention, under which models like the paper's were trained).
UNMENTIONED = {"missing": -1, "absent": 0}


@dataclass
class LabelRun:
    """Labels (id + 18 findings), evidence (one row per decided finding) and failures."""

    labels: pd.DataFrame
    evidence: pd.DataFrame
    failures: list[str] = field(default_factory=list)


def rules_outcome(text: str, config: RulesConfig | None = None) -> ReportOutcome:
    """Run the rules labeler on one report and turn its mentions into evidence rows."""
    result = label_report(text, config)
    if result.not_labelled:
        evidence = [
            {"task": task, "label": -1, "status": "not labelled", "sentence": "", "phrase": "",
             "cue": result.not_labelled, "method": "rules"}
            for task in result.labels
        ]
        return ReportOutcome(labels=result.labels, evidence=evidence)
    evidence = [
        {
            "task": task,
            "label": result.labels[task],
            "status": m.status.value,
            "sentence": m.sentence,
            "phrase": m.phrase,
            "cue": m.cue,
            "method": "rules",
        }
        for task, m in result.evidence.items()
    ]
    return ReportOutcome(labels=result.labels, evidence=evidence)


def _label_texts(texts: list[str], method: str, options: dict[str, Any]) -> list[ReportOutcome]:
    needed = {"llm": "llm_config", "learned": "model_path"}.get(method)
    if needed and options.get(needed) is None:
        raise ValueError(f"method {method!r} needs the option {needed}")
    if method == "rules":
        config = options.get("rules_config")
        return [rules_outcome(t, config) for t in texts]
    if method == "llm":
        from hyperct.labels.reports.llm import LLMLabeler

        return LLMLabeler(options["llm_config"]).label_texts(texts)
    if method == "learned":
        from hyperct.labels.reports.learned import load_learned

        return load_learned(options["model_path"]).label_texts(texts)
    raise ValueError(f"unknown labelling method {method!r}; choose one of {METHODS}")


def label_reports(
    reports: pd.DataFrame,
    method: str = "rules",
    columns: ReportColumns | None = None,
    unmentioned: str = "missing",
    **options: Any,
) -> LabelRun:
    """Label every report of a validated table; options: rules_config, llm_config, model_path.

    ``unmentioned`` ("missing" or "absent") decides what a finding the report never mentions
    becomes; a report that failed keeps -1 for every finding either way.
    """
    if unmentioned not in UNMENTIONED:
        raise ValueError(f"unmentioned must be one of {sorted(UNMENTIONED)}, got {unmentioned!r}")
    columns = columns or ReportColumns()
    reports = check_reports(reports, columns)
    ids = reports[columns.id_column].tolist()
    problems = [text_problem(t) for t in reports[columns.text_column]]
    usable = [i for i, p in enumerate(problems) if not p]
    outcomes = dict(
        zip(
            usable, _label_texts([reports[columns.text_column][i] for i in usable], method, options)
        )
    )
    rows, evidence, failures = [], [], []
    for i, report_id in enumerate(ids):
        outcome = outcomes.get(i) or ReportOutcome.failed(problems[i])
        if outcome.labels is None:
            failures.append(f"row {i + 2} ({columns.id_column}={report_id}): {outcome.error}")
            labels = {t: -1 for t in FINDINGS}
        else:
            labels = {t: UNMENTIONED[unmentioned] if v == -1 else v
                      for t, v in outcome.labels.items()}
        rows.append({columns.id_column: report_id, **{t: int(labels[t]) for t in FINDINGS}})
        evidence += [{columns.id_column: report_id, **e} for e in outcome.evidence]
    logger.info("labelled %d reports with %s (%d failed)", len(ids), method, len(failures))
    return LabelRun(
        labels=pd.DataFrame(rows, columns=[columns.id_column, *FINDINGS]),
        evidence=pd.DataFrame(evidence, columns=[columns.id_column, *EVIDENCE_COLUMNS]),
        failures=failures,
    )


def label_reports_file(
    reports_path: str | Path,
    out_path: str | Path,
    method: str = "rules",
    columns: ReportColumns | None = None,
    evidence_path: str | Path | None = None,
    into: str | Path | None = None,
    unmentioned: str = "missing",
    **options: Any,
) -> LabelRun:
    """Read, label, write labels, evidence (default ``<out>.evidence.csv``) and the manifest."""
    from hyperct.io.atomic import write_csv_atomic
    from hyperct.labels.io import update_manifest

    columns = columns or ReportColumns()
    run = label_reports(read_reports(reports_path, columns), method, columns, unmentioned,
                        **options)
    write_csv_atomic(run.labels, out_path)
    write_csv_atomic(run.evidence, evidence_path or Path(out_path).with_suffix(".evidence.csv"))
    if into is not None:
        unknown = update_manifest(into, run.labels, columns.id_column)
        run.failures += [f"{into}: id {u!r} is not in the manifest" for u in unknown]
    return run
