"""`hyperct anatomy`: TotalSegmentator masks for every scan of a manifest (free supervision)."""

from __future__ import annotations

from pathlib import Path

import typer


def anatomy(
    manifest: Path = typer.Argument(..., help="Manifest (CSV or Parquet) with scan_id and path."),
    out_dir: Path = typer.Option(
        None, "--out-dir", help="Where masks go [default: <manifest folder>/anatomy]."
    ),
    fast: bool = typer.Option(False, "--fast", help="TotalSegmentator's 3 mm model (for CPU)."),
) -> None:
    """Segment scans without a mask with TotalSegmentator and record anatomy_path in the manifest."""
    from hyperct.anatomy.segment import TotalSegmentatorMissingError, segment_manifest

    try:
        report = segment_manifest(manifest_path=manifest, out_dir=out_dir, fast=fast)
    except (TotalSegmentatorMissingError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"{len(report.segmented)} segmented, {len(report.skipped)} already had masks, "
        f"{len(report.failed)} failed"
    )
    for scan_id, reason in report.failed.items():
        typer.echo(f"failed: {scan_id}: {reason}", err=True)
    if report.failed:
        raise typer.Exit(1)
