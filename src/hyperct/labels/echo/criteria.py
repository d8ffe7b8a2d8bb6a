"""The echo criteria of the seven opportunistic tasks, applied to one matched exam.

Missing measurements give -1 for the tasks that need them. Elevated LA filling pressure has
three criteria (E/A, LAVI, peak TR velocity): it is 1 when any measured criterion is met, 0 only
when all three are measured and none is met, and -1 otherwise, because a missing criterion could
have been the one that was met (a negative from a partial exam would be a guess).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hyperct.labels.echo.config import EchoThresholds

# Qualitative RV wording. Measurements in parentheses or after a comma ("normal (TAPSE 2.1 cm)",
# "reduced, TAPSE 14 mm") and the words naming the quantity ("RV systolic function") are
# dropped first; what is left is matched against these vocabularies.
UNKNOWN_RV_WORDING = "unknown RV function wording"
_RV_QUANTITY = re.compile(
    r"\([^)]*\)|[,;].*$|\b(?:tapse|fac)\b.*$|\bs'.*$|:|"
    r"\b(?:the\s+)?(?:rv|right\s+ventric\w*|right\s+heart)\b|"
    r"\b(?:global|overall|longitudinal|radial|systolic|function(?:s|ing)?|contractility|"
    r"contraction|performance|wall\s+motion|is|was|appears?|seems?)\b"
)
_RV_NORMAL = re.compile(
    r"^(?:(?:low|upper|high)[\s-]+)?(?:normal|nl|wnl|within\s+normal\s+limits|"
    r"preserved|good|intact|adequate|satisfactory|unremarkable|hyperdynamic|hypercontractile|"
    r"vigorous|normal\s+to\s+hyperdynamic|preserved\s+to\s+hyperdynamic|"
    r"no\s+dysfunction|not\s+(?:reduced|impaired|depressed|decreased|diminished))$"
)
_RV_REDUCED = re.compile(
    r"^(?:(?:very\s+)?(?:mild(?:ly)?|moderate(?:ly)?|sever(?:e|ely)|slight(?:ly)?|marked(?:ly)?|"
    r"significant(?:ly)?|border(?:line)?|minimal(?:ly)?|globally|diffusely)"
    r"(?:(?:\s+to\s+|\s*-\s*)(?:mild(?:ly)?|moderate(?:ly)?|sever(?:e|ely)))?\s+)?"
    r"(?:reduced|reduction|depressed|decreased|impaired|impairment|hypokinetic|hypokinesis|"
    r"diminished|abnormal|poor|low|dysfunction(?:al)?|akinetic|dyskinetic)$"
)
_UNKNOWN_RV = {
    "",
    "nan",
    "none",
    "na",
    "n/a",
    "unknown",
    "not assessed",
    "not evaluated",
    "not measured",
    "not visualized",
    "not seen",
    "-",
}


def _rv_wording(text: str) -> str:
    """The qualitative words of an RV function entry, lower case, measurements removed."""
    words = _RV_QUANTITY.sub(" ", " ".join(str(text).strip().lower().split()))
    return " ".join(words.replace(".", " ").split())


@dataclass(frozen=True)
class Measurements:
    """One exam's measurements in canonical units (NaN = missing or not usable)."""

    lvef_percent: float
    lvidd_cm: float
    lavi_ml_m2: float
    e_a_ratio: float
    tr_velocity_m_s: float
    pasp_mmhg: float
    rv_function: str
    sex: str | None


def _missing(value: float) -> bool:
    return value is None or math.isnan(value)


def _compare(value: float, name: str, present: bool, rule: str) -> tuple[int, str]:
    if _missing(value):
        return -1, f"{name} missing"
    verdict = "meets" if present else "does not meet"
    return int(present), f"{name} {value:g} {verdict} {rule}"


