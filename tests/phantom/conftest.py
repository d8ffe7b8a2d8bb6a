"""Small phantom scans shared by the phantom tests."""

from __future__ import annotations

import numpy as np
import pytest

from hyperct.phantom.cardiac import sample_cardiac
from hyperct.phantom.grid import Grid
from hyperct.phantom.patient import PatientState
from hyperct.phantom.render import ScanSpec, render_scan

TEST_GRID = Grid((40, 80, 80), (8.0, 4.6, 4.6))


def make_patient(pid: str = "p0") -> PatientState:
    return PatientState(
        patient_id=pid,
        sex="M",
        age=62.0,
        pack_years=0.0,
        bmi=26.0,
        heart_failure=0.0,
        hf_reduced_ef=False,
        fibrosis=False,
        airway=False,
        malignancy=False,
        athero=0.0,
        surgery=False,
    )


def make_spec(
    findings: dict[str, float], seed: int = 0, grid: Grid = TEST_GRID, scanner: str = "internal"
) -> ScanSpec:
    p = make_patient()
    cs = sample_cardiac(p, np.random.default_rng(seed))
    return ScanSpec(
        scan_id=f"t{seed}",
        patient=p,
        cardiac=cs,
        findings=findings,
        grid=grid,
        scanner=scanner,
        seed=(seed, 1),
    )


@pytest.fixture(scope="session")
def normal_scan():
    return render_scan(make_spec({}))
