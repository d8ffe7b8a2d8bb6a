"""Echo curation settings: thresholds (the paper's defaults), valid ranges, columns, units."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

LVIDD_UNITS = ("auto", "cm", "mm")
LVEF_UNITS = ("auto", "percent", "fraction")


@dataclass(frozen=True)
class EchoThresholds:
    """Echo criteria of the seven opportunistic tasks (DESIGN.md; defaults are the paper's).

    A task is present when its measurement is beyond the threshold in the stated direction.
    """

    lvef_percent_below: float = 50.0
    pasp_mmhg_above: float = 35.0
    lavi_ml_m2_above: float = 34.0
    lvidd_cm_above_female: float = 5.3
    lvidd_cm_above_male: float = 5.9
    e_a_ratio_at_least: float = 2.0
    tr_velocity_la_m_s_above: float = 2.8
    tr_velocity_ra_m_s_above: float = 3.4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"threshold {f.name} must be a positive number, got {value!r}")
        if self.lvef_percent_below >= 100:
            raise ValueError(
                f"lvef_percent_below is in percent (< 100), got {self.lvef_percent_below}"
            )


@dataclass(frozen=True)
class ValidRanges:
    """Physiological ranges (canonical units); values outside are flagged and not used."""

    lvef_percent: tuple[float, float] = (5.0, 90.0)
    lvidd_cm: tuple[float, float] = (2.0, 10.0)
    lavi_ml_m2: tuple[float, float] = (5.0, 250.0)
    e_a_ratio: tuple[float, float] = (0.1, 8.0)
    tr_velocity_m_s: tuple[float, float] = (0.5, 7.0)
    pasp_mmhg: tuple[float, float] = (5.0, 160.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            low, high = getattr(self, f.name)
            if not low < high:
                raise ValueError(f"valid range {f.name} must be (low, high) with low < high")


@dataclass(frozen=True)
class CtColumns:
    """Column names of the CT table (one row per scan)."""

    scan_id: str = "scan_id"
    patient_id: str = "patient_id"
    study_date: str = "study_date"
    sex: str = "sex"


@dataclass(frozen=True)
class EchoColumns:
    """Column names of the echo table (one row per exam). Unit columns are optional."""

    patient_id: str = "patient_id"
    exam_date: str = "exam_date"
    sex: str = "sex"
    lvef: str = "lvef_percent"
    lvidd: str = "lvidd_cm"
    lavi: str = "lavi_ml_m2"
    e_a: str = "e_a_ratio"
    tr_velocity: str = "tr_peak_velocity_m_s"
    pasp: str = "pasp_mmhg"
    rv_function: str = "rv_systolic_function"
    lvidd_unit: str = "lvidd_unit"
    lvef_unit: str = "lvef_unit"


@dataclass(frozen=True)
class EchoConfig:
    """Everything echo curation needs besides the two tables.

    window_days: an exam matches a CT when at most this many days before or after it.
    lvidd_unit / lvef_unit: "auto" infers the unit from the values and refuses a mix; "cm"/"mm"
        and "percent"/"fraction" force it. A per-row unit column, when present, wins.
    date_format: strftime format of both tables' dates; None accepts ISO dates (YYYY-MM-DD).
    """

    window_days: int = 180
    thresholds: EchoThresholds = field(default_factory=EchoThresholds)
    ranges: ValidRanges = field(default_factory=ValidRanges)
    ct_columns: CtColumns = field(default_factory=CtColumns)
    echo_columns: EchoColumns = field(default_factory=EchoColumns)
    lvidd_unit: str = "auto"
    lvef_unit: str = "auto"
    date_format: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.window_days, int) or self.window_days < 0:
            raise ValueError(
                f"window_days must be a non-negative integer, got {self.window_days!r}"
            )
        if self.lvidd_unit not in LVIDD_UNITS:
            raise ValueError(f"lvidd_unit must be one of {LVIDD_UNITS}, got {self.lvidd_unit!r}")
        if self.lvef_unit not in LVEF_UNITS:
            raise ValueError(f"lvef_unit must be one of {LVEF_UNITS}, got {self.lvef_unit!r}")
