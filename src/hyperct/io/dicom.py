"""Read one DICOM CT series (a folder or a .zip) into HU values with an index->RAS affine."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from hyperct.io.errors import CTReadError
from hyperct.io.orientation import lps_to_ras

logger = logging.getLogger(__name__)

#: Tags without which HU values or the geometry cannot be known.
GEOMETRY_TAGS = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
)
HU_TAGS = ("RescaleSlope", "RescaleIntercept")
#: Relative tolerance on the gap between consecutive slices.
SPACING_TOLERANCE = 0.05


@dataclass
class _Slice:
    name: str
    header: pydicom.Dataset
    opener: Callable[[], object]


@dataclass(frozen=True)
class SeriesHeaders:
    """The headers (no pixels) of one series, ordered by position along the slice normal.

    ``affine`` maps a (slice in this order, row, column) index to RAS+ mm, so it is the affine of
    the array :func:`load_dicom_series` returns before it is put on the canonical grid.
    """

    path: Path
    names: tuple[str, ...]
    headers: tuple[pydicom.Dataset, ...]
    affine: np.ndarray


def read_series_headers(path: Path, series_uid: str | None = None) -> SeriesHeaders:
    """Read and check one series' headers only: the geometry without decoding any pixel data."""
    ordered, affine = _ordered_series(path, series_uid)
    return SeriesHeaders(
        path=path,
        names=tuple(s.name for s in ordered),
        headers=tuple(s.header for s in ordered),
        affine=affine,
    )


