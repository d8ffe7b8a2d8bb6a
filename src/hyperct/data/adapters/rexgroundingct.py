"""ReXGroundingCT (Baharoon et al., 2025) -> hyperct manifest + findings table.

Layout read (the Hugging Face release; each part can be pointed elsewhere with :class:`RexLayout`)::

    ROOT/dataset.json           {"train"|"val"|"test": [{"name": "train_1_a_1.nii.gz",
                                  "findings": {"0": sentence, ...},
                                  "categories": {"0": "2d", ...}}]}
    ROOT/segmentations/<name>   one NIfTI per scan, one channel per finding in ``findings`` order
    VOLUMES/train/train_1/train_1_a/train_1_a_1.nii.gz   the CT-RATE volumes (layout ``ctrate``;
                                ``flat`` reads VOLUMES/<name>); VOLUMES defaults to ROOT

Masks: by default the channel axis is the first array axis, ``(findings, X, Y, Z)`` with the CT's
affine, as the release writes them; ``channel_axis="last"`` reads ``(X, Y, Z, findings)``. A
mask of a one-finding scan may also be 3-D. Channel ``i`` is finding ``"i"``. A mask must lie on
its CT's grid (shape, and affine within ``affine_atol_mm``, both compared after reorientation to
the canonical grid, so a mask stored in another orientation with a correct affine is accepted).

Written: the manifest (split from the JSON key, patient from the CT-RATE volume name, the 18
CT-RATE findings from the CT-RATE label CSVs when given, else -1, the 7 echo tasks -1, one 0/1
column per category of :mod:`hyperct.findings_categories`, ``findings_mask_path``, and
``report_text`` from the CT-RATE report CSVs when given, else the finding sentences); the findings
table (one row per finding: its category, sentence, mask file, channel and voxel count); the
errors table (scan_id, file, error). Each bad scan is recorded there and left out of both
tables; the run goes on. A patient whose scans sit in several JSON splits breaks the manifest's
no-leakage rule: all its scans go to its most held-out split (test, then val), logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import pandas as pd

from hyperct.data.adapters.common import relative_to, with_missing_labels
from hyperct.data.adapters.ctrate import (
    patient_id_of,
    read_volume_tables,
    report_texts,
    volume_id,
    volume_relpath,
)
from hyperct.data.manifest import SPLITS, write_manifest
from hyperct.data.merge import merge_labels
from hyperct.findings_categories import CATEGORIES, FindingCategory, category_by_code
from hyperct.io.atomic import write_csv_atomic
from hyperct.io.orientation import canonical_grid

logger = logging.getLogger(__name__)

ChannelAxis = Literal["first", "last"]
VolumeLayout = Literal["ctrate", "flat"]
CHANNEL_AXES: tuple[ChannelAxis, ...] = ("first", "last")
VOLUME_LAYOUTS: tuple[VolumeLayout, ...] = ("ctrate", "flat")
FINDING_COLUMNS = (
    "scan_id",
    "finding_index",
    "category",
    "category_name",
    "sentence",
    "mask_path",
    "mask_channel",
    "voxels",
)
ERROR_COLUMNS = ("scan_id", "file", "error")
#: Most held-out first: where a patient found in several JSON splits goes.
_HELD_OUT_ORDER = ("test", "val", "train")


@dataclass(frozen=True)
class RexLayout:
    """Where the parts of a ReXGroundingCT copy are and how its masks are stored.

    ``None`` paths take the release's places under ROOT (see the module docstring).
    """

    dataset_json: Path | None = None
    volumes: Path | None = None
    volume_layout: VolumeLayout = "ctrate"
    masks: Path | None = None
    channel_axis: ChannelAxis = "first"
    affine_atol_mm: float = 0.01

    def under(self, root: Path) -> RexLayout:
        """This layout with its defaults filled in for ``root``; bad choices are refused."""
        if self.volume_layout not in VOLUME_LAYOUTS:
            raise ValueError(
                f"volume layout must be one of {VOLUME_LAYOUTS}, got {self.volume_layout!r}"
            )
        if self.channel_axis not in CHANNEL_AXES:
            raise ValueError(
                f"channel axis must be one of {CHANNEL_AXES}, got {self.channel_axis!r}"
            )
        if not self.affine_atol_mm >= 0:
            raise ValueError(f"affine tolerance must be >= 0 mm, got {self.affine_atol_mm}")
        return replace(
            self,
            dataset_json=Path(self.dataset_json or root / "dataset.json"),
            volumes=Path(self.volumes or root),
            masks=Path(self.masks or root / "segmentations"),
        )

    def volume_path(self, entry: RexEntry) -> Path:
        assert self.volumes is not None
        if self.volume_layout == "flat":
            return self.volumes / entry.name
        return self.volumes / volume_relpath(entry.scan_id, source=entry.name)

    def mask_path(self, entry: RexEntry) -> Path:
        assert self.masks is not None
        return self.masks / entry.name


@dataclass(frozen=True)
class RexFinding:
    """One grounded finding: its index (= mask channel), category and sentence."""

    index: int
    category: FindingCategory
    sentence: str


@dataclass(frozen=True)
class RexEntry:
    """One scan of dataset.json."""

    name: str
    scan_id: str
    patient_id: str
    split: str
    findings: tuple[RexFinding, ...]


@dataclass
class RexResult:
    """What the adapter wrote: the three tables and where; ``ok`` is False when a scan failed."""

    manifest: pd.DataFrame
    findings: pd.DataFrame
    errors: pd.DataFrame
    manifest_path: Path
    findings_path: Path
    errors_path: Path

    @property
    def ok(self) -> bool:
        return self.errors.empty


@dataclass
class _Checked:
    """One scan after its files were checked: paths, voxel count per channel, problems."""

    entry: RexEntry
    volume: Path
    mask: Path
    voxels: list[int] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def adapt_rexgroundingct(
    root: str | Path,
    out: str | Path,
    layout: RexLayout | None = None,
    labels_csvs: list[Path] | None = None,
    reports_csvs: list[Path] | None = None,
    cohort: str = "rexgroundingct",
    findings_out: str | Path | None = None,
    errors_out: str | Path | None = None,
    workers: int = 1,
    progress: bool = False,
) -> RexResult:
    """Write the manifest, findings table and errors table for a ReXGroundingCT copy.

    ``labels_csvs``: CT-RATE ``*predicted_labels*.csv`` files (VolumeName + the 18 findings);
    ``reports_csvs``: CT-RATE ``*reports*.csv`` files. The tables go beside ``out`` as
    ``<stem>_findings.csv`` and ``<stem>_errors.csv`` unless given. ``workers`` threads read
    the masks (decompression releases the GIL).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root, out = Path(root), Path(out)
    layout = (layout or RexLayout()).under(root)
    findings_out = Path(findings_out or out.with_name(f"{out.stem}_findings.csv"))
    errors_out = Path(errors_out or out.with_name(f"{out.stem}_errors.csv"))
    entries, errors = read_dataset_json(layout.dataset_json)  # type: ignore[arg-type]
    reports = _reports(reports_csvs)
    good: list[_Checked] = []
    texts: dict[str, str] = {}
    for checked in _check_all(entries, layout, workers, progress):
        text = _report_text(checked, reports, reports_csvs or [])
        texts[checked.entry.scan_id] = text
        errors += [
            {"scan_id": checked.entry.scan_id, "file": f, "error": e} for f, e in checked.problems
        ]
        if not checked.problems:
            good.append(checked)
    error_table = pd.DataFrame(errors, columns=list(ERROR_COLUMNS))
    write_csv_atomic(error_table, errors_out)
    if not good:
        raise ValueError(
            f"{layout.dataset_json}: no usable scan "
            f"({len(error_table)} problem(s), listed in {errors_out})"
        )
    manifest = _manifest(good, texts, out.parent, cohort, labels_csvs or [])
    findings = _findings_table(good, findings_out.parent)
    write_manifest(manifest, out)
    write_csv_atomic(findings, findings_out)
    logger.info(
        "ReXGroundingCT: wrote %d scans of %d patients (%d findings) to %s; %d problem(s) in %s",
        len(manifest),
        manifest["patient_id"].nunique(),
        len(findings),
        out,
        len(error_table),
        errors_out,
    )
    return RexResult(manifest, findings, error_table, out, findings_out, errors_out)


