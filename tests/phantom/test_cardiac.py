from datetime import date

import numpy as np

from hyperct.phantom.cardiac import (
    ECHO_COLUMNS,
    expected_echo_labels,
    labels_from_measurements,
    sample_cardiac,
    sample_echo_exams,
    true_labels,
)
from hyperct.phantom.patient import sample_patient
from hyperct.tasks import OPPORTUNISTIC


def test_thresholds_follow_the_design():
    m = {
        "lvef_percent": 49.0,
        "lvidd_cm": 5.5,
        "lavi_ml_m2": 30.0,
        "e_a_ratio": 1.0,
        "tr_peak_velocity_m_s": 3.5,
        "pasp_mmhg": 52.0,
        "rv_systolic_function": "normal",
    }
    lab = labels_from_measurements(m, "F")
    assert lab["Reduced LV systolic function"] == 1
    assert lab["Ventricular enlargement"] == 1
    assert labels_from_measurements(m, "M")["Ventricular enlargement"] == 0
    assert lab["Reduced RV systolic function"] == 0
    assert lab["Pulmonary hypertension"] == 1
    assert lab["Atrial chamber enlargement"] == 0
    assert lab["Elevated LA filling pressure"] == 1
    assert lab["Elevated RA filling pressure"] == 1


def test_missing_measurements_give_minus_one():
    m = {
        "lvef_percent": None,
        "lvidd_cm": 5.0,
        "lavi_ml_m2": 20.0,
        "e_a_ratio": None,
        "tr_peak_velocity_m_s": 2.0,
        "pasp_mmhg": 20.0,
        "rv_systolic_function": "mildly reduced",
    }
    lab = labels_from_measurements(m, "M")
    assert lab["Reduced LV systolic function"] == -1
    assert lab["Elevated LA filling pressure"] == -1
    assert lab["Reduced RV systolic function"] == 1


def test_echo_exams_columns_dates_and_matching_window():
    rng = np.random.default_rng(0)
    anchor = date(2020, 6, 1)
    far = 0
    for i in range(200):
        p = sample_patient(rng, f"p{i}")
        c = sample_cardiac(p, rng)
        exams = sample_echo_exams(p, c, anchor, rng)
        assert len(exams) <= 3
        for e in exams:
            assert set(ECHO_COLUMNS) <= set(e)
            far += abs((e["exam_date"] - anchor).days) > 180
        exp = expected_echo_labels(exams, anchor, p.sex)
        assert set(exp) == {t.name for t in OPPORTUNISTIC}
        if not any(abs((e["exam_date"] - anchor).days) <= 180 for e in exams):
            assert set(exp.values()) == {-1}
        assert set(true_labels(c, p.sex).values()) <= {0, 1}
    assert far > 10


def test_cardiac_state_tracks_heart_failure():
    rng = np.random.default_rng(1)
    ef_hf, ef_no = [], []
    for i in range(600):
        p = sample_patient(rng, f"p{i}")
        c = sample_cardiac(p, rng)
        (ef_hf if p.hf_reduced_ef else ef_no).append(c.lvef)
    assert np.mean(ef_hf) < np.mean(ef_no) - 10
