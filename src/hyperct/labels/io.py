"""Small table helpers shared by the labelers: reading CSV as text and manifest updates."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)


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
