"""`hyperct merge-predictions`: one predictions table from the parts of a sharded prediction."""

from __future__ import annotations

from pathlib import Path

import typer


def merge_predictions(
    parts: list[Path] = typer.Argument(..., help="Prediction parts (.csv or .parquet)."),
    out: Path = typer.Option(..., "--out", help="The merged predictions table (.csv or .parquet)."),
    manifest: Path = typer.Option(
        None, "--manifest", help="The manifest predicted: its scans no part holds are reported."
    ),
    split: list[str] = typer.Option([], help="Only these splits were predicted (repeatable)."),
) -> None:
    """Merge PARTS into OUT; refuse a scan/task two parts hold; list gaps and exit 1 on any."""
    from hyperct.cli.errors import exit_if_failed
    from hyperct.inference.parts import merge_parts
    from hyperct.inference.predictions import write_predictions

    merged = merge_parts(parts, manifest=manifest, splits=split or None)
    write_predictions(merged.table, out)
    typer.echo(f"{merged.table['scan_id'].nunique()} scans x {merged.table['task'].nunique()} "
               f"tasks from {len(parts)} part(s) written to {out}", err=True)
    exit_if_failed([f"{sid}: {why}" for sid, why in merged.gaps.items()], "merge-predictions")