def read_dataset_json(path: Path) -> tuple[list[RexEntry], list[dict[str, str]]]:
    """Parse dataset.json into entries; each malformed entry becomes an error naming its key path.

    A file that is not JSON, or not an object of splits, is refused outright (ValueError).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dataset.json not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(
            f'{path}: expected an object {{"train"|"val"|"test": [...]}}, got {type(data).__name__}'
        )
    entries: list[RexEntry] = []
    errors: list[dict[str, str]] = []
    seen: dict[str, str] = {}

    def fail(scan_id: str, where: str, what: str) -> None:
        errors.append({"scan_id": scan_id, "file": str(path), "error": f"{where}: {what}"})

    for split, items in data.items():
        where = _key(split)
        if split not in SPLITS:
            fail("", where, f"unknown split (expected one of {SPLITS})")
            continue
        if not isinstance(items, list):
            fail("", where, f"expected a list of scans, got {type(items).__name__}")
            continue
        for i, item in enumerate(items):
            problems: list[tuple[str, str]] = []
            entry = _parse_entry(split, i, item, problems)
            scan_id = entry.scan_id if entry is not None else _scan_id_of(item)
            if entry is not None and entry.scan_id in seen:
                problems.append(
                    (_key(split, i, "name"), f"scan listed twice (also at {seen[entry.scan_id]})")
                )
            for where_, what in problems:
                fail(scan_id, where_, what)
            if entry is not None and not problems:
                seen[entry.scan_id] = _key(split, i)
                entries.append(entry)
    return entries, errors


def _parse_entry(
    split: str, i: int, item: object, problems: list[tuple[str, str]]
) -> RexEntry | None:
    here = _key(split, i)
    if not isinstance(item, dict):
        problems.append(
            (here, f"expected an object with name, findings, categories; got {type(item).__name__}")
        )
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip().lower().endswith((".nii.gz", ".nii")):
        problems.append(
            (_key(split, i, "name"), f"expected a NIfTI file name (<volume>.nii.gz), got {name!r}")
        )
        return None
    name = name.strip()
    scan_id = volume_id(name)
    try:
        patient = patient_id_of(scan_id, source=name)
    except ValueError:
        problems.append(
            (
                _key(split, i, "name"),
                f"{name!r} does not follow CT-RATE's <split>_<patient>_<study>_<recon>.nii.gz",
            )
        )
        return None
    sentences = _numbered(item.get("findings"), _key(split, i, "findings"), problems)
    codes = _numbered(item.get("categories"), _key(split, i, "categories"), problems)
    if sentences is None or codes is None:
        return None
    if sorted(codes) != sorted(sentences):
        problems.append(
            (
                _key(split, i, "categories"),
                f"keys {sorted(codes)} do not match the findings keys {sorted(sentences)}",
            )
        )
        return None
    findings = []
    for index in range(len(sentences)):
        sentence = sentences[index]
        if not isinstance(sentence, str) or not sentence.strip():
            problems.append(
                (_key(split, i, "findings", str(index)), f"empty finding sentence {sentence!r}")
            )
            continue
        try:
            category = category_by_code(str(codes[index]))
        except KeyError as exc:
            problems.append((_key(split, i, "categories", str(index)), str(exc.args[0])))
            continue
        findings.append(RexFinding(index, category, sentence.strip()))
    if problems:
        return None
    return RexEntry(name, scan_id, patient, split, tuple(findings))


def _numbered(
    value: object, where: str, problems: list[tuple[str, str]]
) -> dict[int, object] | None:
    """``{"0": x, "1": y}`` -> ``{0: x, 1: y}``; the keys must be 0 .. n-1."""
    if not isinstance(value, dict):
        problems.append(
            (where, f'expected an object {{"0": ..., "1": ...}}, got {type(value).__name__}')
        )
        return None
    if not value:
        problems.append((where, "no findings (a ReXGroundingCT scan has at least one)"))
        return None
    keys = list(value)
    if sorted(keys, key=lambda k: (len(k), k)) != [str(n) for n in range(len(keys))]:
        problems.append((where, f'keys must be "0" .. "{len(keys) - 1}", got {keys}'))
        return None
    return {int(k): v for k, v in value.items()}


def _scan_id_of(item: object) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return volume_id(name) if isinstance(name, str) else ""


def _key(*parts: str | int) -> str:
    return "".join(f"[{json.dumps(p)}]" for p in parts)


def _check_all(
    entries: list[RexEntry], layout: RexLayout, workers: int, progress: bool
) -> Iterator[_Checked]:
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda e: _check_scan(e, layout), entries)
        yield from tqdm(
            results, total=len(entries), desc="rexgroundingct", unit="scan", disable=not progress
        )


def _check_scan(entry: RexEntry, layout: RexLayout) -> _Checked:
    """Check one scan's CT and mask files; never raises for bad files (problems are recorded)."""
    checked = _Checked(entry, layout.volume_path(entry), layout.mask_path(entry))
    ct_grid = _ct_grid(checked)
    if not checked.mask.is_file():
        checked.problems.append((str(checked.mask), "finding mask not found"))
        return checked
    try:
        img = nib.load(str(checked.mask))
    except Exception as exc:  # nibabel raises many types for a bad header
        checked.problems.append((str(checked.mask), f"not a readable NIfTI file ({exc})"))
        return checked
    axis = _channel_axis(checked, img.shape, layout.channel_axis)
    if axis is None or ct_grid is None:
        return checked
    spatial = (
        tuple(s for a, s in enumerate(img.shape) if a != axis) if len(img.shape) == 4 else img.shape
    )
    if not _same_grid(checked, canonical_grid(img.affine, spatial), ct_grid, layout.affine_atol_mm):
        return checked
    try:
        data = np.asanyarray(img.dataobj)
    except (EOFError, OSError, ValueError) as exc:
        checked.problems.append((str(checked.mask), f"truncated or corrupt NIfTI data ({exc})"))
        return checked
    if data.ndim == 3:
        data = data[np.newaxis]
    elif axis == 3:
        data = np.moveaxis(data, 3, 0)
    checked.voxels = [int(np.count_nonzero(channel > 0)) for channel in data]
    for finding, count in zip(entry.findings, checked.voxels):
        if count == 0:
            logger.warning(
                "%s: channel %d (finding %r) is empty",
                checked.mask,
                finding.index,
                finding.sentence,
            )
    return checked


