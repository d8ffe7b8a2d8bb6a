"""`hyperct compare`: train several methods with one config and tabulate their AUCs."""

from __future__ import annotations

from pathlib import Path

import typer


def compare(
    config: str = typer.Argument(
        ..., help="Named config (`hyperct config list`) or YAML file shared by every method."
    ),
    methods: str = typer.Option(
        "hyperct,ew,uw,rlw,dwa,gls,mgda,stl",
        help="Comma-separated methods, named variants (unict, unict-no-fusion, "
             "unict-no-modulation, unict-no-cls, unict-no-seg, unict-no-report, cls-only, "
             "seg-only, report-only, unict-report-guidance) and presets (unict-ablations: the "
             "first nine).",
    ),
    variant: list[str] = typer.Option(
        [], "--variant",
        help="A custom variant NAME=METHOD:KEY=VALUE;KEY=VALUE (config overrides as for --set), "
             "compared under NAME (repeatable).",
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
        1000, help="Resamples of the bootstrap CIs and paired tests (vs the reference; "
                   "with/without anatomy); 0: skip."
    ),
    budget: str | None = typer.Option(
        None,
        help="Train every method to the same budget: epochs, steps, label-exposures ((sample, "
             "task) labels in a loss) or backbone-passes (image stacks through the backbone). "
             "Default: each method trains the config's optim.epochs.",
    ),
    budget_amount: int | None = typer.Option(
        None, help="The budget's amount (default: what optim.epochs epochs of the first method "
                   "spend)."
    ),
    seeds: int = typer.Option(1, help="Runs per method, with seeds seed, seed+1, ..."),
    folds: int | None = typer.Option(
        None,
        help="Patient-level K-fold cross-validation of the training cohorts (test: one fold; "
             "val: 15 % of the patients; train: the rest), each method trained per fold into "
             "OUT/<method>/fold<k>/, the folds' manifests in OUT/folds/. Not with --seeds.",
    ),
    reference: str | None = typer.Option(
        None, help="Variant the paired differences are taken against (default: hyperct when "
                   "compared, else the first)."
    ),
    lr_grid: str = typer.Option(
        "", help="Comma-separated learning rates; each method's is chosen by mean validation "
                 "AUC over its seeds (default: the config's optim.lr)."
    ),
) -> None:
    """Train each method into OUT/<method>/ (finished runs are kept, stopped
    ones resumed).

    Methods: hyperct, the shared-LoRA baselines by weighting method (ew, uw,
    rlw, dwa, gls, mgda, pcgrad, cagrad, nashmtl, famo), stl, the 3D
    classifiers (resnet18_3d, swin_3d, ...), which read data.cache3d when the
    config sets it, report3d, and unict with its named variants (--methods
    unict-ablations: the full model, its five ablations and the three
    single-task models with its encoder; OUT/outputs.csv holds every
    variant's own classification, segmentation and report metrics). HyperCT
    trains sampling.tasks_per_sample tasks per sample (--set
    sampling.tasks_per_sample=5).
    """
    from hyperct.config.run import ConfigError
    from hyperct.training import load_config
    from hyperct.training.compare import Protocol, compare_methods

    cfg = load_config(config, overrides)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    try:
        grid = tuple(float(v) for v in lr_grid.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--lr-grid must be comma-separated numbers, got {lr_grid!r}") from None
    protocol = Protocol(budget=budget, budget_amount=budget_amount, seeds=seeds, lr_grid=grid,
                        folds=folds)
    result = compare_methods(
        cfg=cfg, methods=names, out=out, split=split, anatomy=anatomy,  # type: ignore[arg-type]
        bootstrap=bootstrap, protocol=protocol, reference=reference, custom=variant,
    )
    typer.echo(result.markdown)  # tables stay copyable
    if result.predictions_path is not None:
        typer.echo(f"predictions: {result.predictions_path}\nsummary: {result.summary_path}")
    if result.outputs is not None and not result.outputs.empty:
        typer.echo(f"segmentation and report metrics: {out / 'outputs.csv'}")
    if result.anatomy_pairs is not None:
        typer.echo(f"anatomy pairs: {out / 'anatomy_pairs.csv'}")
