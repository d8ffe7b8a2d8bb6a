"""Phantom cohorts for benchmarks, labelled with the generator's true labels.

A phantom manifest leaves labels to curation (all -1); benchmarks that measure a model rather
than the labelers train on the truth instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hyperct.io.atomic import write_csv_atomic
from hyperct.phantom.cohort import generate_cohort
from hyperct.phantom.config import PhantomConfig
from hyperct.tasks import TASK_NAMES

TRUE_LABELS_MANIFEST = "manifest_true_labels.csv"
REPORTS_MANIFEST = "manifest_true_labels_reports.csv"


def true_label_manifest(
    config: PhantomConfig, folder: Path, tasks: Sequence[str] = TASK_NAMES
) -> Path:
    """Generate the cohort into ``folder`` (unless an earlier call did) and write a manifest
    beside the phantom's whose ``tasks`` columns hold the true labels."""
    labelled = folder / TRUE_LABELS_MANIFEST
    if labelled.is_file():
        return labelled
    paths = generate_cohort(config, folder)
    manifest = pd.read_csv(paths.manifest)
    truth = pd.read_csv(paths.ground_truth).set_index("scan_id")
    for task in tasks:
        manifest[task] = manifest["scan_id"].map(truth[task]).astype(int)
    return write_csv_atomic(manifest, labelled)


def attach_reports(table: pd.DataFrame, reports: Path) -> pd.DataFrame:
    """``table`` with each scan's ``report_text`` from the phantom's ``reports.csv`` (NaN for a
    scan without a report: the phantom writes none for prospective scans)."""
    texts = pd.read_csv(reports).set_index("AccessionNo")["report_text"]
    return table.assign(report_text=table["scan_id"].map(texts))


def true_label_report_manifest(
    config: PhantomConfig, folder: Path, tasks: Sequence[str] = TASK_NAMES
) -> Path:
    """:func:`true_label_manifest` with each scan's ``report_text`` as well (kept from an earlier
    call), for models that learn labels and reports together."""
    out = folder / REPORTS_MANIFEST
    if out.is_file():
        return out
    table = pd.read_csv(true_label_manifest(config, folder, tasks))
    return write_csv_atomic(attach_reports(table, folder / "reports.csv"), out)