def _ct_grid(checked: _Checked) -> tuple[np.ndarray, tuple[int, int, int]] | None:
    if not checked.volume.is_file():
        checked.problems.append((str(checked.volume), "CT volume not found"))
        return None
    try:
        img = nib.load(str(checked.volume))
    except Exception as exc:  # nibabel raises many types for a bad header
        checked.problems.append((str(checked.volume), f"not a readable NIfTI file ({exc})"))
        return None
    shape = img.shape[:3] if len(img.shape) == 4 and img.shape[3] == 1 else img.shape
    if len(shape) != 3:
        checked.problems.append((str(checked.volume), f"expected a 3-D CT, got shape {img.shape}"))
        return None
    return canonical_grid(img.affine, shape)


def _channel_axis(
    checked: _Checked, shape: tuple[int, ...], channel_axis: ChannelAxis
) -> int | None:
    """Array axis of the findings (None after recording a problem); a 3-D mask is one channel."""
    n = len(checked.entry.findings)
    if len(shape) == 3:
        channels, axis = 1, 0
    elif len(shape) == 4:
        axis = 0 if channel_axis == "first" else 3
        channels = shape[axis]
    else:
        checked.problems.append(
            (str(checked.mask), f"expected a 3-D or 4-D mask, got shape {shape}")
        )
        return None
    if channels != n:
        other = "last" if channel_axis == "first" else "first"
        hint = (
            f"; with the channel axis {other} it would match"
            if len(shape) == 4 and shape[3 - axis] == n
            else ""
        )
        checked.problems.append(
            (
                str(checked.mask),
                f"{channels} channel(s) (shape {tuple(shape)}, channel axis {channel_axis}) but "
                f"dataset.json lists {n} finding(s){hint}",
            )
        )
        return None
    return axis