def rv_label(text: str) -> tuple[int, str]:
    """Qualitative RV systolic function: normal wording 0, reduced wording 1, anything else -1.

    Hyperdynamic function counts as not reduced. Wording in neither vocabulary is not guessed:
    it gives -1 and a reason starting "unknown RV function wording", which curation records as a
    problem naming the echo row.
    """
    raw = " ".join(str(text).strip().lower().split())
    if raw in _UNKNOWN_RV:
        return -1, "RV function missing"
    wording = _rv_wording(raw)
    if _RV_NORMAL.match(wording):
        return 0, f"RV function {text!r} (normal)"
    if _RV_REDUCED.match(wording):
        return 1, f"RV function {text!r} (reduced)"
    return -1, f"{UNKNOWN_RV_WORDING} {text!r}"


def la_pressure_label(m: Measurements, t: EchoThresholds) -> tuple[int, str]:
    """Elevated LA filling pressure: any criterion met -> 1; all three measured, none met -> 0."""
    parts = [
        _compare(
            m.e_a_ratio,
            "E/A",
            not _missing(m.e_a_ratio) and m.e_a_ratio >= t.e_a_ratio_at_least,
            f">= {t.e_a_ratio_at_least:g}",
        ),
        _compare(
            m.lavi_ml_m2,
            "LAVI",
            not _missing(m.lavi_ml_m2) and m.lavi_ml_m2 > t.lavi_ml_m2_above,
            f"> {t.lavi_ml_m2_above:g}",
        ),
        _compare(
            m.tr_velocity_m_s,
            "TR velocity",
            not _missing(m.tr_velocity_m_s) and m.tr_velocity_m_s > t.tr_velocity_la_m_s_above,
            f"> {t.tr_velocity_la_m_s_above:g}",
        ),
    ]
    met = [note for label, note in parts if label == 1]
    if met:
        return 1, "; ".join(met)
    notes = "; ".join(note for _, note in parts)
    if all(label == 0 for label, _ in parts):
        return 0, "none met: " + notes
    return -1, "none met but not all measured: " + notes


def opportunistic_labels(m: Measurements, t: EchoThresholds) -> dict[str, tuple[int, str]]:
    """Label and a short reason for each of the seven tasks, from one exam."""
    if m.sex in ("F", "M"):
        cut = t.lvidd_cm_above_female if m.sex == "F" else t.lvidd_cm_above_male
        ventricle = _compare(
            m.lvidd_cm,
            "LVIDd",
            not _missing(m.lvidd_cm) and m.lvidd_cm > cut,
            f"> {cut:g} cm ({m.sex})",
        )
    else:
        ventricle = (-1, "sex missing: the LVIDd threshold depends on sex")
    return {
        "Reduced LV systolic function": _compare(
            m.lvef_percent,
            "LVEF",
            not _missing(m.lvef_percent) and m.lvef_percent < t.lvef_percent_below,
            f"< {t.lvef_percent_below:g} %",
        ),
        "Reduced RV systolic function": rv_label(m.rv_function),
        "Pulmonary hypertension": _compare(
            m.pasp_mmhg,
            "PASP",
            not _missing(m.pasp_mmhg) and m.pasp_mmhg > t.pasp_mmhg_above,
            f"> {t.pasp_mmhg_above:g} mmHg",
        ),
        "Atrial chamber enlargement": _compare(
            m.lavi_ml_m2,
            "LAVI",
            not _missing(m.lavi_ml_m2) and m.lavi_ml_m2 > t.lavi_ml_m2_above,
            f"> {t.lavi_ml_m2_above:g} mL/m2",
        ),
        "Ventricular enlargement": ventricle,
        "Elevated LA filling pressure": la_pressure_label(m, t),
        "Elevated RA filling pressure": _compare(
            m.tr_velocity_m_s,
            "TR velocity",
            not _missing(m.tr_velocity_m_s) and m.tr_velocity_m_s > t.tr_velocity_ra_m_s_above,
            f"> {t.tr_velocity_ra_m_s_above:g} m/s",
        ),
    }
