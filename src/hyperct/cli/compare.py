"""`hyperct compare`: train several methods with one config and tabulate their AUCs."""

from __future__ import annotations

from pathlib import Path

import typer


def compare(
    config: str = typer.Argument(
        ..., help="Named config (`hyperct config list`) or YAML file shared by every method."
    ),
    methods: str = typer.Option(
        "hyperct,ew,uw,rlw,dwa,gls,mgda,stl", help="Comma-separated methods to train."
    ),
    out: Path = typer.Option(Path("compare"), help="Folder: one run per method + the tables."),
    overrides: list[str] = typer.Option([], "--set", help="Dotted config override (repeatable)."),
    split: str = typer.Option("test", help="Split the summary table is computed on."),
    anatomy: str = typer.Option(
        "config",
        help="Anatomy supervision: config (as the config says), off, on, or both (each method "
             "without and with it, as OUT/<method> and OUT/<method>+anatomy, plus a paired test).",
    ),
    bootstrap: int = typer.Option(
        1000, help="Resamples of the paired with/without-anatomy bootstrap test (0: skip)."
    ),
) -> None:
    """Train each method into OUT/<method>/ (finished runs are kept, stopped ones resumed).

    Methods: hyperct, the shared-LoRA baselines by weighting method (ew, uw, rlw, dwa, gls, mgda,
    pcgrad, cagrad, nashmtl, famo), stl, and the 3D classifiers (resnet18_3d, swin_3d, ...),
    which read data.cache3d when the config sets it.
    """
    from hyperct.training import load_config
    from hyperct.training.compare import compare_methods

    cfg = load_config(config, overrides)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    result = compare_methods(
        cfg=cfg, methods=names, out=out, split=split, anatomy=anatomy,  # type: ignore[arg-type]
        bootstrap=bootstrap,
    )
    typer.echo(result.markdown)  # tables stay copyable
    typer.echo(f"predictions: {result.predictions_path}\nsummary: {result.summary_path}")
    if result.anatomy_pairs is not None:
        typer.echo(f"anatomy pairs: {result.summary_path.with_name('anatomy_pairs.csv')}")
