"""Segmentation metrics from mask files: a folder of predicted NIfTI masks against a folder of
reference masks, one ``<scan_id>.nii.gz`` (or ``.nii``) per scan in each.

Two layouts (:class:`MaskEvaluationConfig`):

* findings (default, ReXGroundingCT): a 4-D mask with one channel per finding (a 3-D mask is one
  finding); the prediction has the same channels. Categories come from a findings table
  (``scan_id``, ``mask_channel``, ``category``; channels 0 .. F-1 of each scan) or, without one,
  are all :data:`UNCATEGORISED`.
* categories: one channel per category (4-D), or a 3-D label map whose value k is the k-th
  category; reference categories that are empty are no finding (see
  :func:`hyperct.evaluation.segmentation.score_category_masks`).

Any non-zero voxel is in the mask; fractional values (a probability map) are refused, so the
threshold is chosen by the user, not here. Both masks of a scan must share shape and affine.
A scan that cannot be scored (missing prediction, grid mismatch, ...) is recorded as a failure
and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.segmentation import FindingScore, score_category_masks, score_findings
from hyperct.evaluation.segmentation_summary import findings_table, summary_table
from hyperct.io.atomic import write_csv_atomic
from hyperct.io.errors import CTReadError
from hyperct.labels.io import read_csv_text

logger = logging.getLogger(__name__)

MASK_SUFFIXES = (".nii.gz", ".nii")
UNCATEGORISED = "uncategorised"
FINDINGS_CSV = "segmentation_findings.csv"
SUMMARY_CSV = "segmentation_summary.csv"


@dataclass(frozen=True)
class FindingsColumns:
    """Columns of the findings table that give each mask channel its category."""

    scan_id: str = "scan_id"
    channel: str = "mask_channel"
    category: str = "category"


@dataclass(frozen=True)
class MaskEvaluationConfig:
    """categories: names of the category channels / labels; empty means the findings layout."""

    categories: tuple[str, ...] = ()
    columns: FindingsColumns = FindingsColumns()
    bootstrap: BootstrapConfig = BootstrapConfig()

    def __post_init__(self) -> None:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"category names must be unique, got {list(self.categories)}")


@dataclass
class MaskEvaluation:
    """Per-finding scores, the per-category summary, what failed, and the files written."""

    findings: pd.DataFrame
    summary: pd.DataFrame
    failures: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def read_mask_channels(path: str | Path, n_labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masks of one NIfTI file as bool (channels, k, j, i) with the file's affine.

    A 4-D file gives its channels, a 3-D one a single channel, or with ``n_labels`` one channel
    per label value 1 .. n_labels (a value above that is refused).
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for a bad file
        raise CTReadError(f"{path}: not a readable NIfTI mask ({exc})") from exc
    if data.ndim not in (3, 4):
        raise CTReadError(f"{path}: expected a 3-D or 4-D mask, got shape {data.shape}")
    if data.dtype.kind == "f" and not np.array_equal(data, np.round(data)):
        raise CTReadError(f"{path}: mask has fractional values; threshold probabilities first")
    channels = data.T  # (x, y, z[, c]) on disk -> (c, z, y, x), contiguous for channel-last files
    if data.ndim == 4:
        masks = channels != 0
    elif n_labels is None:
        masks = (channels != 0)[None]
    else:
        masks = _one_hot(path, channels, n_labels)
    return masks, np.asarray(img.affine, dtype=float)


def score_mask_files(
    pred_path: str | Path,
    ref_path: str | Path,
    scan_id: str,
    categories: Sequence[str] | None = None,
    by_category: bool = False,
) -> list[FindingScore]:
    """Scores of one scan from its predicted and reference mask files.

    ``categories``: one per channel (or per label with ``by_category``); None makes every
    finding :data:`UNCATEGORISED`.
    """
    n_labels = len(categories) if by_category and categories is not None else None
    pred, pred_affine = read_mask_channels(pred_path, n_labels)
    ref, ref_affine = read_mask_channels(ref_path, n_labels)
    if pred.shape != ref.shape or not np.allclose(pred_affine, ref_affine, atol=1e-2):
        raise CTReadError(
            f"{pred_path}: mask grid {pred.shape[1:]} with {pred.shape[0]} channel(s) differs "
            f"from the reference {ref_path} ({ref.shape[1:]}, {ref.shape[0]} channel(s)) or "
            "their affines differ"
        )
    names = list(categories) if categories is not None else [UNCATEGORISED] * ref.shape[0]
    score = score_category_masks if by_category else score_findings
    return score(pred, ref, names, scan_id)


def evaluate_mask_dirs(
    pred_dir: str | Path,
    ref_dir: str | Path,
    out_dir: str | Path,
    findings_csv: str | Path | None = None,
    config: MaskEvaluationConfig = MaskEvaluationConfig(),
) -> MaskEvaluation:
    """Score every reference scan against its prediction; write the findings and summary CSVs."""
    preds, refs = _mask_files(Path(pred_dir)), _mask_files(Path(ref_dir))
    if not refs:
        raise ValueError(f"{ref_dir}: no reference masks (*.nii.gz, *.nii)")
    extra = sorted(set(preds) - set(refs))
    if extra:
        logger.warning("%d predicted masks have no reference and are ignored: %s", len(extra),
                       ", ".join(extra[:10]))
    table = _categories_by_scan(findings_csv, config.columns) if findings_csv else None
    scores, failures = [], []
    for scan_id, ref_path in sorted(refs.items()):
        try:
            if scan_id not in preds:
                raise FileNotFoundError(f"{scan_id}: no predicted mask for the reference {ref_path}")
            if table is not None and scan_id not in table:
                raise ValueError(f"{scan_id}: not in the findings table {findings_csv}")
            categories = config.categories or (table[scan_id] if table is not None else None)
            scores += score_mask_files(
                preds[scan_id], ref_path, scan_id, categories, by_category=bool(config.categories)
            )
        except (ValueError, OSError) as exc:
            failures.append(str(exc))
    if not scores:
        raise ValueError(f"no scan could be scored; first problems: {'; '.join(failures[:3])}")
    findings = findings_table(scores)
    summary = summary_table(findings, config.bootstrap)
    out = Path(out_dir)
    files = [
        write_csv_atomic(findings, out / FINDINGS_CSV, float_format="%.6g"),
        write_csv_atomic(summary, out / SUMMARY_CSV, float_format="%.6g"),
    ]
    logger.info("scored %d findings of %d scans (%d failed)", len(findings),
                findings["scan_id"].nunique(), len(failures))
    return MaskEvaluation(findings=findings, summary=summary, failures=failures, files=files)


def _mask_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    out = {}
    for path in folder.iterdir():
        suffix = next((s for s in MASK_SUFFIXES if path.name.endswith(s)), None)
        if suffix is not None and path.is_file():
            out[path.name[: -len(suffix)]] = path
    return out


def _categories_by_scan(findings_csv: str | Path, cols: FindingsColumns) -> dict[str, list[str]]:
    """Category of each mask channel, per scan, from the findings table."""
    table = read_csv_text(findings_csv)
    missing = [c for c in (cols.scan_id, cols.channel, cols.category) if c not in table.columns]
    if missing:
        raise ValueError(f"{findings_csv}: missing column(s) {missing}")
    out = {}
    for scan_id, rows in table.groupby(cols.scan_id, sort=False):
        channels = pd.to_numeric(rows[cols.channel], errors="coerce")
        if list(channels.sort_values()) != list(range(len(rows))):
            raise ValueError(
                f"{findings_csv}: scan {scan_id!r} has mask channels {list(rows[cols.channel])}; "
                f"expected 0 .. {len(rows) - 1}, each once"
            )
        out[str(scan_id)] = rows.assign(_c=channels).sort_values("_c")[cols.category].tolist()
    return out


def _one_hot(path: Path, labels: np.ndarray, n_labels: int) -> np.ndarray:
    top = int(labels.max())
    if top > n_labels or int(labels.min()) < 0:
        raise CTReadError(
            f"{path}: label values {int(labels.min())} .. {top}, but {n_labels} categories given"
        )
    return np.stack([labels == k for k in range(1, n_labels + 1)])
