"""`hyperct train`: train HyperCT, a multi-task baseline or STL from a YAML config."""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    config: str = typer.Argument(
        None, help="Named config (demo, paper, anatomy3d: `hyperct config list`) or YAML file; "
        "omitted: the defaults."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Dotted override, e.g. --set optim.lr=1e-4 (repeatable)."
    ),
    method: str = typer.Option(
        None,
        help="Method: hyperct, ew, uw, rlw, dwa, gls, mgda, pcgrad, cagrad, nashmtl, famo, stl, "
             "a 3D classifier (resnet18_3d, swin_3d, ...; reads data.cache3d when set), report3d, "
             "or unict (classification, segmentation and report; the unict: section).",
    ),
    tasks: str = typer.Option(None, help="Comma-separated task names (STL: one model each)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output_dir from last.pt."),
    new_task: str = typer.Option(
        None, "--new-task", help="Learn only this new task's embedding on a trained HyperCT run."
    ),
    from_run: Path = typer.Option(None, "--from", help="The trained run for --new-task."),
) -> None:
    """Train one run; writes checkpoints, logs, predictions.csv and run.json to output_dir."""
    from hyperct.training import load_config
    from hyperct.training import train as train_run

    extra = [f"method={method}"] if method else []
    if tasks:
        extra.append(f"tasks=[{', '.join(repr(t.strip()) for t in tasks.split(','))}]")
    cfg = load_config(config, [*overrides, *extra])
    if new_task:
        from hyperct.training.new_task import train_new_task

        if from_run is None:
            raise typer.BadParameter("--new-task needs --from RUN", param_hint="--from")
        result = train_new_task(run=from_run, task=new_task, cfg=cfg, resume=resume)
    else:
        result = train_run(cfg, resume=resume)
    typer.echo(
        f"run {result.run_dir}: best epoch {result.best_epoch} of {result.epochs}, "
        f"{result.selection} {result.best_metric:.4f}"
    )
