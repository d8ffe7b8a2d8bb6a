"""`hyperct prepare`: preprocess every scan of a manifest into a cache folder."""

from __future__ import annotations

from pathlib import Path

import typer


def prepare(
    manifest: Path = typer.Argument(..., help="Manifest (.csv or .parquet)."),
    out: Path = typer.Option(..., "--out", help="Cache folder (created; resumable)."),
    spec: str = typer.Option(
        "paper", "--spec", help="Named spec (paper, anatomy3d, demo, ...: `hyperct config list`) "
        "or a spec .json file."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (one torch thread each)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Preprocess scans (and anatomy masks) into CACHE; failures go to OUT/errors.jsonl, exit 1."""
    from hyperct.cli.errors import exit_if_failed
    from hyperct.data.prepare import prepare_cache

    report = prepare_cache(
        manifest_path=manifest, spec=spec, out_dir=out, workers=workers, progress=progress
    )
    typer.echo(
        f"prepared {report.done}, already cached {report.skipped}, failed {len(report.failed)} "
        f"of {report.total} scans in {report.seconds:.1f} s -> {report.out_dir}",
        err=True,
    )
    exit_if_failed([f"{scan_id}: {error}" for scan_id, error in sorted(report.failed.items())],
                   "prepare")
