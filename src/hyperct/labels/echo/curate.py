"""Echo curation: CT table + echo table -> the seven opportunistic labels and an audit trail.

Bad rows do not stop the job: an unparseable date, a non-numeric or out-of-range measurement is
recorded in ``problems`` (and the audit), the value is not used, and the caller decides the
exit status. Missing columns, duplicate scan ids and ambiguous units are errors.

Sex, needed for the LVIDd threshold, is read from the CT table and, where that is blank, from
the matched exam; when neither says F or M, Ventricular enlargement is -1. The audit has one row
per scan and task: label, echo row (1-based file line), exam date, days apart (exam - CT) and
the reason (the measurement and threshold, or why the label is -1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.labels.echo.config import EchoColumns, EchoConfig
from hyperct.labels.echo.criteria import (
    UNKNOWN_RV_WORDING,
    Measurements,
    opportunistic_labels,
    rv_label,
)
from hyperct.labels.echo.match import match_exams
from hyperct.labels.echo.units import resolve_unit, to_numbers
from hyperct.tasks import OPPORTUNISTIC

logger = logging.getLogger(__name__)

_SEX = {
    "f": "F",
    "female": "F",
    "woman": "F",
    "w": "F",
    "k": "F",
    "m": "M",
    "male": "M",
    "man": "M",
    "e": "M",
}
# canonical name -> (EchoColumns attribute, ValidRanges attribute, unit for messages)
_NUMERIC = {
    "lvef_percent": ("lvef", "lvef_percent", "%"),
    "lvidd_cm": ("lvidd", "lvidd_cm", "cm"),
    "lavi_ml_m2": ("lavi", "lavi_ml_m2", "mL/m2"),
    "e_a_ratio": ("e_a", "e_a_ratio", ""),
    "tr_velocity_m_s": ("tr_velocity", "tr_velocity_m_s", "m/s"),
    "pasp_mmhg": ("pasp", "pasp_mmhg", "mmHg"),
}


@dataclass
class EchoResult:
    """Labels (scan id + 7 task columns), audit (one row per scan and task), problems."""

    labels: pd.DataFrame
    audit: pd.DataFrame
    problems: list[str] = field(default_factory=list)


def normalise_sex(value: object) -> str | None:
    """'F'/'M' from common spellings; None when missing or not recognised."""
    return _SEX.get(str(value).strip().lower())


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; columns are {list(df.columns)}")


def _dates(
    values: pd.Series, column: str, what: str, fmt: str | None, problems: list[str]
) -> pd.Series:
    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce")
    for idx in text[(parsed.isna())].index:
        problems.append(
            f"{what} row {int(idx) + 2}, column {column!r}: {text[idx]!r} is not a date"
        )
    return parsed


def _check_rv_wording(values: pd.Series, column: str, problems: list[str]) -> None:
    """Record every RV function entry in neither vocabulary: its label will be -1."""
    for idx, text in values.items():
        reason = rv_label(text)[1]
        if reason.startswith(UNKNOWN_RV_WORDING):
            note = f"echo row {int(idx) + 2}, column {column!r}: {reason}; RV label -1"
            logger.warning(note)
            problems.append(note)


def prepare_exams(echo: pd.DataFrame, config: EchoConfig, problems: list[str]) -> pd.DataFrame:
    """Echo table -> canonical columns (patient_id, date, sex, measurements in canonical units)."""
    cols: EchoColumns = config.echo_columns
    _require(echo, [cols.patient_id, cols.exam_date], "echo table")
    echo = echo.reset_index(drop=True)
    out = pd.DataFrame(index=echo.index)
    out["patient_id"] = echo[cols.patient_id].astype(str).str.strip()
    out["date"] = _dates(echo[cols.exam_date], cols.exam_date, "echo", config.date_format, problems)
    out["sex"] = echo[cols.sex].map(normalise_sex) if cols.sex in echo.columns else None
    out["rv_function"] = (
        echo[cols.rv_function].astype(str) if cols.rv_function in echo.columns else ""
    )
    if cols.rv_function in echo.columns:
        _check_rv_wording(out["rv_function"], cols.rv_function, problems)
    out["flags"] = ""
    for name, (attr, range_attr, unit) in _NUMERIC.items():
        column = getattr(cols, attr)
        values = (
            to_numbers(echo[column], column, problems)
            if column in echo.columns
            else pd.Series(np.nan, index=echo.index)
        )
        if name == "lvidd_cm":
            values = resolve_unit(
                values, column, config.lvidd_unit, "cm", echo.get(cols.lvidd_unit)
            )
        elif name == "lvef_percent":
            values = resolve_unit(
                values, column, config.lvef_unit, "percent", echo.get(cols.lvef_unit)
            )
        low, high = getattr(config.ranges, range_attr)
        bad = values.notna() & ((values < low) | (values > high))
        for idx in values[bad].index:
            note = (
                f"{column} {values[idx]:g} {unit} outside the valid range {low:g}-{high:g}, "
                "not used"
            )
            problems.append(f"echo row {int(idx) + 2}: {note}")
            out.loc[idx, "flags"] += note + "; "
        out[name] = values.where(~bad)
    return out


def _audit_rows(
    scan_id: str,
    exam: pd.Series | None,
    days: float,
    labels: dict[str, tuple[int, str]],
) -> list[dict[str, object]]:
    rows = []
    for task, (label, note) in labels.items():
        rows.append(
            {
                "scan_id": scan_id,
                "task": task,
                "label": label,
                "echo_row": "" if exam is None else int(exam.name) + 2,
                "exam_date": "" if exam is None else exam["date"].date().isoformat(),
                "days_apart": "" if exam is None else int(days),
                "reason": note
                if exam is None or not exam["flags"]
                else f"{note} [{exam['flags'].strip('; ')}]",
            }
        )
    return rows


def curate_echo_labels(
    ct: pd.DataFrame, echo: pd.DataFrame, config: EchoConfig | None = None
) -> EchoResult:
    """Match every CT to its nearest echo exam within the window and apply the thresholds."""
    config = config or EchoConfig()
    problems: list[str] = []
    cc = config.ct_columns
    _require(ct, [cc.scan_id, cc.patient_id, cc.study_date], "CT table")
    ct = ct.reset_index(drop=True)
    ids = ct[cc.scan_id].astype(str).str.strip()
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ValueError(f"CT table: duplicate {cc.scan_id} value(s) {sorted(set(dup))[:5]}")
    cts = pd.DataFrame({"patient_id": ct[cc.patient_id].astype(str).str.strip()})
    cts["date"] = _dates(ct[cc.study_date], cc.study_date, "CT", config.date_format, problems)
    ct_sex = (
        ct[cc.sex].map(normalise_sex) if cc.sex in ct.columns else pd.Series(None, index=ct.index)
    )
    exams = prepare_exams(echo, config, problems)
    matched = match_exams(cts, exams, config.window_days)
    names = [t.name for t in OPPORTUNISTIC]
    label_rows, audit = [], []
    for i in ct.index:
        exam_index = int(matched.at[i, "exam_index"])
        if exam_index < 0:
            reason = (
                "CT date not usable"
                if pd.isna(cts.at[i, "date"])
                else f"no echo exam within {config.window_days} days"
            )
            labels = {t: (-1, reason) for t in names}
            exam = None
        else:
            exam = exams.loc[exam_index]
            sex = ct_sex[i] if ct_sex[i] in ("F", "M") else exam["sex"]
            labels = opportunistic_labels(_measurements(exam, sex), config.thresholds)
        label_rows.append({cc.scan_id: ids[i], **{t: labels[t][0] for t in names}})
        audit += _audit_rows(ids[i], exam, matched.at[i, "days_apart"], labels)
    n_matched = int((matched["exam_index"] >= 0).sum())
    logger.info(
        "matched %d of %d CTs to an echo exam within %d days",
        n_matched,
        len(ct),
        config.window_days,
    )
    audit_columns = ["scan_id", "task", "label", "echo_row", "exam_date", "days_apart", "reason"]
    return EchoResult(
        pd.DataFrame(label_rows, columns=[cc.scan_id, *names]),
        pd.DataFrame(audit, columns=audit_columns),
        problems,
    )


def _measurements(exam: pd.Series, sex: str | None) -> Measurements:
    values = {f.name: exam[f.name] for f in fields(Measurements) if f.name in _NUMERIC}
    return Measurements(
        **values, rv_function=str(exam["rv_function"]), sex=sex if sex in ("F", "M") else None
    )


def curate_echo_files(
    ct_path: str | Path,
    echo_path: str | Path,
    out_path: str | Path,
    audit_path: str | Path | None = None,
    config: EchoConfig | None = None,
    into: str | Path | None = None,
) -> EchoResult:
    """File version of :func:`curate_echo_labels`: writes labels, audit, optionally a manifest."""
    from hyperct.io.atomic import write_csv_atomic
    from hyperct.labels.io import read_csv_text, update_manifest

    config = config or EchoConfig()
    try:
        result = curate_echo_labels(read_csv_text(ct_path), read_csv_text(echo_path), config)
    except ValueError as exc:
        raise ValueError(f"{ct_path} / {echo_path}: {exc}") from exc
    write_csv_atomic(result.labels, out_path)
    audit_path = audit_path or Path(out_path).with_suffix(".audit.csv")
    write_csv_atomic(result.audit, audit_path)
    if into is not None:
        unknown = update_manifest(into, result.labels, config.ct_columns.scan_id)
        result.problems += [f"{into}: scan id {u!r} is not in the manifest" for u in unknown]
    return result
