"""Generate a synthetic cohort on disk: CT files, masks, manifest, reports, echo exams, truth.

Layout of ``out_dir``::

    ct/<scan_id>.nii.gz               int16 HU (a few scans instead as DICOM: dicom/<scan_id>/)
    masks/<scan_id>_anatomy.nii.gz    uint8, TotalSegmentator v2 ids
    masks/<scan_id>_findings.nii.gz   uint32, bit k set where conventional task id k is drawn
    manifest.csv                      the standard manifest; all 25 task columns are -1
    reports.csv                       AccessionNo (= scan_id), report_text (not prospective)
    echo.csv                          one row per echo exam (columns: cardiac.ECHO_COLUMNS)
    ground_truth.csv                  true labels + what each report states + expected echo labels
    preview/<scan_id>.png             with config.preview > 0

Labels are not given in the manifest: they come from the report labeler and echo matching, the
same code path as real data. Scans are drawn in a process pool, each from its own seed.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.io.atomic import write_csv_atomic
from hyperct.io.volume import Volume
from hyperct.io.write import write_dicom_series, write_nifti
from hyperct.phantom.cardiac import ECHO_COLUMNS, expected_echo_labels, true_labels
from hyperct.phantom.config import PhantomConfig
from hyperct.phantom.plan import PlannedScan, plan_cohort
from hyperct.phantom.render import render_scan
from hyperct.phantom.reports import write_report
from hyperct.tasks import CONVENTIONAL, OPPORTUNISTIC, TASK_NAMES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CohortPaths:
    """Where the cohort's tables are, and which scans failed (scan_id, error)."""

    root: Path
    manifest: Path
    reports: Path
    echo: Path
    ground_truth: Path
    failures: tuple[tuple[str, str], ...] = ()


@dataclass
class _Job:
    scan: PlannedScan
    out_dir: Path
    preview: bool


@dataclass
class _Done:
    scan_id: str
    row: dict = field(default_factory=dict)
    report: str = ""
    stated: dict = field(default_factory=dict)
    error: str | None = None


def generate_cohort(
    config: PhantomConfig, out_dir: str | Path, progress: bool = False
) -> CohortPaths:
    """Draw and write the cohort described by ``config`` into ``out_dir``.

    Failed scans are logged and listed in the result (and left out of the tables); the others
    are written. Deterministic for a seed whatever the number of workers.
    """
    out = Path(out_dir)
    plan = plan_cohort(config)
    jobs = [_Job(s, out, s.index < config.preview) for s in plan.scans]
    done = _run(jobs, config.workers, progress)
    failures = tuple((d.scan_id, d.error) for d in done if d.error)
    for scan_id, err in failures:
        logger.error("scan %s failed: %s", scan_id, err)
    ok = {d.scan_id: d for d in done if not d.error}
    scans = [s for s in plan.scans if s.spec.scan_id in ok]
    paths = CohortPaths(
        out,
        out / "manifest.csv",
        out / "reports.csv",
        out / "echo.csv",
        out / "ground_truth.csv",
        failures,
    )
    write_csv_atomic(pd.DataFrame([ok[s.spec.scan_id].row for s in scans]), paths.manifest)
    reports = [
        {"AccessionNo": s.spec.scan_id, "report_text": ok[s.spec.scan_id].report}
        for s in scans
        if s.cohort != "prospective"
    ]
    write_csv_atomic(pd.DataFrame(reports, columns=["AccessionNo", "report_text"]), paths.reports)
    write_csv_atomic(pd.DataFrame(list(plan.echo_exams), columns=list(ECHO_COLUMNS)), paths.echo)
    truth = [_truth_row(s, ok[s.spec.scan_id].stated, plan.echo_exams) for s in scans]
    write_csv_atomic(pd.DataFrame(truth), paths.ground_truth)
    logger.info("phantom cohort: %d scans written to %s, %d failed", len(scans), out, len(failures))
    return paths


