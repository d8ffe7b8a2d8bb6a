"""`hyperct demo`: the whole pipeline on a synthetic cohort (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("demo_output"), help="Output folder."),
    config: Path = typer.Option(Path("configs/demo.yaml"), help="Training YAML for every method."),
    spec: str = typer.Option("configs/demo_spec.json", help="Preprocessing spec JSON or name."),
    n_scans: int = typer.Option(240, "--n", help="Scans in the synthetic cohort."),
    preset: str = typer.Option("small", help="Phantom grid preset: small or default."),
    methods: str = typer.Option("hyperct,ew,mgda", help="Comma-separated methods to train."),
    real_ct: Path = typer.Option(None, help="Real CT to predict all 25 tasks on and explain."),
    pretrain_scans: int = typer.Option(
        300, help="Scans of a separate synthetic cohort to pretrain a stand-in backbone on when "
        "the config names no weights (0: keep the random backbone)."
    ),
    pretrain_epochs: int = typer.Option(30, help="Epochs of that pretraining."),
    explain_task: str = typer.Option("Cardiomegaly", help="Task of the saliency map."),
    workers: int = typer.Option(2, help="Processes for cohort generation and preprocessing."),
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for the CIs."),
    seed: int = typer.Option(0, help="Seed of the cohort, training and bootstrap."),
    overrides: list[str] = typer.Option([], "--set", help="Training config override (repeatable)."),
    force: bool = typer.Option(False, help="Replace an earlier demo's output folder."),
) -> None:
    """Generate a synthetic cohort, label it, train HyperCT and baselines, evaluate, explain."""
    from rich.console import Console
    from rich.table import Table

    from hyperct.demo import DemoConfig, overall_auc_table, run_demo

    names = tuple(m.strip() for m in methods.split(",") if m.strip())
    cfg = DemoConfig(out=out, train_config=config, spec=spec, n_scans=n_scans, preset=preset,
                     seed=seed, methods=names, real_ct=real_ct, explain_task=explain_task,
                     pretrain_scans=pretrain_scans, pretrain_epochs=pretrain_epochs,
                     workers=workers, bootstrap=bootstrap, overrides=tuple(overrides), force=force)
    result = run_demo(cfg)
    console = Console()
    table = Table(title="Mean test AUC per method (synthetic cohort; not clinical performance)")
    aucs = overall_auc_table(result.summary, names)
    for col in aucs.columns:
        table.add_column(col)
    for _, row in aucs.iterrows():
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if result.predictions is not None:
        console.print(f"25-task probabilities for {real_ct}: {result.predictions}")
    if result.saliency_png is not None:
        console.print(f"saliency map: {result.saliency_png}")
    console.print(f"minutes per step: { {k: round(v / 60, 1) for k, v in result.seconds.items()} }")
    console.print(f"[bold]HTML report: {result.report.resolve()}[/bold]")
