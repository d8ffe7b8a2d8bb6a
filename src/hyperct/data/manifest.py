"""The manifest: one row per scan with its file, patient, cohort, split and 25 task labels.

``load_manifest`` reads CSV or Parquet and validates it against the contract in
docs/architecture.md; every problem names the row (scan_id and line) and the column. Relative
paths are resolved against the manifest's folder and returned absolute.
"""

from __future__ import annotations

import difflib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.findings_categories import CATEGORY_COLUMNS
from hyperct.io.atomic import atomic_path
from hyperct.tasks import LABEL_VALUES, TASK_NAMES, TASKS

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("scan_id", "patient_id", "path", "cohort", "split")
#: ``rescale_slope``/``rescale_intercept``: a stored->HU rescale known only from metadata (CT-RATE);
#: applied at read time unless the volume is already in HU (see :mod:`hyperct.io.hu`).
OPTIONAL_COLUMNS = (
    "study_date",
    "sex",
    "age",
    "report_text",
    "anatomy_path",
    "findings_mask_path",
    "rescale_slope",
    "rescale_intercept",
)
PATH_COLUMNS = ("path", "anatomy_path", "findings_mask_path")
SPLITS = ("train", "val", "test")
MAX_REPORTED = 50


class ManifestError(ValueError):
    """A manifest breaks the contract; ``problems`` lists every violation found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source, self.problems = source, problems
        shown = problems[:MAX_REPORTED]
        more = (
            f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        )
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(shown) + more)


@dataclass
class ManifestCheck:
    """Result of validating a manifest: hard problems and softer warnings."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV (UTF-8, all cells as text, blanks kept as '') or a Parquet file.

    An empty file, a text file that is not UTF-8 and an unreadable table raise
    :class:`ManifestError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".tsv"):
        raise ValueError(f"{path}: a manifest is a .csv, .tsv or .parquet file")
    if path.stat().st_size == 0:
        raise ManifestError(str(path), ["the file is empty (0 bytes)"])
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ManifestError(str(path), [f"not a readable Parquet file ({exc})"]) from exc
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestError(
            str(path),
            [
                f"not UTF-8 at byte {exc.start} (line {line}, byte "
                f"{data[exc.start:exc.start + 1]!r}); save it as UTF-8"
            ],
        ) from exc
    try:
        return pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            sep="\t" if suffix == ".tsv" else ",",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ManifestError(
            str(path), [f"not a readable {suffix[1:].upper()} table ({exc})"]
        ) from exc


def load_manifest(
    path: str | Path, check_files: bool = True, check_leakage: bool = True
) -> pd.DataFrame:
    """Read and validate a manifest; raise :class:`ManifestError` listing every problem.

    Returns task columns as int8 in {1, 0, -1} and path columns as absolute paths; the source
    file is kept in ``df.attrs["source"]``.
    """
    path = Path(path)
    raw = read_table(path)
    locate = _locator(raw, is_csv=path.suffix.lower() != ".parquet")
    df, check = check_manifest(
        raw,
        base_dir=path.parent,
        check_files=check_files,
        check_leakage=check_leakage,
        locate=locate,
    )
    for warning in check.warnings:
        logger.warning("%s: %s", path, warning)
    if check.problems:
        raise ManifestError(str(path), check.problems)
    df.attrs["source"] = str(path.resolve())
    return df


def check_manifest(
    raw: pd.DataFrame,
    base_dir: str | Path = ".",
    check_files: bool = True,
    check_leakage: bool = True,
    locate: dict | None = None,
) -> tuple[pd.DataFrame, ManifestCheck]:
    """Validate a manifest table; return the typed table and the problems/warnings found."""
    locate = locate or _locator(raw, is_csv=False)
    check = ManifestCheck()
    _check_columns(raw, check)
    if any(c not in raw.columns for c in REQUIRED_COLUMNS):
        return raw, check
    df = raw.copy()
    for col in REQUIRED_COLUMNS:
        df[col] = _as_text(df[col])
    _check_required_values(df, locate, check)
    _check_ids(df, locate, check)
    _check_splits(df, locate, check)
    for task in TASK_NAMES:
        if task in df.columns:
            df[task] = parse_labels(df[task], task, locate, check.problems)
    _resolve_paths(df, Path(base_dir), check_files, locate, check)
    if check_leakage:
        _check_leakage(df, check)
    return df, check


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as stripped text; nulls (None, NaN, pd.NA) become '' so they are caught as blanks."""
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def _locator(df: pd.DataFrame, is_csv: bool) -> dict:
    ids = (
        _as_text(df["scan_id"])
        if "scan_id" in df.columns
        else pd.Series([""] * len(df), index=df.index)
    )
    return {
        idx: f"{'line' if is_csv else 'row'} {pos + (2 if is_csv else 1)} (scan_id={sid})"
        for pos, (idx, sid) in enumerate(zip(df.index, ids))
    }


def _check_columns(df: pd.DataFrame, check: ManifestCheck) -> None:
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | set(TASK_NAMES) | set(CATEGORY_COLUMNS)
    extra = [c for c in df.columns if c not in known]
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            check.problems.append(f"missing required column {col!r}")
    for task in TASK_NAMES:
        if task not in df.columns:
            hint = difflib.get_close_matches(task, extra, n=1, cutoff=0.8)
            suffix = f" (did you mean the column {hint[0]!r}?)" if hint else ""
            check.problems.append(f"missing task column {task!r}{suffix}")
    for col in extra:
        if _looks_like_task(df[col], col):
            check.warnings.append(
                f"column {col!r} looks like a task label column but is not one of the 25 tasks"
            )


def _looks_like_task(values: pd.Series, name: str) -> bool:
    if difflib.get_close_matches(name, TASK_NAMES, n=1, cutoff=0.8):
        return True
    text = values.astype(str).str.strip()
    return len(text) > 0 and text.isin({"1", "0", "-1", "1.0", "0.0", "-1.0"}).all()


def _check_required_values(df: pd.DataFrame, locate: dict, check: ManifestCheck) -> None:
    for col in REQUIRED_COLUMNS:
        for idx in df.index[df[col].isin(["", "nan", "None"])]:
            check.problems.append(f"{locate[idx]}, column {col!r}: blank value")


def _check_ids(df: pd.DataFrame, locate: dict, check: ManifestCheck) -> None:
    dup = df["scan_id"].duplicated(keep="first")
    for idx in df.index[dup]:
        check.problems.append(f"{locate[idx]}, column 'scan_id': duplicate scan_id")


def _check_splits(df: pd.DataFrame, locate: dict, check: ManifestCheck) -> None:
    for idx in df.index[~df["split"].isin(SPLITS)]:
        check.problems.append(
            f"{locate[idx]}, column 'split': {df.at[idx, 'split']!r} is not one of {SPLITS}"
        )


def parse_labels(values: pd.Series, column: str, locate: dict, problems: list[str]) -> pd.Series:
    """Parse a task column into int8 {1, 0, -1}; blanks and other values are problems, never coerced."""
    text = _as_text(values)
    numeric = pd.to_numeric(text.replace({"": None, "nan": None}), errors="coerce")
    valid = numeric.isin(LABEL_VALUES)
    for idx in values.index[~valid]:
        shown = text.at[idx]
        blank = shown in ("", "nan", "None")
        what = (
            "blank label (use -1 for not available)"
            if blank
            else f"label {shown!r} is not 1, 0 or -1"
        )
        problems.append(f"{locate.get(idx, f'row {idx}')}, column {column!r}: {what}")
    return numeric.where(valid, -1).astype(np.int8)


def _resolve_paths(
    df: pd.DataFrame, base: Path, check_files: bool, locate: dict, check: ManifestCheck
) -> None:
    for col in PATH_COLUMNS:
        if col not in df.columns:
            continue
        resolved = []
        for idx, text in _as_text(df[col]).items():
            if not text:
                resolved.append("")
                continue
            p = Path(text) if Path(text).is_absolute() else (base / text)
            try:
                p = p.resolve()
            except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError up to 3.12
                p = Path(os.path.abspath(p))
                if check_files:
                    check.problems.append(
                        f"{locate[idx]}, column {col!r}: cannot resolve {p} ({exc})"
                    )
                resolved.append(str(p))
                continue
            if check_files and not p.exists():
                check.problems.append(f"{locate[idx]}, column {col!r}: file not found: {p}")
            resolved.append(str(p))
        df[col] = resolved


def _check_leakage(df: pd.DataFrame, check: ManifestCheck) -> None:
    """A patient's scans must all sit in one split; patient ids are scoped by cohort.

    Rows with a blank patient or cohort are already problems and are left out here.
    """
    df = df[(df["patient_id"] != "") & (df["cohort"] != "")]
    splits = df.groupby(["cohort", "patient_id"])["split"].agg(lambda s: sorted(set(s)))
    leaked = splits[splits.map(len) > 1]
    for (cohort, patient), names in leaked.items():
        mine = (df["cohort"] == cohort) & (df["patient_id"] == patient)
        ids = df.loc[mine, "scan_id"].tolist()
        check.problems.append(
            f"patient {patient!r} (cohort {cohort!r}) is in several splits {names} "
            f"(split leakage; scans {ids[:5]})"
        )


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest as CSV or Parquet (by suffix), atomically, task columns in catalogue order."""
    path = Path(path)
    ordered = [c for c in REQUIRED_COLUMNS if c in df.columns]
    ordered += [c for c in OPTIONAL_COLUMNS if c in df.columns]
    ordered += [t.name for t in TASKS if t.name in df.columns]
    ordered += [c for c in df.columns if c not in ordered]
    out = df[ordered]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            out.to_parquet(tmp, index=False)
        else:
            out.to_csv(tmp, index=False)
    return path
