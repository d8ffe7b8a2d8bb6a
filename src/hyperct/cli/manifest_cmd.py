"""`hyperct manifest validate|summary`: check a manifest against the contract, count its labels."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Validate and summarise manifests.", no_args_is_help=True)


@app.command("validate")
def validate(
    manifest: Path = typer.Argument(..., help="Manifest (.csv or .parquet)."),
    check_files: bool = typer.Option(
        True, "--check-files/--no-check-files", help="Check that files exist."
    ),
) -> None:
    """List every problem (row, column, what is wrong); exit 2 if there is any."""
    from hyperct.data.manifest import load_manifest

    df = load_manifest(manifest, check_files=check_files)
    typer.echo(
        f"valid {manifest}: {len(df)} scans, {df['patient_id'].nunique()} patients, "
        f"cohorts {sorted(df['cohort'].unique())}"
    )


@app.command("summary")
def summary(
    manifest: Path = typer.Argument(..., help="Manifest (.csv or .parquet)."),
    out: Path = typer.Option(None, "--out", help="Also write the summary table as CSV."),
) -> None:
    """Scans, patients and positives/negatives/missing per task for each cohort and split."""
    from rich.table import Table

    from hyperct.cli.output import plain_console
    from hyperct.data.manifest import load_manifest
    from hyperct.data.summary import summarise_manifest

    df = load_manifest(manifest, check_files=False, check_leakage=False)
    table = summarise_manifest(df)
    if out is not None:
        table.to_csv(out, index=False)
    groups = table.drop_duplicates(["cohort", "split"])
    view = Table(title=f"{manifest.name}: positives / negatives / missing")
    view.add_column("task")
    for g in groups.itertuples():
        view.add_column(
            f"{g.cohort}/{g.split}\n{g.scans} scans, {g.patients} patients", justify="right"
        )
    for task, rows in table.groupby("task", sort=False):
        view.add_row(task, *[f"{r.positives}/{r.negatives}/{r.missing}" for r in rows.itertuples()])
    plain_console().print(view)
