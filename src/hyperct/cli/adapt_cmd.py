"""`hyperct adapt ctrate|radchestct`: write a standard manifest for a public dataset."""

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
