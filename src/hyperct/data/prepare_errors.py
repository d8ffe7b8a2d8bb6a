"""The errors files of ``prepare``: one per run, or one per shard, and their combined report.

An unsharded run writes ``errors.jsonl``; shard ``i`` of ``n`` writes ``errors.shard-i-of-n.jsonl``
into the same cache folder, so shards running at once never write the same file.
:func:`combine_errors` then checks every manifest scan against the cache and writes the one
``errors.jsonl`` of the whole manifest.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hyperct.data.cache import ERRORS_FILE, ScanCache
from hyperct.data.manifest import load_manifest
from hyperct.data.shard import Shard
from hyperct.io.atomic import write_text_atomic

logger = logging.getLogger(__name__)

SHARD_ERRORS_GLOB = "errors.shard-*-of-*.jsonl"


def errors_file(shard: Shard) -> str:
    """The errors file name of a run over ``shard`` (``errors.jsonl`` for the whole manifest)."""
    return ERRORS_FILE if shard.whole else f"errors.{shard.label}.jsonl"


def write_errors(path: Path, paths: dict[str, str], failed: dict[str, str]) -> None:
    """One JSON line ``{scan_id, path, error}`` per failed scan, sorted by scan id (atomic)."""
    lines = [
        json.dumps({"scan_id": sid, "path": paths[sid], "error": err})
        for sid, err in sorted(failed.items())
    ]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def combine_errors(manifest_path: str | Path, cache_dir: str | Path) -> tuple[int, dict[str, str]]:
    """Every manifest scan that has no cache entry, with the error a shard recorded for it.

    Returns ``(scans in the manifest, {scan_id: error})`` and writes them to ``errors.jsonl``.
    A scan cached since is not listed, whatever an older errors file says; a missing scan no
    errors file names was never prepared (a shard that did not run or was killed).
    """
    df = load_manifest(manifest_path, check_files=False, check_leakage=False)
    cache = ScanCache(cache_dir)
    if not cache.root.is_dir():
        raise FileNotFoundError(f"{cache.root}: no such cache folder")
    recorded = _recorded_errors(cache.root)
    has_anatomy = "anatomy_path" in df.columns
    failed: dict[str, str] = {}
    for row in df.itertuples(index=False):
        anatomy = bool(getattr(row, "anatomy_path", "")) if has_anatomy else False
        if not cache.has(row.scan_id, anatomy=anatomy):
            failed[row.scan_id] = recorded.get(
                row.scan_id, "not prepared (no errors file names it: did every shard run?)"
            )
    write_errors(cache.root / ERRORS_FILE, dict(zip(df["scan_id"], df["path"])), failed)
    return len(df), failed


def _recorded_errors(root: Path) -> dict[str, str]:
    """scan_id -> error over the shards' errors files, the newest file winning."""
    errors: dict[str, str] = {}
    files = sorted(root.glob(SHARD_ERRORS_GLOB), key=lambda p: p.stat().st_mtime_ns)
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                errors[str(entry["scan_id"])] = str(entry["error"])
            except (ValueError, KeyError, TypeError):
                logger.warning("%s: line %d is not an errors entry; skipped", path, number)
    return errors
