"""`hyperct evaluate`: metrics, bootstrap CIs, curves and an HTML report from predictions."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate(
    run: Path = typer.Argument(
        ..., help="RUN folder (with predictions.csv/.parquet) or a predictions file."
    ),
    compare: list[Path] = typer.Option(
        [], "--compare", help="Another RUN folder to compare (repeatable)."
    ),
    predictions: list[Path] = typer.Option(
        [], "--predictions", help="An external predictions CSV/Parquet to compare (repeatable)."
    ),
    out: Path = typer.Option(None, "--out", help="Output folder (default: RUN/evaluation)."),
    split: list[str] = typer.Option(["test"], "--split", help="Split(s) to report (repeatable)."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    no_lora: bool = typer.Option(
        False, "--no-lora", help="Skip the LoRA analysis of a HyperCT checkpoint."
    ),
    segmentation: Path = typer.Option(
        None, "--segmentation", help="segmentation_summary.csv of `hyperct evaluate-masks`."
    ),
    report_metrics: Path = typer.Option(
        None, "--report-metrics", help="Metrics JSON of `hyperct evaluate-reports`."
    ),
    manifest: Path = typer.Option(
        None, "--manifest", help="A unict RUN: manifest whose report_text the reports are scored "
        "against (default: the run's data.manifest)."
    ),
    cache: Path = typer.Option(
        None, "--cache", help="A unict RUN: cache whose finding masks the masks are scored "
        "against (default: the run's cache)."
    ),
    no_meteor: bool = typer.Option(
        False, "--no-meteor", help="A unict RUN: skip METEOR in its report metrics (needs Java)."
    ),
) -> None:
    """Evaluate RUN (the reference) and any --compare/--predictions; write report.html and tables.

    A unict RUN predicted with `hyperct predict --out RUN/predictions.csv` also gets its
    segmentation, report-generation and fusion attention sections.
    """
    from hyperct.evaluation.bootstrap import BootstrapConfig
    from hyperct.evaluation.report import evaluate as run_evaluation
    from hyperct.evaluation.run_outputs import RunReferences
    from hyperct.evaluation.tables import EvaluationConfig

    if (manifest is None) != (cache is None):
        raise typer.BadParameter("give --manifest and --cache together (or neither: the run's own)")

    config = EvaluationConfig(
        bootstrap=BootstrapConfig(n_resamples=resamples, seed=seed), splits=tuple(split)
    )
    result = run_evaluation(
        runs=[run, *compare],
        predictions=list(predictions),
        out=out,
        config=config,
        lora=not no_lora,
        segmentation=segmentation,
        report_metrics=report_metrics,
        references=RunReferences(manifest, cache) if manifest is not None else None,
        meteor=not no_meteor,
    )
    typer.echo(f"report: {result.report}")
