import math

import pytest

from hyperct.labels.echo.config import EchoThresholds
from hyperct.labels.echo.criteria import (
    Measurements,
    la_pressure_label,
    opportunistic_labels,
    rv_label,
)

NAN = math.nan


def _m(**kw):
    base = dict(
        lvef_percent=60.0,
        lvidd_cm=5.0,
        lavi_ml_m2=25.0,
        e_a_ratio=1.0,
        tr_velocity_m_s=2.0,
        pasp_mmhg=25.0,
        rv_function="normal",
        sex="F",
    )
    return Measurements(**(base | kw))


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({}, 0),
        ({"e_a_ratio": 2.0}, 1),
        ({"lavi_ml_m2": 34.1}, 1),
        ({"tr_velocity_m_s": 2.9, "e_a_ratio": NAN}, 1),  # positive although E/A is missing
        ({"e_a_ratio": NAN}, -1),  # two negative, one missing: not enough for a negative
        ({"e_a_ratio": NAN, "lavi_ml_m2": NAN, "tr_velocity_m_s": NAN}, -1),
    ],
)
def test_la_pressure_rule(kw, expected):
    assert la_pressure_label(_m(**kw), EchoThresholds())[0] == expected


def test_thresholds_are_strict_where_the_paper_says():
    t = EchoThresholds()
    labels = opportunistic_labels(
        _m(lvef_percent=50.0, pasp_mmhg=35.0, lavi_ml_m2=34.0, lvidd_cm=5.3, tr_velocity_m_s=3.4), t
    )
    assert {k: v[0] for k, v in labels.items()} == {
        "Reduced LV systolic function": 0,
        "Reduced RV systolic function": 0,
        "Pulmonary hypertension": 0,
        "Atrial chamber enlargement": 0,
        "Ventricular enlargement": 0,
        "Elevated LA filling pressure": 1,
        "Elevated RA filling pressure": 0,
    }


def test_lvidd_depends_on_sex():
    t = EchoThresholds()
    assert opportunistic_labels(_m(lvidd_cm=5.6, sex="F"), t)["Ventricular enlargement"][0] == 1
    assert opportunistic_labels(_m(lvidd_cm=5.6, sex="M"), t)["Ventricular enlargement"][0] == 0
    label, reason = opportunistic_labels(_m(lvidd_cm=7.0, sex=None), t)["Ventricular enlargement"]
    assert label == -1 and "sex missing" in reason


@pytest.mark.parametrize(
    "text, label",
    [
        ("normal", 0),
        ("Normal", 0),
        ("mildly reduced", 1),
        ("severely impaired", 1),
        ("", -1),
        ("not assessed", -1),
        ("Normal RV function", 0),
        ("within normal limits", 0),
        ("WNL", 0),
        ("normal (TAPSE 2.1 cm)", 0),
        ("RV systolic function: preserved", 0),
        ("hyperdynamic", 0),
        ("low-normal", 0),
        ("not reduced", 0),
        ("moderately reduced", 1),
        ("severely depressed (TAPSE 9 mm)", 1),
        ("hypokinetic", 1),
        ("impaired", 1),
        ("mild-moderately decreased", 1),
        ("RV dysfunction", 1),
        ("TAPSE 1.4 cm", -1),
        ("see report", -1),
    ],
)
def test_rv_function(text, label):
    assert rv_label(text)[0] == label


def test_unknown_rv_wording_is_not_guessed():
    label, reason = rv_label("see report")
    assert label == -1 and "'see report'" in reason


def test_threshold_validation():
    with pytest.raises(ValueError, match="lvef_percent_below"):
        EchoThresholds(lvef_percent_below=0.5 * 200)
    with pytest.raises(ValueError, match="pasp_mmhg_above"):
        EchoThresholds(pasp_mmhg_above=-1)