def _same_grid(
    checked: _Checked,
    mask_grid: tuple[np.ndarray, tuple[int, int, int]],
    ct_grid: tuple[np.ndarray, tuple[int, int, int]],
    atol: float,
) -> bool:
    (mask_affine, mask_shape), (ct_affine, ct_shape) = mask_grid, ct_grid
    if mask_shape != ct_shape:
        checked.problems.append(
            (
                str(checked.mask),
                f"mask grid {mask_shape} differs from its CT {checked.volume} {ct_shape} "
                "(canonical z, y, x)",
            )
        )
        return False
    gap = float(np.abs(mask_affine - ct_affine).max())
    if gap > atol:
        checked.problems.append(
            (
                str(checked.mask),
                f"mask affine differs from its CT {checked.volume} by up to {gap:.4g} mm "
                f"(tolerance {atol:g} mm)",
            )
        )
        return False
    return True


def _reports(files: list[Path] | None) -> pd.Series | None:
    table = read_volume_tables(list(files or []))
    return None if table is None else report_texts(table)


def _report_text(checked: _Checked, reports: pd.Series | None, files: list[Path]) -> str:
    """The CT-RATE report when report CSVs are given (blank: a problem), else the sentences."""
    if reports is None:
        return " ".join(f.sentence for f in checked.entry.findings)
    text = str(reports.get(checked.entry.scan_id, "")).strip()
    if not text:
        source = ", ".join(str(f) for f in files)
        checked.problems.append((source, f"{checked.entry.name}: empty or missing report text"))
    return text


