"""`hyperct explain`: Grad-CAM saliency of one task on one CT (NIfTI on the CT grid + PNG)."""

from __future__ import annotations

from pathlib import Path

import typer


def explain(
    scan: Path = typer.Argument(..., help="CT file (NIfTI, DICOM folder or zip)."),
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", help="RUN folder or checkpoint file of a HyperCT or UniCT run."
    ),
    task: str = typer.Option(..., "--task", help="Task name or short name (see `hyperct tasks`)."),
    block: int = typer.Option(
        -2, "--block", help="ViT block whose patch tokens are used (-2: input of the last block); a UniCT "
        "run is explained on its encoder's feature map instead."
    ),
    out: Path = typer.Option(None, "--out", help="Output folder (default: RUN/explain)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, or auto."),
) -> None:
    """Write SCAN's saliency for TASK as NIfTI (original CT grid), an axial PNG overlay and JSON."""
    from hyperct.explain.api import explain_scan

    folder = (
        out
        if out is not None
        else (checkpoint if checkpoint.is_dir() else checkpoint.parent) / "explain"
    )
    result = explain_scan(
        scan=scan, checkpoint=checkpoint, task=task, out=folder, block=block, device=device
    )
    typer.echo(
        f"{result.task}: p = {result.probability:.3f}; wrote {result.nifti} and {result.png}"
    )