def _run(jobs: list[_Job], workers: int, progress: bool) -> list[_Done]:
    workers = workers or os.cpu_count() or 1
    results: list[_Done] = []
    bar = _progress(progress, len(jobs))
    if workers == 1:
        for job in jobs:
            results.append(generate_scan(job))
            bar(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(generate_scan, jobs, chunksize=1):
                results.append(res)
                bar(1)
    bar(None)
    return results


def _progress(enabled: bool, total: int):
    if not enabled:
        return lambda _n: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="phantom scans", unit="scan")

    def step(n: int | None) -> None:
        bar.update(n) if n else bar.close()

    return step


def generate_scan(job: _Job) -> _Done:
    """Draw one scan, write its CT and masks, write its report; errors are returned, not raised."""
    s = job.scan
    scan_id = s.spec.scan_id
    try:
        rendered = render_scan(s.spec)
        rng = np.random.default_rng([*s.spec.seed, 7])
        report, stated = write_report(s.spec.findings, rendered.details, rng)
        rel_ct = _write_ct(rendered.volume, job.out_dir, s)
        vol = rendered.volume
        for suffix, arr in (("anatomy", rendered.anatomy), ("findings", rendered.findings_mask)):
            write_nifti(
                Volume(arr, vol.spacing, vol.affine, source=scan_id),
                job.out_dir / "masks" / f"{scan_id}_{suffix}.nii.gz",
            )
        if job.preview:
            from hyperct.phantom.preview import save_preview

            save_preview(rendered, job.out_dir / "preview" / f"{scan_id}.png", title=scan_id)
        return _Done(scan_id, _manifest_row(s, rel_ct), report, stated)
    except Exception as exc:  # noqa: BLE001 - a batch job records the failure and goes on
        return _Done(scan_id, error=f"{type(exc).__name__}: {exc}")


def _write_ct(volume: Volume, out: Path, s: PlannedScan) -> str:
    scan_id = s.spec.scan_id
    if s.as_dicom:
        folder = out / "dicom" / scan_id
        if folder.exists():
            shutil.rmtree(folder)
        write_dicom_series(volume, folder, patient_id=s.patient_id, study_date=s.study_date)
        return f"dicom/{scan_id}"
    write_nifti(volume, out / "ct" / f"{scan_id}.nii.gz")
    return f"ct/{scan_id}.nii.gz"


def _manifest_row(s: PlannedScan, rel_ct: str) -> dict:
    p = s.spec.patient
    scan_id = s.spec.scan_id
    row = {
        "scan_id": scan_id,
        "patient_id": s.patient_id,
        "path": rel_ct,
        "cohort": s.cohort,
        "split": s.split,
        "study_date": s.study_date.isoformat(),
        "sex": p.sex,
        "age": int(s.age),
        "anatomy_path": f"masks/{scan_id}_anatomy.nii.gz",
        "findings_mask_path": f"masks/{scan_id}_findings.nii.gz",
    }
    row.update({name: -1 for name in TASK_NAMES})
    return row


def _truth_row(s: PlannedScan, stated: dict[str, int], exams) -> dict:
    p = s.spec.patient
    row: dict = {"scan_id": s.spec.scan_id, "patient_id": s.patient_id, "cohort": s.cohort}
    row.update({t.name: int(t.name in s.spec.findings) for t in CONVENTIONAL})
    row.update(true_labels(s.spec.cardiac, p.sex))
    row.update(
        {
            f"report_{t.short_name}": (stated.get(t.name, -1) if s.cohort != "prospective" else -1)
            for t in CONVENTIONAL
        }
    )
    mine = [e for e in exams if e["patient_id"] == s.patient_id]
    expected = expected_echo_labels(mine, s.study_date, p.sex)
    row.update({f"echo_{t.short_name}": expected[t.name] for t in OPPORTUNISTIC})
    return row