def load_dicom_series(
    path: Path, series_uid: str | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (HU array indexed (slice, row, column), affine index->RAS, meta) of one series."""
    ordered, affine = _ordered_series(path, series_uid)
    array = np.stack([_hu_pixels(s) for s in ordered])
    first = ordered[0].header
    meta = {
        "format": "dicom",
        "series_uid": str(first.get("SeriesInstanceUID", "")),
        "series_description": str(first.get("SeriesDescription", "")),
        "modality": str(first.get("Modality", "")),
        "n_files": len(ordered),
    }
    return array, affine, meta


def _ordered_series(path: Path, series_uid: str | None) -> tuple[list[_Slice], np.ndarray]:
    slices = _read_headers(path)
    chosen = _pick_series(path, slices, series_uid)
    if len(chosen) < 2:
        raise CTReadError(
            f"{path}: the series holds a single slice ({chosen[0].name}); a CT volume needs at "
            "least two slices to know the slice spacing"
        )
    for s in chosen:
        _check_tags(s)
    ordered, positions, normal = _sort_by_position(path, chosen)
    step = _slice_step(path, ordered, positions, normal)
    return ordered, _affine(ordered[0].header, step)


def _sources(path: Path) -> list[tuple[str, Callable[[], object]]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return [(str(p), (lambda p=p: str(p))) for p in files]
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError) as exc:
            raise CTReadError(f"{path}: not a readable .zip archive ({exc})") from exc

        def opener(name: str) -> Callable[[], object]:
            def read() -> io.BytesIO:
                with zipfile.ZipFile(path) as zf:
                    return io.BytesIO(zf.read(name))

            return read

        return [(f"{path}:{n}", opener(n)) for n in sorted(names)]
    raise CTReadError(f"{path}: expected a folder or .zip of one DICOM series")


def _read_headers(path: Path) -> list[_Slice]:
    sources = _sources(path)
    if not sources:
        raise CTReadError(f"{path}: empty folder, no DICOM files found")
    slices, skipped = [], []
    for name, opener in sources:
        try:
            header = _dcmread(opener, stop_before_pixels=True)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
            skipped.append(f"{Path(name).name} ({exc.__class__.__name__})")
            continue
        if "PixelData" not in header and "Rows" not in header:
            skipped.append(f"{Path(name).name} (no image)")
            continue
        if "LOCALIZER" in [str(v).upper() for v in header.get("ImageType", [])]:
            skipped.append(f"{Path(name).name} (localizer)")
            continue
        slices.append(_Slice(name, header, opener))
    if skipped:
        logger.info(
            "%s: skipped %d non-image file(s): %s", path, len(skipped), ", ".join(skipped[:5])
        )
    if not slices:
        raise CTReadError(f"{path}: no readable DICOM image among {len(sources)} file(s)")
    return slices


def _dcmread(opener: Callable[[], object], stop_before_pixels: bool = False) -> pydicom.Dataset:
    """Read a DICOM file; one without the 'DICM' preamble is accepted if it has image geometry."""
    try:
        return pydicom.dcmread(opener(), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        ds = pydicom.dcmread(opener(), stop_before_pixels=stop_before_pixels, force=True)
        if "Rows" not in ds or "ImagePositionPatient" not in ds:
            raise
        return ds


def _pick_series(path: Path, slices: list[_Slice], series_uid: str | None) -> list[_Slice]:
    groups: dict[str, list[_Slice]] = {}
    for s in slices:
        groups.setdefault(str(s.header.get("SeriesInstanceUID", "")), []).append(s)
    if series_uid is not None:
        if series_uid not in groups:
            raise CTReadError(
                f"{path}: no series with uid {series_uid!r}; found: {_describe(groups)}"
            )
        chosen = groups[series_uid]
    elif len(groups) > 1:
        raise CTReadError(
            f"{path}: holds {len(groups)} series, pass series_uid to pick one: {_describe(groups)}"
        )
    else:
        chosen = next(iter(groups.values()))
    modality = str(chosen[0].header.get("Modality", "CT") or "CT")
    if modality != "CT":
        raise CTReadError(f"{path}: not a CT series (Modality={modality}, {chosen[0].name})")
    return chosen


def _describe(groups: dict[str, list[_Slice]]) -> str:
    parts = []
    for uid, members in groups.items():
        desc = str(members[0].header.get("SeriesDescription", ""))
        parts.append(f"[uid={uid or '<none>'}, description={desc!r}, {len(members)} slices]")
    return "; ".join(parts)


def _check_tags(s: _Slice) -> None:
    missing = [t for t in GEOMETRY_TAGS + HU_TAGS if s.header.get(t) in (None, "")]
    if missing:
        raise CTReadError(
            f"{s.name}: missing DICOM tag(s) {', '.join(missing)} needed for HU or geometry"
        )


def _sort_by_position(
    path: Path, chosen: list[_Slice]
) -> tuple[list[_Slice], np.ndarray, np.ndarray]:
    iop = np.asarray(chosen[0].header.ImageOrientationPatient, dtype=np.float64)
    for s in chosen[1:]:
        other = np.asarray(s.header.ImageOrientationPatient, dtype=np.float64)
        if not np.allclose(other, iop, atol=1e-4):
            raise CTReadError(
                f"{s.name}: ImageOrientationPatient {other.tolist()} differs from {iop.tolist()}"
            )
    shapes = {(int(s.header.Rows), int(s.header.Columns)) for s in chosen}
    if len(shapes) > 1:
        raise CTReadError(f"{path}: slices of different sizes {sorted(shapes)} in one series")
    normal = np.cross(iop[:3], iop[3:])
    positions = np.array(
        [np.dot(np.asarray(s.header.ImagePositionPatient, float), normal) for s in chosen]
    )
    order = np.argsort(positions, kind="stable")
    return [chosen[i] for i in order], positions[order], normal


def _slice_step(
    path: Path, ordered: list[_Slice], positions: np.ndarray, normal: np.ndarray
) -> np.ndarray:
    gaps = np.diff(positions)
    dup = np.flatnonzero(gaps < 1e-3)
    if dup.size:
        i = int(dup[0])
        raise CTReadError(
            f"{path}: slices {Path(ordered[i].name).name} and {Path(ordered[i + 1].name).name} share "
            f"the position {positions[i]:.3f} mm (duplicate slice or several acquisitions)"
        )
    median = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - median) > SPACING_TOLERANCE * median)
    if bad.size:
        i = int(bad[0])
        raise CTReadError(
            f"{path}: inconsistent slice spacing: {gaps[i]:.3f} mm between "
            f"{Path(ordered[i].name).name} and {Path(ordered[i + 1].name).name}, median {median:.3f} mm "
            "(missing slice?)"
        )
    first = np.asarray(ordered[0].header.ImagePositionPatient, float)
    last = np.asarray(ordered[-1].header.ImagePositionPatient, float)
    return (last - first) / (len(ordered) - 1)


def _hu_pixels(s: _Slice) -> np.ndarray:
    try:
        ds = _dcmread(s.opener)
        stored = ds.pixel_array
    except Exception as exc:  # decoders raise many types for truncated or odd pixel data
        raise CTReadError(f"{s.name}: cannot decode pixel data ({exc})") from exc
    if stored.ndim != 2:
        raise CTReadError(
            f"{s.name}: expected one 2-D frame, got pixel array of shape {stored.shape}"
        )
    slope, inter = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    if slope == 0 or not np.isfinite(slope) or not np.isfinite(inter):
        raise CTReadError(
            f"{s.name}: RescaleSlope {ds.RescaleSlope} / RescaleIntercept {ds.RescaleIntercept} "
            "cannot give HU (a slope of 0 makes every voxel the intercept)"
        )
    if slope.is_integer() and inter.is_integer():
        return stored.astype(np.int32) * int(slope) + int(inter)
    return stored.astype(np.float32) * np.float32(slope) + np.float32(inter)


def _affine(first: pydicom.Dataset, step: np.ndarray) -> np.ndarray:
    iop = np.asarray(first.ImageOrientationPatient, dtype=np.float64)
    row_spacing, col_spacing = (float(v) for v in first.PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0] = step
    lps[:3, 1] = iop[3:] * row_spacing
    lps[:3, 2] = iop[:3] * col_spacing
    lps[:3, 3] = np.asarray(first.ImagePositionPatient, dtype=np.float64)
    return lps_to_ras(lps)
