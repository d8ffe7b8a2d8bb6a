"""`hyperct anatomy`: TotalSegmentator masks for every scan of a manifest (free supervision)."""

from __future__ import annotations

from pathlib import Path

import typer


def anatomy(
    manifest: Path = typer.Argument(..., help="Manifest (CSV or Parquet) with scan_id and path."),
    out_dir: Path = typer.Option(
        None, "--out-dir", help="Where masks go (default: <manifest folder>/anatomy)."
    ),
    fast: bool = typer.Option(False, "--fast", help="TotalSegmentator's 3 mm model (for CPU)."),
) -> None:
    """Segment scans without a mask with TotalSegmentator, record anatomy_path; exit 1 if any failed."""
    from hyperct.anatomy.segment import TotalSegmentatorMissingError, segment_manifest
    from hyperct.cli.errors import InputError, exit_if_failed

    try:
        report = segment_manifest(manifest_path=manifest, out_dir=out_dir, fast=fast)
    except TotalSegmentatorMissingError as exc:
        raise InputError(str(exc)) from exc
    typer.echo(
        f"{len(report.segmented)} segmented, {len(report.skipped)} already had masks, "
        f"{len(report.failed)} failed"
    )
    exit_if_failed([f"{scan_id}: {reason}" for scan_id, reason in report.failed.items()], "anatomy")
