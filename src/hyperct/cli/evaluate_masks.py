"""`hyperct evaluate-masks`: Dice, Global Dice, hit rate and instance F1 from mask folders."""

from __future__ import annotations

from pathlib import Path

import typer



def evaluate_masks(
    pred_dir: Path = typer.Argument(..., help="Folder of predicted masks, <scan_id>.nii.gz."),
    ref_dir: Path = typer.Argument(..., help="Folder of reference masks, <scan_id>.nii.gz."),
    out: Path = typer.Option(..., "--out", help="Folder for the findings and summary CSVs."),
    findings: Path = typer.Option(
        None, "--findings", help="Findings table (scan_id, mask_channel, category) naming the "
        "category of each mask channel."
    ),
    categories: str = typer.Option(
        "", "--categories", help="Comma-separated category names when the masks hold one "
        "channel (or label value 1, 2, ...) per category instead of one per finding."
    ),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples over scans."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
) -> None:
    """Segmentation metrics of predicted vs reference masks, per category.

    Dice per finding, Global Dice, hit rate and instance precision / recall / F1 with bootstrap
    CIs over scans.
    """
    from hyperct.cli.errors import exit_if_failed
    from hyperct.evaluation.bootstrap import BootstrapConfig
    from hyperct.evaluation.segmentation_files import MaskEvaluationConfig, evaluate_mask_dirs

    config = MaskEvaluationConfig(
        categories=tuple(c.strip() for c in categories.split(",") if c.strip()),
        bootstrap=BootstrapConfig(n_resamples=resamples, seed=seed),
    )
    run = evaluate_mask_dirs(pred_dir, ref_dir, out, findings_csv=findings, config=config)
    overall = run.summary[run.summary["category"] == "all"].set_index("metric")["value"]
    typer.echo(
        f"wrote {', '.join(str(f) for f in run.files)} ({len(run.findings)} findings): "
        + ", ".join(f"{metric} {value:.3f}" for metric, value in overall.items())
    )
    exit_if_failed(run.failures, "evaluate-masks")
