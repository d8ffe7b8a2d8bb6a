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
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hyperct.io.atomic import (
    TMP_MARKER,
    atomic_path,
    partial_key,
    partial_target,
    write_text_atomic,
)
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
    """A folder of preprocessed grids: ``<key>.npy`` (int16 HU) and ``<key>.anatomy.npy`` (labels)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def image_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}.npy"

    def anatomy_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}.anatomy.npy"

    def source_path(self, scan_id: str) -> Path:
        return self.root / f"{cache_key(scan_id)}{SOURCE_SUFFIX}"

    def has(self, scan_id: str, anatomy: bool = False) -> bool:
        return self.image_path(scan_id).is_file() and (
            not anatomy or self.anatomy_path(scan_id).is_file()
        )

    def is_current(self, scan_id: str, source: dict[str, object], anatomy: bool = False) -> bool:
        """True when the entry is complete and was built from exactly ``source``."""
        if not self.has(scan_id, anatomy=anatomy) or not self.source_path(scan_id).is_file():
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
    ) -> None:
        """Write the anatomy, then the image, then the source record.

        The old record goes first, so an interrupted rewrite is never taken as current.
        """
        self.source_path(scan_id).unlink(missing_ok=True)
        if anatomy is None:
            self.anatomy_path(scan_id).unlink(missing_ok=True)
        else:
            _save_npy(self.anatomy_path(scan_id), anatomy)
        _save_npy(self.image_path(scan_id), grid)
        if source is not None:
            write_text_atomic(self.source_path(scan_id), json.dumps(source, sort_keys=True) + "\n")

    def remove(self, scan_id: str) -> None:
        """Delete an entry (record first, image last, the reverse of :meth:`save`)."""
        for path in (
            self.source_path(scan_id),
            self.anatomy_path(scan_id),
            self.image_path(scan_id),
        ):
            path.unlink(missing_ok=True)

    def load(self, scan_id: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.image_path(scan_id), mmap_mode="r" if mmap else None)

    def load_anatomy(self, scan_id: str) -> np.ndarray | None:
        path = self.anatomy_path(scan_id)
        return np.load(path, mmap_mode="r") if path.is_file() else None

    def read_spec(self) -> PreprocessSpec | None:
        path = self.root / SPEC_FILE
        if not path.is_file():
            return None
        try:
            return spec_from_dict(json.loads(path.read_text())["spec"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CacheSpecError(f"{path}: unreadable cache spec ({exc})") from exc

    def init_spec(self, spec: PreprocessSpec) -> None:
        """Record ``spec``, or refuse when the cache already holds another one."""
        current = self.read_spec()
        if current is not None and current.hash() != spec.hash():
            raise CacheSpecError(
                f"{self.root}: cache was built with spec {current.kind} {current.hash()} "
                f"({current.to_dict()}); refusing to mix it with {spec.kind} {spec.hash()} "
                f"({spec.to_dict()}). Use another output folder or delete this cache."
            )
        if current is None:
            payload = {"hash": spec.hash(), "spec": spec.to_dict()}
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
