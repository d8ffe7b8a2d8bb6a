"""The scan cache: one .npy per scan keyed by scan_id, plus the spec it was built with.

Each entry also records what it was built from in ``<key>.source.json``: the scan's
:func:`source_identity` (resolved path, size and ``mtime_ns`` of the file; for a DICOM folder
or .zip, a digest of every file's relative path, size and ``mtime_ns``), the anatomy mask's, and
the manifest's rescale values. ``prepare`` re-prepares an entry whose record differs from the
manifest row, so a corrected path or a replaced file never leaves the old image cached. File
metadata, not content, is compared: a copy with new times is re-prepared (safe), an edit that
keeps both size and mtime is not seen. An entry whose source changed and that then fails to
prepare is removed, so the old image is never served for the new source. Entries written before
these records existed have none and are re-prepared once; readers (training, prediction) still
load them.

A scan with a finding mask also has ``<key>.findings.npy``: the per-category binary stack of
:data:`~hyperct.findings_categories.MASK_CHANNELS` packed as bits (bit c = channel c, see
:mod:`hyperct.io.finding_masks`); :meth:`ScanCache.load_findings_stack` unpacks it to
``(C, z, y, x)`` uint8. The channel names are recorded in spec.json. Every entry has
``<key>.grid.json``, the :class:`~hyperct.preprocess.grid_map.GridRecord` that maps a mask on
the cached grid back to the CT's own grid; entries without one are re-prepared.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hyperct.findings_categories import MASK_CHANNELS
from hyperct.io.atomic import (
    TMP_MARKER,
    atomic_path,
    partial_key,
    partial_target,
    write_text_atomic,
)
from hyperct.io.finding_masks import unpack_bits
from hyperct.preprocess.grid_map import GridRecord
from hyperct.preprocess.spec import PreprocessSpec, spec_from_dict

SPEC_FILE = "spec.json"
ERRORS_FILE = "errors.jsonl"
SOURCE_SUFFIX = ".source.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class CacheSpecError(ValueError):
    """The cache folder was built with another preprocessing spec."""


def cache_key(scan_id: str) -> str:
    """A file-name-safe key; ids needing changes get a short hash so keys never collide."""
    safe = _UNSAFE.sub("_", scan_id).lstrip(".")
    if safe != scan_id or not safe:
        safe = f"{safe}-{hashlib.sha1(scan_id.encode()).hexdigest()[:8]}"
    return safe


def source_identity(path: str | Path) -> dict[str, object]:
    """What identifies a scan's source: resolved path plus size/mtime_ns of its file(s).

    Raises OSError (or RuntimeError for a symlink loop) when the path cannot be examined.
    """
    resolved = Path(path).resolve(strict=True)
    if not resolved.is_dir():
        stat = resolved.stat()
        return {"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    files = sorted(p for p in resolved.rglob("*") if p.is_file())
    listing = [
        (str(p.relative_to(resolved)), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    ]
    digest = hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    return {"path": str(resolved), "files": len(files), "digest": digest}


class ScanCache:
    """A folder of preprocessed grids: ``<key>.npy`` (int16 HU), ``<key>.anatomy.npy`` (labels),
    ``<key>.findings.npy`` (packed finding bits) and ``<key>.grid.json`` (grid record)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def image_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}.npy"

    def anatomy_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}.anatomy.npy"

    def findings_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}.findings.npy"

    def grid_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}.grid.json"

    def source_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}{SOURCE_SUFFIX}"

    def has(self, scan_id: str, anatomy: bool = False, findings: bool = False) -> bool:
        return (
            self.image_path(scan_id).is_file()
            and (not anatomy or self.anatomy_path(scan_id).is_file())
            and (not findings or self.findings_path(scan_id).is_file())
        )

    def is_current(
        self,
        scan_id: str,
        source: dict[str, object],
        anatomy: bool = False,
        findings: bool = False,
    ) -> bool:
        """True when the entry is complete (with its grid record) and was built from ``source``."""
        complete = self.has(scan_id, anatomy=anatomy, findings=findings)
        if not complete or not self.grid_path(scan_id).is_file():
            return False
        if not self.source_path(scan_id).is_file():
            return False
        try:
            return json.loads(self.source_path(scan_id).read_text()) == source
        except ValueError:
            return False

    def save(
        self,
        scan_id: str,
        grid: np.ndarray,
        anatomy: np.ndarray | None = None,
        source: dict[str, object] | None = None,
        findings: np.ndarray | None = None,
        record: GridRecord | None = None,
    ) -> None:
        """Write the masks, the grid record, then the image, then the source record.

        ``findings``: packed finding bits on the grid. The old record goes first, so an
        interrupted rewrite is never taken as current.
        """
        self.source_path(scan_id).unlink(missing_ok=True)
        masks = ((self.anatomy_path(scan_id), anatomy), (self.findings_path(scan_id), findings))
        for path, mask in masks:
            if mask is None:
                path.unlink(missing_ok=True)
            else:
                _save_npy(path, mask)
        if record is None:
            self.grid_path(scan_id).unlink(missing_ok=True)
        else:
            write_text_atomic(self.grid_path(scan_id), json.dumps(record.to_dict()) + "\n")
        _save_npy(self.image_path(scan_id), grid)
        if source is not None:
            write_text_atomic(self.source_path(scan_id), json.dumps(source, sort_keys=True) + "\n")

    def remove(self, scan_id: str) -> None:
        """Delete an entry (record first, image last, the reverse of :meth:`save`)."""
        for path in (
            self.source_path(scan_id),
            self.anatomy_path(scan_id),
            self.findings_path(scan_id),
            self.grid_path(scan_id),
            self.image_path(scan_id),
        ):
            path.unlink(missing_ok=True)

    def load(self, scan_id: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.image_path(scan_id), mmap_mode="r" if mmap else None)

    def load_anatomy(self, scan_id: str) -> np.ndarray | None:
        path = self.anatomy_path(scan_id)
        return np.load(path, mmap_mode="r") if path.is_file() else None

    def load_findings(self, scan_id: str) -> np.ndarray | None:
        """The packed finding bits (z, y, x) of a scan, or None when it has no finding mask."""
        path = self.findings_path(scan_id)
        return np.load(path, mmap_mode="r") if path.is_file() else None

    def load_findings_stack(self, scan_id: str) -> np.ndarray | None:
        """The finding masks as a ``(C, z, y, x)`` uint8 stack, or None.

        Channel c is :meth:`read_finding_channels` ``[c]``.
        """
        bits = self.load_findings(scan_id)
        return None if bits is None else unpack_bits(bits)

    def load_grid_record(self, scan_id: str) -> GridRecord:
        """How the scan's cached grid maps back to its CT's grid (see grid_map)."""
        path = self.grid_path(scan_id)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no grid record for scan {scan_id!r} (cached by an older hyperct); "
                "run `hyperct prepare` again on this cache"
            )
        try:
            return GridRecord.from_dict(json.loads(path.read_text()))
        except ValueError as exc:
            raise ValueError(f"{path}: unreadable grid record ({exc})") from exc

    def read_finding_channels(self) -> tuple[str, ...]:
        """Names of the finding-mask channels this cache was built with (spec.json)."""
        path = self.root / SPEC_FILE
        if not path.is_file():
            return MASK_CHANNELS
        return tuple(json.loads(path.read_text()).get("finding_channels", MASK_CHANNELS))

    def read_spec(self) -> PreprocessSpec | None:
        path = self.root / SPEC_FILE
        if not path.is_file():
            return None
        try:
            return spec_from_dict(json.loads(path.read_text())["spec"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CacheSpecError(f"{path}: unreadable cache spec ({exc})") from exc

    def init_spec(self, spec: PreprocessSpec) -> None:
        """Record ``spec`` and the finding-mask channels, or refuse another spec or catalogue."""
        current = self.read_spec()
        if current is not None and current.hash() != spec.hash():
            raise CacheSpecError(
                f"{self.root}: cache was built with spec {current.kind} {current.hash()} "
                f"({current.to_dict()}); refusing to mix it with {spec.kind} {spec.hash()} "
                f"({spec.to_dict()}). Use another output folder or delete this cache."
            )
        if current is not None and self.read_finding_channels() != MASK_CHANNELS:
            raise CacheSpecError(
                f"{self.root}: cache holds finding masks of channels "
                f"{list(self.read_finding_channels())}, this hyperct writes {list(MASK_CHANNELS)}; "
                "use another output folder or delete this cache."
            )
        recorded = current is not None and "finding_channels" in json.loads(
            (self.root / SPEC_FILE).read_text()
        )
        if not recorded:  # a new cache, or one written before the channels were recorded
            payload = {
                "hash": spec.hash(),
                "spec": spec.to_dict(),
                "finding_channels": list(MASK_CHANNELS),
            }
            write_text_atomic(self.root / SPEC_FILE, json.dumps(payload, indent=2) + "\n")

    def remove_partials(self, scan_ids: Iterable[str] | None = None) -> int:
        """Delete temporary files a killed run left behind; return how many.

        With ``scan_ids``, only those of these scans' entries: another process preparing other
        scans into the same folder (a shard) keeps its files being written.
        """
        leftovers = [p for p in self.root.glob(f".*{TMP_MARKER}*") if p.is_file()]
        if scan_ids is not None:
            mine = {
                partial_key(path)
                for sid in scan_ids
                for path in (self.image_path(sid), self.anatomy_path(sid), self.source_path(sid))
            }
            leftovers = [p for p in leftovers if partial_target(p) in mine]
        for p in leftovers:
            p.unlink()
        return len(leftovers)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))
