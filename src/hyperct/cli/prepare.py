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
    allow_implausible: bool = typer.Option(
        False, "--allow-implausible", help="Prepare scans whose values do not look like CT HU."
    ),
    spacing: str = typer.Option(
        None, "--spacing", help="Voxel spacing z,y,x (mm) for files that give none (pixdim 0)."
    ),
    findings_table: Path = typer.Option(
        None, "--findings-table", help="Findings table naming each finding-mask channel's "
        "category (default: <manifest stem>_findings.csv beside the manifest, if present)."
    ),
    shard: str = typer.Option(
        None, "--shard", help="Prepare only shard i/n (0 <= i < n) of the scans, by scan_id "
        "hash, into the shared OUT; failures go to OUT/errors.shard-i-of-n.jsonl."
    ),
    report_only: bool = typer.Option(
        False, "--report", help="Prepare nothing: check every scan is in OUT, combine the "
        "shards' errors files into OUT/errors.jsonl, exit 1 when any scan is missing."
    ),
) -> None:
    """Preprocess scans (and anatomy, finding masks) into CACHE; failures: OUT/errors.jsonl, exit 1."""
    from hyperct.cli.errors import InputError, exit_if_failed
    from hyperct.data.prepare import prepare_cache
    from hyperct.data.shard import Shard, parse_shard
    from hyperct.io.read import parse_spacing

    if report_only:
        if shard is not None:
            raise InputError("--report combines every shard: give it without --shard")
        _combined_report(manifest, out)
        return
    report = prepare_cache(
        manifest_path=manifest,
        spec=spec,
        out_dir=out,
        workers=workers,
        progress=progress,
        allow_implausible=allow_implausible,
        spacing=parse_spacing(spacing) if spacing else None,
        findings_table=findings_table,
        shard=parse_shard(shard) if shard is not None else Shard(),
    )
    stale = f" ({report.stale} re-prepared: source changed)" if report.stale else ""
    typer.echo(
        f"prepared {report.done}{stale}, already cached {report.skipped}, failed "
        f"{len(report.failed)} of {report.total} scans in {report.seconds:.1f} s -> {report.out_dir}",
        err=True,
    )
    exit_if_failed([f"{scan_id}: {error}" for scan_id, error in sorted(report.failed.items())],
                   "prepare")


def _combined_report(manifest: Path, out: Path) -> None:
    from hyperct.cli.errors import exit_if_failed
    from hyperct.data.prepare_errors import combine_errors

    total, failed = combine_errors(manifest, out)
    typer.echo(f"cached {total - len(failed)} of {total} scans in {out}", err=True)
    exit_if_failed([f"{scan_id}: {error}" for scan_id, error in sorted(failed.items())],
                   "prepare")
