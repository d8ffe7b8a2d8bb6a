from datetime import date

import pytest

from hyperct.phantom.config import PhantomConfig
from hyperct.phantom.plan import plan_cohort


def test_cohorts_dates_splits_and_dicom_share():
    plan = plan_cohort(PhantomConfig(n=60, seed=2, dicom_fraction=0.05))
    by = {
        c: [s for s in plan.scans if s.cohort == c] for c in ("internal", "external", "prospective")
    }
    assert [len(v) for v in by.values()] == [42, 12, 6]
    assert min(s.study_date for s in by["prospective"]) > max(s.study_date for s in by["internal"])
    assert {s.split for s in by["internal"]} == {"train", "val", "test"}
    assert all(s.spec.scanner == "external" for s in by["external"])
    assert sum(s.as_dicom for s in plan.scans) == 3
    assert len({s.spec.scan_id for s in plan.scans}) == 60
    pids = {s.patient_id for s in by["prospective"]}
    assert pids <= {e["patient_id"] for e in plan.echo_exams}


def test_grids_follow_the_preset():
    for preset, (lo, hi) in (("small", (96, 128)), ("default", (256, 320))):
        plan = plan_cohort(PhantomConfig(n=10, seed=0, preset=preset))
        for s in plan.scans:
            assert lo <= s.spec.grid.shape[1] <= hi and s.spec.grid.shape[1] == s.spec.grid.shape[2]


def test_plan_is_deterministic_and_config_is_validated():
    a, b = plan_cohort(PhantomConfig(n=15, seed=3)), plan_cohort(PhantomConfig(n=15, seed=3))
    assert [s.spec.findings for s in a.scans] == [s.spec.findings for s in b.scans]
    assert a.echo_exams == b.echo_exams
    assert isinstance(a.scans[0].study_date, date)
    with pytest.raises(ValueError, match="preset"):
        PhantomConfig(preset="huge")
    with pytest.raises(ValueError, match="cohort_fractions"):
        PhantomConfig(cohort_fractions=(0.5, 0.5, 0.5))
