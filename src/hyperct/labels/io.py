"""Small table helpers shared by the labelers: atomic CSV writes and manifest updates."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)


def write_csv_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV through a temporary file in the same folder, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            df.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_csv_text(path: str | Path) -> pd.DataFrame:
    """Read a CSV keeping every cell as text (blanks as ''), naming the file on failure."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from exc


def update_manifest(manifest_path: str | Path, labels: pd.DataFrame, id_column: str) -> list[str]:
    """Write the task columns of ``labels`` into the manifest for matching scan ids, atomically.

    Returns the label ids that are not in the manifest (they are reported, not added).
    """
    from hyperct.data.manifest import read_table, write_manifest
    from hyperct.data.merge import merge_labels

    manifest = read_table(manifest_path)
    if "scan_id" not in manifest.columns:
        raise ValueError(f"{manifest_path}: manifest has no scan_id column")
    known = set(manifest["scan_id"].astype(str).str.strip())
    ids = labels[id_column].astype(str).str.strip()
    unknown = sorted(set(ids) - known)
    merged = merge_labels(manifest, labels, id_column=id_column)
    write_manifest(merged, manifest_path)
    if unknown:
        logger.warning(
            "%s: %d labelled id(s) not in the manifest: %s",
            manifest_path,
            len(unknown),
            unknown[:10],
        )
    return unknown
