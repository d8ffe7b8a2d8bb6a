"""Run TotalSegmentator over a manifest and record each scan's ``anatomy_path``.

Anatomy masks are free supervision ("Scaling Supervision for Free", MIDL 2025): TotalSegmentator
(Wasserthal et al., 2023) segments every scan once, before training. TotalSegmentator is an
optional dependency (``pip install 'hyperct[anatomy]'``) that downloads its own weights on the
user's machine. Scans that already have a mask are skipped, a failed scan is recorded and the run
goes on, and the manifest is rewritten atomically with the paths of the masks written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hyperct.anatomy.masks import structures_to_multilabel
from hyperct.data.manifest import read_table, write_manifest
from hyperct.io.atomic import atomic_path

logger = logging.getLogger(__name__)

#: ``segmenter(ct_path, out_path, fast)`` writes one multi-label NIfTI with TotalSegmentator v2 ids.
Segmenter = Callable[[Path, Path, bool], None]

INSTALL_HINT = (
    "TotalSegmentator is not installed; install it with `pip install 'hyperct[anatomy]'` "
    "(or `pip install TotalSegmentator`). It downloads its own model weights on first use."
)


class TotalSegmentatorMissingError(RuntimeError):
    """TotalSegmentator is needed but cannot be imported."""


@dataclass
class SegmentReport:
    """What :func:`segment_manifest` did, by scan id."""

    segmented: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def totalsegmentator_segmenter() -> Segmenter:
    """A segmenter calling TotalSegmentator's Python API (task ``total``, multi-label output)."""
    try:
        from totalsegmentator.python_api import totalsegmentator
    except ImportError as exc:
        raise TotalSegmentatorMissingError(INSTALL_HINT) from exc

    def segment(ct_path: Path, out_path: Path, fast: bool) -> None:
        totalsegmentator(input=str(ct_path), output=str(out_path), ml=True, fast=fast, task="total")

    return segment


def mask_file_name(scan_id: str) -> str:
    """File name of a scan's anatomy mask: ``<scan_id>_anatomy.nii.gz``."""
    return f"{scan_id}_anatomy.nii.gz"


def segment_manifest(
    manifest_path: str | Path,
    out_dir: str | Path | None = None,
    fast: bool = False,
    segmenter: Segmenter | None = None,
) -> SegmentReport:
    """Segment every scan of the manifest that has no anatomy mask yet.

    A scan is skipped when its recorded ``anatomy_path`` is a file, or when ``out_dir`` already
    holds its mask (an interrupted run; then recorded). A recorded folder of per-structure
    TotalSegmentator files is combined into one multi-label file in ``out_dir`` and recorded.
    The manifest is rewritten atomically, also when the run is interrupted, with every mask
    written so far.

    Args:
        manifest_path: CSV or Parquet manifest (``scan_id`` and ``path`` columns at least).
        out_dir: where masks go; default ``<manifest folder>/anatomy``.
        fast: TotalSegmentator's 3 mm model (much faster on CPU).
        segmenter: replaces TotalSegmentator (tests, other tools); default the real one, imported
            only if a scan needs segmenting.

    Returns:
        Which scans were segmented, skipped (mask already present) or failed, with the reason.
    """
    manifest_path = Path(manifest_path)
    table = _read_table(manifest_path)
    root = manifest_path.parent
    out_dir = Path(out_dir) if out_dir is not None else root / "anatomy"
    recorded = (
        table["anatomy_path"]
        if "anatomy_path" in table.columns
        else pd.Series(None, index=table.index)
    )
    table["anatomy_path"] = recorded.astype(object).where(recorded.notna(), None)
    todo = [i for i in table.index if not _has_recorded_mask(root, table.at[i, "anatomy_path"])]
    report = SegmentReport(
        skipped=[str(table.at[i, "scan_id"]) for i in table.index if i not in set(todo)]
    )
    needs_model = [
        i
        for i in todo
        if _recorded_folder(root, table.at[i, "anatomy_path"]) is None
        and not (out_dir / mask_file_name(str(table.at[i, "scan_id"]))).exists()
    ]
    if segmenter is None and needs_model:
        segmenter = totalsegmentator_segmenter()
    changed = False
    try:
        for i in todo:
            target = _segment_scan(table.loc[i], root, out_dir, fast, segmenter, report)
            if target is not None:
                table.at[i, "anatomy_path"] = _relative(root, target)
                changed = True
    finally:
        if changed:
            write_manifest(table, manifest_path)
    logger.info(
        "anatomy: %d segmented, %d already had masks, %d failed",
        len(report.segmented),
        len(report.skipped),
        len(report.failed),
    )
    return report


def _has_recorded_mask(root: Path, recorded: object) -> bool:
    """A recorded multi-label file; a per-structure folder still has to be combined."""
    return isinstance(recorded, str) and bool(recorded) and _resolve(root, recorded).is_file()


def _recorded_folder(root: Path, recorded: object) -> Path | None:
    if isinstance(recorded, str) and recorded and _resolve(root, recorded).is_dir():
        return _resolve(root, recorded)
    return None


def _segment_scan(
    row: pd.Series,
    root: Path,
    out_dir: Path,
    fast: bool,
    segmenter: Segmenter | None,
    report: SegmentReport,
) -> Path | None:
    """The scan's mask path once it exists, or None if segmenting it failed."""
    scan_id = str(row["scan_id"])
    target = out_dir / mask_file_name(scan_id)
    if target.exists():
        logger.debug("anatomy: scan %s: found existing %s, recording it", scan_id, target)
        report.skipped.append(scan_id)
        return target
    folder = _recorded_folder(root, row["anatomy_path"])
    if folder is not None:
        try:
            structures_to_multilabel(folder, target)
        except (OSError, ValueError) as exc:
            logger.error("anatomy: scan %s: cannot combine %s: %s", scan_id, folder, exc)
            report.failed[scan_id] = f"{type(exc).__name__}: {exc}"
            return None
        report.skipped.append(scan_id)
        return target
    assert segmenter is not None  # resolved by segment_manifest before any scan needs it
    ct_path = _resolve(root, str(row["path"]))
    try:
        with atomic_path(target) as tmp:
            segmenter(ct_path, tmp, fast)
    except Exception as exc:  # one bad scan must not stop a batch job; it is reported
        logger.error("anatomy: scan %s (%s) failed: %s", scan_id, ct_path, exc)
        report.failed[scan_id] = f"{type(exc).__name__}: {exc}"
        return None
    report.segmented.append(scan_id)
    return target


def _resolve(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


def _relative(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def _read_table(path: Path) -> pd.DataFrame:
    table = read_table(path)
    missing = [c for c in ("scan_id", "path") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    return table