def _manifest(
    good: list[_Checked], texts: dict[str, str], folder: Path, cohort: str, labels_csvs: list[Path]
) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "scan_id": [c.entry.scan_id for c in good],
            "patient_id": [c.entry.patient_id for c in good],
            "cohort": cohort,
            "split": [c.entry.split for c in good],
            "report_text": [texts[c.entry.scan_id] for c in good],
        }
    )
    df["path"] = relative_to([c.volume for c in good], folder)
    df["findings_mask_path"] = relative_to([c.mask for c in good], folder)
    df = _without_leakage(df)
    df = with_missing_labels(df)
    labels = read_volume_tables(list(labels_csvs))
    if labels is not None:
        df = merge_labels(
            df,
            labels.assign(VolumeName=labels["VolumeName"].map(volume_id)),
            id_column="VolumeName",
        )
    else:
        logger.warning("no CT-RATE label CSV given: the 18 CT-RATE findings are -1")
    for category in CATEGORIES:
        df[category.column] = np.array(
            [int(any(f.category == category for f in c.entry.findings)) for c in good],
            dtype=np.int8,
        )
    return df


def _without_leakage(df: pd.DataFrame) -> pd.DataFrame:
    """Put every scan of a patient in the patient's most held-out JSON split."""
    rank = df["split"].map(_HELD_OUT_ORDER.index)
    target = rank.groupby(df["patient_id"]).transform("min").map(lambda r: _HELD_OUT_ORDER[r])
    moved = df["split"] != target
    if moved.any():
        logger.warning(
            "%d scan(s) of patients listed in several splits moved to their most held-out split "
            "(no split leakage): %s",
            int(moved.sum()),
            [
                f"{s} {a}->{b}"
                for s, a, b in zip(df.loc[moved, "scan_id"], df.loc[moved, "split"], target[moved])
            ][:10],
        )
    return df.assign(split=target)


def _findings_table(good: list[_Checked], folder: Path) -> pd.DataFrame:
    rows = []
    for checked, mask in zip(good, relative_to([c.mask for c in good], folder)):
        for finding, voxels in zip(checked.entry.findings, checked.voxels):
            rows.append(
                {
                    "scan_id": checked.entry.scan_id,
                    "finding_index": finding.index,
                    "category": finding.category.code,
                    "category_name": finding.category.name,
                    "sentence": finding.sentence,
                    "mask_path": mask,
                    "mask_channel": finding.index,
                    "voxels": voxels,
                }
            )
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
