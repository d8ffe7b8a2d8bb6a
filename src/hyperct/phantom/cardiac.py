"""Latent cardiac state, the echo exams it produces, and the opportunistic labels they imply.

The cardiac state (ejection fraction, chamber sizes, filling and pulmonary pressures, RV
function) follows the patient's heart failure, lung disease and age. It produces echo
measurements (with measurement noise, drift away from the CT date, missing values) and, weakly
and noisily, the CT anatomy (chamber radii, pulmonary artery and IVC diameter, LV wall), so the
seven opportunistic tasks are learnable from CT but harder than the conventional ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from hyperct.phantom.patient import PatientState
from hyperct.tasks import OPPORTUNISTIC

#: Default echo criteria of the seven opportunistic tasks (DESIGN.md; the paper's thresholds).
THRESHOLDS = {
    "lvef": 50.0,
    "pasp": 35.0,
    "lavi": 34.0,
    "lvidd_f": 5.3,
    "lvidd_m": 5.9,
    "e_a": 2.0,
    "tr_la": 2.8,
    "tr_ra": 3.4,
}

#: Columns of echo.csv (one row per exam); measurements may be empty (missing).
ECHO_COLUMNS = (
    "patient_id",
    "exam_date",
    "sex",
    "lvef_percent",
    "lvidd_cm",
    "lavi_ml_m2",
    "e_a_ratio",
    "tr_peak_velocity_m_s",
    "pasp_mmhg",
    "rv_systolic_function",
)

RV_GRADES = ("normal", "mildly reduced", "moderately reduced", "severely reduced")
_RV_WORDING = {
    "normal": ("normal", "Normal", "normal"),
    "mildly reduced": ("mildly reduced", "mildly impaired", "mildly decreased"),
    "moderately reduced": ("moderately reduced", "moderately impaired"),
    "severely reduced": ("severely reduced", "severely impaired"),
}


@dataclass(frozen=True)
class CardiacState:
    """True cardiac state at the CT date (echo quantities) and its CT appearance (mm)."""

    lvef: float
    lvidd_cm: float
    lavi: float
    e_a: float
    tr_velocity: float
    rap: float
    rv_grade: int
    lv_radius_mm: float
    la_radius_mm: float
    rv_scale: float
    pa_diameter_mm: float
    ivc_diameter_mm: float
    lv_wall_mm: float

    @property
    def pasp(self) -> float:
        return 4.0 * self.tr_velocity**2 + self.rap


def sample_cardiac(p: PatientState, rng: np.random.Generator) -> CardiacState:
    """Draw the cardiac state of a patient from heart failure, lung disease and age."""
    age_z = (p.age - 60) / 14
    hf = p.heart_failure
    copd = min(np.log1p(p.pack_years) / 4.0, 1.0)
    ph = (
        hf * rng.uniform(0.4, 1.6)
        + 0.35 * copd * rng.random()
        + 0.6 * p.fibrosis * rng.random()
        + (rng.uniform(0.8, 1.5) if rng.random() < 0.03 else 0.0)
    )
    lvef = 62 + rng.normal(0, 5) - (rng.uniform(15, 38) if p.hf_reduced_ef else 0) - 3 * hf
    lvidd = (4.6 if p.sex == "F" else 5.05) + rng.normal(0, 0.38) + 0.04 * (p.bmi - 27)
    lvidd += rng.uniform(0.3, 1.4) if p.hf_reduced_ef else 0.3 * hf
    lavi = 25 + 2.0 * age_z + rng.normal(0, 5) + hf * rng.uniform(6, 28)
    restrictive = hf > 0 and rng.random() < 0.45 * hf + 0.1
    e_a = rng.uniform(2.0, 3.2) if restrictive else 1.15 - 0.2 * age_z + rng.normal(0, 0.22)
    rv_score = 0.8 * ph + 0.5 * p.hf_reduced_ef + rng.normal(0, 0.25)
    rv_grade = int(np.digitize(rv_score, [0.65, 0.95, 1.3]))
    rap = 3.0 if ph + hf < 0.8 else (8.0 if ph + hf < 1.5 else 15.0)
    pasp = 23 + rng.normal(0, 4) + ph * rng.uniform(12, 48) + 6 * hf
    tr_v = float(np.sqrt(max(pasp - rap, 4.0) / 4.0))
    body = 1.0 + 0.008 * (p.bmi - 27) + (0.04 if p.sex == "M" else 0.0)
    return CardiacState(
        lvef=float(np.clip(lvef, 12, 80)),
        lvidd_cm=float(np.clip(lvidd, 3.4, 8.0)),
        lavi=float(np.clip(lavi, 12, 90)),
        e_a=float(np.clip(e_a, 0.4, 3.5)),
        tr_velocity=tr_v,
        rap=rap,
        rv_grade=rv_grade,
        lv_radius_mm=float(lvidd * 5.0 * body * rng.normal(1, 0.12)),
        la_radius_mm=float((3 * lavi * 1.85e3 / (4 * np.pi)) ** (1 / 3) * rng.normal(1, 0.14)),
        rv_scale=float((1.0 + 0.1 * rv_grade + 0.08 * ph) * rng.normal(1, 0.1)),
        pa_diameter_mm=float(
            np.clip(24 + 0.15 * (4 * tr_v**2 + rap - 25) + rng.normal(0, 3.0), 17, 45)
        ),
        ivc_diameter_mm=float(np.clip(15 + 0.7 * rap + rng.normal(0, 2.5), 9, 34)),
        lv_wall_mm=float(np.clip(9 + 1.2 * age_z + rng.normal(0, 1.5), 6, 16)),
    )


def labels_from_measurements(m: dict[str, float | str | None], sex: str) -> dict[str, int]:
    """Opportunistic labels (1/0/-1) from one exam's measurements with the default thresholds.

    A measurement that is missing gives -1; "Elevated LA filling pressure" is 1 when any of its
    three criteria is met, 0 when all three are measured and none is met, else -1.
    """
    t = THRESHOLDS

    def cmp(key: str, fn) -> int:
        v = m.get(key)
        return -1 if v is None or (isinstance(v, float) and np.isnan(v)) else int(bool(fn(v)))

    lvidd_cut = t["lvidd_f"] if sex == "F" else t["lvidd_m"]
    la_parts = [
        cmp("e_a_ratio", lambda v: v >= t["e_a"]),
        cmp("lavi_ml_m2", lambda v: v > t["lavi"]),
        cmp("tr_peak_velocity_m_s", lambda v: v > t["tr_la"]),
    ]
    la = 1 if 1 in la_parts else (0 if all(x == 0 for x in la_parts) else -1)
    return {
        "Reduced LV systolic function": cmp("lvef_percent", lambda v: v < t["lvef"]),
        "Reduced RV systolic function": cmp(
            "rv_systolic_function", lambda v: v.strip().lower() != "normal"
        ),
        "Pulmonary hypertension": cmp("pasp_mmhg", lambda v: v > t["pasp"]),
        "Atrial chamber enlargement": cmp("lavi_ml_m2", lambda v: v > t["lavi"]),
        "Ventricular enlargement": cmp("lvidd_cm", lambda v: v > lvidd_cut),
        "Elevated LA filling pressure": la,
        "Elevated RA filling pressure": cmp("tr_peak_velocity_m_s", lambda v: v > t["tr_ra"]),
    }


def true_labels(c: CardiacState, sex: str) -> dict[str, int]:
    """Opportunistic labels of the noise-free state (always 0/1)."""
    return labels_from_measurements(_measurements(c, RV_GRADES[c.rv_grade]), sex)


def sample_echo_exams(
    p: PatientState,
    c: CardiacState,
    anchor: date,
    rng: np.random.Generator,
    n_exams: int | None = None,
) -> list[dict[str, object]]:
    """0-3 echo exams around ``anchor`` (the first CT date), some beyond +-180 days, with noise,
    drift with time from the CT, and missing measurements."""
    if n_exams is None:
        n_exams = int(rng.choice(4, p=[0.12, 0.5, 0.27, 0.11]))
    exams = []
    for k in range(n_exams):
        offset = int(rng.normal(0, 90)) if k == 0 else int(rng.uniform(-600, 600))
        drift = np.sqrt(abs(offset) / 365.0)
        m = _measurements(c, RV_GRADES[c.rv_grade])
        m["lvef_percent"] = round(
            float(np.clip(m["lvef_percent"] + rng.normal(0, 4 + 4 * drift), 10, 80))
        )
        m["lvidd_cm"] = round(float(m["lvidd_cm"] + rng.normal(0, 0.22 + 0.2 * drift)), 1)
        m["lavi_ml_m2"] = round(float(max(m["lavi_ml_m2"] + rng.normal(0, 3.5 + 3 * drift), 8)), 1)
        m["e_a_ratio"] = round(
            float(max(m["e_a_ratio"] + rng.normal(0, 0.15 + 0.1 * drift), 0.3)), 2
        )
        tr = max(m["tr_peak_velocity_m_s"] + rng.normal(0, 0.15 + 0.1 * drift), 1.0)
        m["tr_peak_velocity_m_s"] = round(float(tr), 2)
        m["pasp_mmhg"] = round(4 * tr**2 + c.rap)
        grade = int(
            np.clip(c.rv_grade + (rng.random() < 0.12 * (1 + drift)) * rng.choice([-1, 1]), 0, 3)
        )
        m["rv_systolic_function"] = str(rng.choice(_RV_WORDING[RV_GRADES[grade]]))
        _drop_missing(m, rng)
        exams.append(
            {
                "patient_id": p.patient_id,
                "exam_date": anchor + timedelta(days=offset),
                "sex": p.sex,
                **m,
            }
        )
    return sorted(exams, key=lambda e: e["exam_date"])


def expected_echo_labels(
    exams: list[dict[str, object]], ct_date: date, sex: str, window_days: int = 180
) -> dict[str, int]:
    """The labels echo matching should give: closest exam within +-window_days, else all -1."""
    near = [e for e in exams if abs((e["exam_date"] - ct_date).days) <= window_days]
    if not near:
        return {t.name: -1 for t in OPPORTUNISTIC}
    best = min(near, key=lambda e: (abs((e["exam_date"] - ct_date).days), e["exam_date"]))
    return labels_from_measurements(best, sex)


def _measurements(c: CardiacState, rv_text: str) -> dict[str, float | str | None]:
    return {
        "lvef_percent": c.lvef,
        "lvidd_cm": c.lvidd_cm,
        "lavi_ml_m2": c.lavi,
        "e_a_ratio": c.e_a,
        "tr_peak_velocity_m_s": c.tr_velocity,
        "pasp_mmhg": c.pasp,
        "rv_systolic_function": rv_text,
    }


def _drop_missing(m: dict[str, float | str | None], rng: np.random.Generator) -> None:
    rates = {
        "lvef_percent": 0.05,
        "lvidd_cm": 0.12,
        "lavi_ml_m2": 0.15,
        "e_a_ratio": 0.2,
        "tr_peak_velocity_m_s": 0.25,
        "rv_systolic_function": 0.08,
    }
    for key, rate in rates.items():
        if rng.random() < rate:
            m[key] = None
    if m["tr_peak_velocity_m_s"] is None:
        m["pasp_mmhg"] = None
