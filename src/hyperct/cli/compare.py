"""`hyperct compare`: train several methods with one config and tabulate their AUCs."""

from __future__ import annotations

from pathlib import Path

import typer


def compare(
    config: Path = typer.Argument(..., help="YAML config shared by every method."),
    methods: str = typer.Option(
        "hyperct,ew,uw,rlw,dwa,gls,mgda,stl", help="Comma-separated methods to train."
    ),
    out: Path = typer.Option(Path("compare"), help="Folder: one run per method + the tables."),
    overrides: list[str] = typer.Option([], "--set", help="Dotted config override (repeatable)."),
    split: str = typer.Option("test", help="Split the summary table is computed on."),
) -> None:
    """Train each method into OUT/<method>/ (finished runs are kept, stopped ones resumed)."""
    from rich.console import Console

    from hyperct.training import load_config
    from hyperct.training.compare import compare_methods

    cfg = load_config(config, overrides)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    result = compare_methods(cfg=cfg, methods=names, out=out, split=split)
    console = Console()
    console.print(result.markdown)
    console.print(f"predictions: {result.predictions_path}\nsummary: {result.summary_path}")
