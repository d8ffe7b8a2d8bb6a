"""The findings table's mask channels: which category each channel of a scan's finding mask is.

``hyperct adapt rexgroundingct`` writes the table (one row per finding: ``scan_id``,
``mask_channel``, ``category`` and more) beside the manifest as ``<stem>_findings.csv``;
``prepare`` reads the category of every channel from it.
"""

from __future__ import annotations

from pathlib import Path

from hyperct.data.manifest import read_table
from hyperct.findings_categories import category_by_code

REQUIRED = ("scan_id", "mask_channel", "category")


def default_findings_table(manifest_path: str | Path) -> Path | None:
    """``<stem>_findings.csv`` beside the manifest, where the adapter writes it, if it exists."""
    path = Path(manifest_path)
    candidate = path.with_name(f"{path.stem}_findings.csv")
    return candidate if candidate.is_file() else None


def read_mask_categories(path: str | Path) -> dict[str, tuple[str, ...]]:
    """scan_id -> the category code of each mask channel 0 .. n-1.

    A table without the columns, with a channel that is not a whole number, channels that are
    not exactly 0 .. n-1 for a scan, or an unknown category code is refused, naming the scan.
    """
    table = read_table(path)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: findings table lacks column(s) {missing}")
    out: dict[str, tuple[str, ...]] = {}
    for scan_id, rows in table.groupby(table["scan_id"].astype(str), sort=False):
        try:
            channels = [int(str(c)) for c in rows["mask_channel"]]
            codes = [category_by_code(str(c)).code for c in rows["category"]]
        except ValueError as exc:
            raise ValueError(
                f"{path}: scan {scan_id}: mask_channel is not a whole number ({exc})"
            ) from exc
        except KeyError as exc:
            raise ValueError(f"{path}: scan {scan_id}: {exc.args[0]}") from exc
        if sorted(channels) != list(range(len(channels))):
            raise ValueError(
                f"{path}: scan {scan_id}: mask channels {sorted(channels)} are not 0 .. "
                f"{len(channels) - 1} (one row per channel)"
            )
        out[scan_id] = tuple(code for _, code in sorted(zip(channels, codes)))
    return out
