"""`hyperct adapt <dataset>`: write a standard manifest for a public chest-CT dataset."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Write a hyperct manifest for a public chest-CT dataset.", no_args_is_help=True
)


@app.command("ctrate")
def ctrate(
    root: Path = typer.Argument(
        ..., help="CT-RATE folder (train/, valid/, metadata and label CSVs)."
    ),
    out: Path = typer.Option(..., "--out", help="Manifest to write (.csv or .parquet)."),
    cohort: str = typer.Option("ctrate", help="Cohort name in the manifest."),
    valid_split: str = typer.Option("test", help="Split given to CT-RATE's valid set."),
    val_fraction: float = typer.Option(0.1, help="Fraction of training patients moved to 'val'."),
    seed: int = typer.Option(0, help="Seed of the patient-level val split."),
) -> None:
    """CT-RATE -> manifest (18 findings from its label CSV, echo tasks -1)."""
    from hyperct.data.adapters.ctrate import adapt_ctrate

    df = adapt_ctrate(
        root=root,
        out=out,
        cohort=cohort,
        valid_split=valid_split,
        val_fraction=val_fraction,
        seed=seed,
    )
    typer.echo(f"wrote {len(df)} scans to {out}")


@app.command("radchestct")
def radchestct(
    root: Path = typer.Argument(..., help="Folder of RAD-ChestCT .npz volumes."),
    labels: Path = typer.Option(..., "--labels", help="RAD-ChestCT label CSV."),
    out: Path = typer.Option(..., "--out", help="Manifest to write (.csv or .parquet)."),
    cohort: str = typer.Option("radchestct", help="Cohort name in the manifest."),
    id_column: str = typer.Option(
        None, help="Volume name column of the label CSV (default: first)."
    ),
) -> None:
    """RAD-ChestCT -> manifest (its abnormalities mapped onto the 18 findings, others -1)."""
    from hyperct.data.adapters.radchestct import adapt_radchestct

    df = adapt_radchestct(root=root, labels_csv=labels, out=out, cohort=cohort, id_column=id_column)
    typer.echo(f"wrote {len(df)} scans to {out}")


@app.command("rexgroundingct")
def rexgroundingct(
    root: Path = typer.Argument(
        ..., help="ReXGroundingCT folder (dataset.json, segmentations/ with one mask per scan)."
    ),
    out: Path = typer.Option(..., "--out", help="Manifest to write (.csv or .parquet)."),
    volumes: Path = typer.Option(
        None, "--volumes", help="Folder of the CT-RATE volumes (default: ROOT)."
    ),
    volume_layout: str = typer.Option(
        "ctrate",
        "--volume-layout",
        help="ctrate: VOLUMES/train/train_1/train_1_a/train_1_a_1.nii.gz; flat: VOLUMES/<name>.",
    ),
    masks: Path = typer.Option(
        None,
        "--masks",
        help="Folder of the finding masks, named like the volumes "
        "(default: ROOT/segmentations).",
    ),
    channel_axis: str = typer.Option(
        "first",
        "--channel-axis",
        help="Mask axis holding the findings: first (findings, X, Y, Z), as released; "
        "or last (X, Y, Z, findings).",
    ),
    dataset_json: Path = typer.Option(
        None, "--dataset-json", help="The findings file (default: ROOT/dataset.json)."
    ),
    labels: list[Path] = typer.Option(
        None,
        "--labels",
        metavar="CSV",
        help="CT-RATE *predicted_labels*.csv (repeatable); else the 18 are -1.",
    ),
    reports: list[Path] = typer.Option(
        None,
        "--reports",
        metavar="CSV",
        help="CT-RATE *reports*.csv (repeatable); else report_text is the finding sentences.",
    ),
    cohort: str = typer.Option("rexgroundingct", help="Cohort name in the manifest."),
    affine_tolerance: float = typer.Option(
        0.01, "--affine-tolerance", help="Largest mask-vs-CT affine difference accepted (mm)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Threads reading the masks."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """ReXGroundingCT -> manifest (rex_* category columns) + findings table; bad scans: exit 1."""
    from hyperct.data.adapters.rexgroundingct import RexLayout, adapt_rexgroundingct

    result = adapt_rexgroundingct(
        root=root,
        out=out,
        layout=RexLayout(
            dataset_json=dataset_json,
            volumes=volumes,
            volume_layout=volume_layout,  # type: ignore[arg-type]
            masks=masks,
            channel_axis=channel_axis,  # type: ignore[arg-type]
            affine_atol_mm=affine_tolerance,
        ),
        labels_csvs=labels or None,
        reports_csvs=reports or None,
        cohort=cohort,
        workers=workers,
        progress=progress,
    )
    typer.echo(
        f"wrote {len(result.manifest)} scans to {out}, {len(result.findings)} findings to "
        f"{result.findings_path}"
    )
    for row in result.errors.itertuples():
        typer.echo(f"failed {row.scan_id or '-'}: {row.file}: {row.error}", err=True)
    if not result.ok:
        typer.echo(f"{len(result.errors)} problem(s), listed in {result.errors_path}", err=True)
        raise typer.Exit(1)
