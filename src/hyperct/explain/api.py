"""`hyperct explain`: Grad-CAM of one task on one CT, saved as NIfTI (original grid) and PNG.

>>> from hyperct.explain.api import explain_scan                              # doctest: +SKIP
>>> result = explain_scan(scan="ct.nii.gz", checkpoint="runs/hyperct", task="Emphysema",
...                       out="runs/hyperct/explain")                         # doctest: +SKIP
>>> result.nifti.name                                                         # doctest: +SKIP
'ct_emphysema_saliency.nii.gz'

The scan is preprocessed exactly as at training (the spec stored in the checkpoint). The heat
map is written on the original CT grid with the CT's affine, so any viewer overlays it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hyperct.evaluation.plots import save_png
from hyperct.explain.gradcam import DEFAULT_BLOCK, cam_to_grid, gradcam, grid_to_volume, normalise
from hyperct.explain.overlay import axial_overlay_figure
from hyperct.io.atomic import write_text_atomic
from hyperct.io.volume import Volume
from hyperct.models.interface import ScreeningModel
from hyperct.preprocess import SliceStackSpec, preprocess_volume, to_model_input
from hyperct.preprocess.spec import PreprocessSpec
from hyperct.tasks import task_by_name

logger = logging.getLogger(__name__)


@dataclass
class Explanation:
    """One task's saliency for one scan and where it was written."""

    scan: str
    task: str
    probability: float
    block: int
    saliency: Volume
    nifti: Path | None = None
    png: Path | None = None
    record: Path | None = None


def explain_volume(
    model: ScreeningModel, volume: Volume, spec: PreprocessSpec, task: str, block: int = DEFAULT_BLOCK
) -> Explanation:
    """Grad-CAM of ``task`` for ``volume``; the map is in [0, 1] on the volume's own grid."""
    if not isinstance(spec, SliceStackSpec):
        raise ValueError(
            f"Grad-CAM on ViT patch tokens needs a 2.5D slice-stack spec, got {spec.kind}"
        )
    task_id = _task_id(model, task)
    sample = to_model_input(preprocess_volume(volume, spec), spec)
    device = next(model.parameters()).device  # type: ignore[attr-defined]
    result = gradcam(
        model, sample["image"].to(device), sample["image_mask"].to(device), task_id, block
    )
    grid = cam_to_grid(result.cam, spec.slices, (spec.size, spec.size))
    saliency = normalise(grid_to_volume(grid, volume.shape))
    probability = float(torch.sigmoid(torch.tensor(result.logit)))
    heat = Volume(saliency.astype(np.float32), volume.spacing, volume.affine, source=volume.source)
    return Explanation(
        scan=str(volume.source),
        task=model.task_names[task_id],
        probability=probability,
        block=block,
        saliency=heat,
    )


def explain_scan(
    *,
    scan: str | Path,
    checkpoint: str | Path,
    task: str,
    out: str | Path,
    block: int = DEFAULT_BLOCK,
    device: str = "cpu",
) -> Explanation:
    """Load the run's model, explain ``task`` on ``scan`` and write NIfTI, PNG and JSON to ``out``."""
    from hyperct.io.read import read_ct, scan_stem
    from hyperct.io.write import write_nifti
    from hyperct.inference.predict import load_trained_model
    from hyperct.inference.spec import checkpoint_spec

    model, ckpt = load_trained_model(checkpoint, device=device)
    volume = read_ct(scan)
    result = explain_volume(model, volume, checkpoint_spec(ckpt, checkpoint), task, block)
    out = Path(out)
    stem = f"{scan_stem(Path(scan))}_{_slug(result.task)}"
    result.nifti = write_nifti(result.saliency, out / f"{stem}_saliency.nii.gz")
    title = f"{result.task}: p = {result.probability:.3f} (Grad-CAM, block {block})"
    result.png = save_png(
        axial_overlay_figure(volume.array, result.saliency.array, title), out / f"{stem}_axial.png"
    )
    result.record = out / f"{stem}_saliency.json"
    record = {
        "scan": str(scan),
        "checkpoint": str(checkpoint),
        "task": result.task,
        "probability": result.probability,
        "block": block,
        "nifti": result.nifti.name,
        "png": result.png.name,
    }
    write_text_atomic(result.record, json.dumps(record, indent=2) + "\n")
    logger.info("%s, %s: p = %.3f; saliency in %s", scan, result.task, result.probability, out)
    return result


def _task_id(model: ScreeningModel, task: str) -> int:
    names = list(model.task_names)
    try:
        name = task_by_name(task).name
    except KeyError:
        name = task
    if name not in names:
        raise KeyError(
            f"task {task!r} is not a task of this model ({len(names)} tasks, e.g. {names[:3]})"
        )
    return names.index(name)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
