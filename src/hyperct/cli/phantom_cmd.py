"""`hyperct phantom`: generate a synthetic chest-CT cohort (CT, masks, reports, echo exams)."""

from __future__ import annotations

from pathlib import Path

import typer


def phantom(
    n: int = typer.Option(100, "--n", help="Number of scans (internal + external + prospective)."),
    out: Path = typer.Option(..., "--out", help="Output folder (created)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the cohort is a function of it."),
    preset: str = typer.Option("small", "--preset", help="Grid sizes: small, default or tiny."),
    preview: bool = typer.Option(False, "--preview", help="Write PNG previews of the first scans."),
    preview_count: int = typer.Option(6, "--preview-count", help="How many scans to preview."),
    workers: int = typer.Option(0, "--workers", help="Processes (0: every core)."),
    dicom_fraction: float = typer.Option(
        0.05, "--dicom-fraction", help="Share written as DICOM series."
    ),
) -> None:
    """Generate a synthetic cohort with all 25 tasks (exit 1 if any scan failed).

    Writes DIR/ct, DIR/masks, manifest.csv, reports.csv, echo.csv and ground_truth.csv.
    """
    from hyperct.cli.errors import exit_if_failed
    from hyperct.phantom import PhantomConfig, generate_cohort

    config = PhantomConfig(
        n=n,
        seed=seed,
        preset=preset,
        workers=workers,
        dicom_fraction=dicom_fraction,
        preview=preview_count if preview else 0,
    )
    paths = generate_cohort(config=config, out_dir=out, progress=True)
    typer.echo(
        f"manifest: {paths.manifest}\nreports: {paths.reports}\necho: {paths.echo}\n"
        f"ground truth: {paths.ground_truth}"
    )
    exit_if_failed([f"{scan_id}: {err}" for scan_id, err in paths.failures], "phantom")
