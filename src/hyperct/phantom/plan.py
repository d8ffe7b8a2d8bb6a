"""Plan a cohort in one cheap pass: patients, scans, dates, splits, findings and echo exams.

Only the images are expensive; they are drawn later, one process per scan, from the specs made
here. Everything is a deterministic function of the config's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

from hyperct.phantom.cardiac import CardiacState, sample_cardiac, sample_echo_exams
from hyperct.phantom.config import COHORTS, PRESETS, PhantomConfig
from hyperct.phantom.grid import Grid
from hyperct.phantom.patient import PatientState, sample_findings, sample_infection, sample_patient
from hyperct.phantom.render import ScanSpec
from hyperct.phantom.scanner import SCANNERS

#: First and last CT date of each cohort (the prospective cohort comes later).
DATE_RANGES = {
    "internal": (date(2018, 1, 1), date(2022, 12, 31)),
    "external": (date(2019, 6, 1), date(2023, 6, 30)),
    "prospective": (date(2024, 1, 1), date(2025, 6, 30)),
}


@dataclass(frozen=True)
class PlannedScan:
    """One scan to draw and where it belongs."""

    index: int
    spec: ScanSpec
    patient_id: str
    cohort: str
    split: str
    study_date: date
    as_dicom: bool
    age: float


@dataclass(frozen=True)
class CohortPlan:
    scans: tuple[PlannedScan, ...]
    echo_exams: tuple[dict[str, object], ...]
    patients: dict[str, tuple[PatientState, CardiacState]]


def plan_cohort(cfg: PhantomConfig) -> CohortPlan:
    """Patients, their scans and echo exams for ``cfg``."""
    rng = np.random.default_rng([cfg.seed, 0])
    counts = _cohort_counts(cfg.n, cfg.cohort_fractions)
    scans: list[PlannedScan] = []
    exams: list[dict[str, object]] = []
    patients: dict[str, tuple[PatientState, CardiacState]] = {}
    for cohort, count in zip(COHORTS, counts):
        made = 0
        k = 0
        while made < count:
            pid = f"{cohort[:3]}{k:05d}"
            k += 1
            p = sample_patient(rng, pid, age_shift=6.0 if cohort == "external" else 0.0)
            cs = sample_cardiac(p, rng)
            patients[pid] = (p, cs)
            first = _random_date(rng, *DATE_RANGES[cohort])
            n_scans = 2 if cohort == "internal" and rng.random() < cfg.follow_up_fraction else 1
            gap = timedelta(days=int(rng.integers(90, 700)))
            if n_scans == 2:
                first = min(first, DATE_RANGES[cohort][1] - gap)
            dates = [first, first + gap][:n_scans]
            exams += sample_echo_exams(
                p,
                cs,
                first,
                rng,
                n_exams=None if cohort != "prospective" else int(rng.integers(1, 3)),
            )
            for d in dates[: count - made]:
                scans.append(
                    _planned(
                        cfg, rng, len(scans), p, cs, cohort, d, p.age + (d - first).days / 365.25
                    )
                )
                made += 1
    scans = _assign_splits(scans, cfg.split_fractions, rng)
    scans = _assign_dicom(scans, cfg.dicom_fraction, rng)
    return CohortPlan(tuple(scans), tuple(exams), patients)


def _planned(
    cfg: PhantomConfig,
    rng: np.random.Generator,
    index: int,
    p: PatientState,
    cs: CardiacState,
    cohort: str,
    study_date: date,
    age: float,
) -> PlannedScan:
    infection = sample_infection(rng)
    findings = sample_findings(
        p, infection, rng, "external" if cohort == "external" else "internal"
    )
    scanner = "external" if cohort == "external" else "internal"
    grid = sample_grid(cfg.preset, scanner, rng)
    scan_id = f"{p.patient_id}_{study_date.strftime('%Y%m%d')}"
    spec = ScanSpec(
        scan_id=scan_id,
        patient=p,
        cardiac=cs,
        findings=findings,
        grid=grid,
        scanner=scanner,
        seed=(cfg.seed, index + 1),
    )
    return PlannedScan(index, spec, p.patient_id, cohort, "test", study_date, False, age)


def sample_grid(preset: str, scanner: str, rng: np.random.Generator) -> Grid:
    """A scan grid from the preset's ranges and the scanner's field of view."""
    pr = PRESETS[preset]
    n_xy = int(rng.integers(pr.in_plane[0] // 8, pr.in_plane[1] // 8 + 1)) * 8
    n_z = int(rng.integers(pr.slices[0], pr.slices[1] + 1))
    fov = rng.uniform(*SCANNERS[scanner].fov_mm)
    z_ext = rng.uniform(*pr.z_extent_mm)
    return Grid(
        (n_z, n_xy, n_xy), (round(z_ext / n_z, 3), round(fov / n_xy, 3), round(fov / n_xy, 3))
    )


def _cohort_counts(n: int, fractions: tuple[float, float, float]) -> list[int]:
    counts = [int(np.floor(n * f)) for f in fractions]
    counts[0] += n - sum(counts)
    return counts


def _random_date(rng: np.random.Generator, lo: date, hi: date) -> date:
    return lo + timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))


def _assign_splits(scans: list[PlannedScan], fractions, rng) -> list[PlannedScan]:
    """Patient-level train/val/test split of the internal cohort; other cohorts are test."""
    internal = sorted({s.patient_id for s in scans if s.cohort == "internal"})
    order = rng.permutation(len(internal))
    n_train = int(round(fractions[0] * len(internal)))
    n_val = int(round(fractions[1] * len(internal)))
    split_of = {}
    for rank, i in enumerate(order):
        split_of[internal[i]] = (
            "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
        )
    return [_replace(s, split=split_of.get(s.patient_id, "test")) for s in scans]


def _assign_dicom(scans: list[PlannedScan], fraction: float, rng) -> list[PlannedScan]:
    if fraction <= 0:
        return scans
    k = max(1 if len(scans) >= 10 else 0, int(round(fraction * len(scans))))
    chosen = set(rng.choice(len(scans), size=min(k, len(scans)), replace=False).tolist())
    return [_replace(s, as_dicom=i in chosen) for i, s in enumerate(scans)]


def _replace(s: PlannedScan, **kw) -> PlannedScan:
    return replace(s, **kw)
