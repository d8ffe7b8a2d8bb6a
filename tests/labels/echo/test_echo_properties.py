"""Property tests on random tables: nearest exam, the window, monotone labels."""

from datetime import date, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperct.labels.echo.config import EchoConfig, EchoThresholds
from hyperct.labels.echo.criteria import Measurements, opportunistic_labels
from hyperct.labels.echo.curate import curate_echo_labels
from hyperct.labels.echo.match import match_exams

BASE = date(2020, 1, 1)
patients = st.sampled_from(["p1", "p2", "p3"])
days = st.integers(min_value=-400, max_value=400)


@settings(max_examples=60, deadline=None)
@given(
    cts=st.lists(st.tuples(patients, days), min_size=1, max_size=8),
    exams=st.lists(st.tuples(patients, days), max_size=12),
    window=st.integers(min_value=0, max_value=250),
)
def test_every_ct_gets_the_nearest_exam_within_the_window(cts, exams, window):
    ct_df = pd.DataFrame(
        {
            "patient_id": [p for p, _ in cts],
            "date": pd.to_datetime([BASE + timedelta(d) for _, d in cts]),
        }
    )
    ex_df = pd.DataFrame(
        {
            "patient_id": [p for p, _ in exams],
            "date": pd.to_datetime([BASE + timedelta(d) for _, d in exams]),
        }
    )
    matched = match_exams(ct_df, ex_df, window)
    for i, (patient, d) in enumerate(cts):
        gaps = [abs(e - d) for p, e in exams if p == patient and abs(e - d) <= window]
        idx = int(matched.loc[i, "exam_index"])
        if not gaps:
            assert idx == -1
            continue
        assert exams[idx][0] == patient
        assert abs(exams[idx][1] - d) == min(gaps) <= window
        assert matched.loc[i, "days_apart"] == exams[idx][1] - d
        ties = [e for p, e in exams if p == patient and abs(e - d) == min(gaps)]
        assert exams[idx][1] == min(ties)  # ties: the earlier exam


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(days, st.floats(10, 80)), min_size=1, max_size=6), days)
def test_end_to_end_never_uses_an_exam_beyond_the_window(exams, ct_day):
    ct = pd.DataFrame(
        {
            "scan_id": ["s"],
            "patient_id": ["p"],
            "study_date": [(BASE + timedelta(ct_day)).isoformat()],
            "sex": ["F"],
        }
    )
    echo = pd.DataFrame(
        {
            "patient_id": "p",
            "exam_date": [(BASE + timedelta(d)).isoformat() for d, _ in exams],
            "lvef_percent": [f"{v:.1f}" for _, v in exams],
        }
    )
    result = curate_echo_labels(ct, echo, EchoConfig(window_days=90))
    audit = result.audit.iloc[0]
    if audit.days_apart == "":
        assert all(abs(d - ct_day) > 90 for d, _ in exams)
    else:
        assert abs(int(audit.days_apart)) <= 90


def _labels(**kw):
    base = dict(
        lvef_percent=60.0,
        lvidd_cm=5.0,
        lavi_ml_m2=25.0,
        e_a_ratio=1.0,
        tr_velocity_m_s=2.0,
        pasp_mmhg=25.0,
        rv_function="normal",
        sex="M",
    )
    return {
        k: v[0]
        for k, v in opportunistic_labels(Measurements(**(base | kw)), EchoThresholds()).items()
    }


values = st.floats(min_value=0.1, max_value=200, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_labels_monotone_in_their_measurement(a, b):
    low, high = sorted((a, b))
    rising = {
        "pasp_mmhg": ["Pulmonary hypertension"],
        "lvidd_cm": ["Ventricular enlargement"],
        "lavi_ml_m2": ["Atrial chamber enlargement", "Elevated LA filling pressure"],
        "tr_velocity_m_s": ["Elevated RA filling pressure", "Elevated LA filling pressure"],
        "e_a_ratio": ["Elevated LA filling pressure"],
    }
    for field, tasks in rising.items():
        for task in tasks:
            assert _labels(**{field: low})[task] <= _labels(**{field: high})[task]
    assert (
        _labels(lvef_percent=low)["Reduced LV systolic function"]
        >= _labels(lvef_percent=high)["Reduced LV systolic function"]
    )
