"""Predict all 25 tasks, or write the report, for raw CT files (NIfTI, DICOM folder or zip)
with a trained run.

The scan is preprocessed with the spec stored in the checkpoint, exactly as the training cache
was, so prediction can never preprocess differently from training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from hyperct.inference.batch import predict_logits
from hyperct.inference.device import autocast
from hyperct.io.atomic import write_atomic, write_text_atomic
from hyperct.io.volume import Volume
from hyperct.models.interface import (
    Capability,
    ReportGeneratingModel,
    ScreeningModel,
    SegmentingModel,
    require,
)
from hyperct.preprocess.spec import PreprocessSpec

if TYPE_CHECKING:
    from hyperct.inference.scan_outputs import SegmentedScans

logger = logging.getLogger(__name__)


def predict_scans(
    *,
    paths: Sequence[str | Path],
    checkpoint: str | Path,
    device: str = "auto",
    allow_implausible: bool = False,
    spacing: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """Probabilities of the 25 tasks, one row per scan (index: the file path), tasks as columns.

    A file that cannot be read, or whose values are not plausible CT HU (unless
    ``allow_implausible``), stops the run with an error naming the file. ``spacing`` (z, y, x mm)
    is used for files that give no voxel size.
    """
    model, spec, bf16 = load_predictor(checkpoint, device)
    rows = {}
    for path in paths:
        volume = read_checked(path, spacing)
        rows[str(path)] = predict_volume(model, spec, volume, bf16, allow_implausible)
        logger.info("predicted %s", path)
    return pd.DataFrame.from_dict(rows, orient="index", columns=model.task_names)


def load_predictor(checkpoint: str | Path, device: str) -> tuple[ScreeningModel, PreprocessSpec, bool]:
    """The run's model, the spec it was trained with, and whether it runs in bf16 (what
    :func:`predict_volume` needs)."""
    from hyperct.inference.predict import checkpoint_config, load_trained_model
    from hyperct.inference.spec import checkpoint_spec

    model, ckpt = load_trained_model(checkpoint, device)
    return model, checkpoint_spec(ckpt, checkpoint), bool(checkpoint_config(ckpt, checkpoint).runtime.bf16)


def read_checked(path: str | Path, spacing: tuple[float, float, float] | None = None) -> Volume:
    """Read one CT and log a warning for each input-QC flag it raises (:mod:`hyperct.io.scan_qc`:
    field of view, slice thickness, contrast), so the output of a prediction says so."""
    from hyperct.io.read import read_ct
    from hyperct.io.scan_qc import check_scan

    volume = read_ct(path, spacing=spacing)
    for flag in check_scan(volume):
        logger.warning("%s: QC %s: %s", path, flag.code, flag.message)
    return volume


def predict_volume(
    model: ScreeningModel,
    spec: PreprocessSpec,
    volume: Volume,
    bf16: bool = False,
    allow_implausible: bool = False,
) -> np.ndarray:
    """Probabilities ``(T,)`` of every task of ``model`` for one CT, preprocessed with ``spec``.

    A volume whose values are not plausible CT HU raises ``ImplausibleCTError`` unless
    ``allow_implausible``.
    """
    return predict_inputs(model, [volume_batch(model, spec, volume, allow_implausible)], bf16)[0]


def predict_inputs(
    model: ScreeningModel, inputs: Sequence[dict[str, torch.Tensor]], bf16: bool = False
) -> np.ndarray:
    """Probabilities ``(N, T)`` of ``N`` one-scan inputs (:func:`volume_batch`), in order.

    Inputs of the same shapes run as one batch (a service batches the studies waiting for it);
    each scan's probabilities do not depend on the others of its batch.
    """
    probs: list[np.ndarray] = [np.empty(0)] * len(inputs)
    for indices, batch in _same_shape_batches(inputs):
        with torch.no_grad(), autocast(batch["image"].device, bf16):
            logits = predict_logits(model, batch)
        for i, row in zip(indices, torch.sigmoid(logits.float()).cpu().numpy()):
            probs[i] = row
    return np.stack(probs)


def segment_inputs(
    model: SegmentingModel, inputs: Sequence[dict[str, torch.Tensor]], bf16: bool = False
) -> list[SegmentedScans]:
    """Every output of a segmenting model (probabilities, masks on the model grid, report) for
    ``N`` one-scan inputs (:func:`volume_batch`): one single-scan :class:`SegmentedScans` each,
    in order, its scan id the input's index. Inputs of the same shapes run as one batch, as by
    :func:`predict_inputs`."""
    from hyperct.inference.scan_outputs import segment_batch

    out: list[SegmentedScans | None] = [None] * len(inputs)
    for indices, batch in _same_shape_batches(inputs):
        scans = segment_batch(model, batch, [str(i) for i in indices], bf16)
        for k, i in enumerate(indices):
            out[i] = scans.scan(k)
    return [scans for scans in out if scans is not None]


def _same_shape_batches(
    inputs: Sequence[dict[str, torch.Tensor]],
) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
    """The inputs whose tensors have the same shapes concatenated into one batch each, with
    the indices of the inputs each batch holds."""
    groups: dict[tuple[tuple[str, tuple[int, ...]], ...], list[int]] = {}
    for index, item in enumerate(inputs):
        groups.setdefault(tuple((k, tuple(v.shape)) for k, v in sorted(item.items())), []).append(index)
    return [(indices, {k: torch.cat([inputs[i][k] for i in indices]) for k in inputs[indices[0]]})
            for indices in groups.values()]


def report_volume(
    model: ReportGeneratingModel,
    spec: PreprocessSpec,
    volume: Volume,
    bf16: bool = False,
    allow_implausible: bool = False,
) -> str:
    """The report ``model`` writes for one CT, preprocessed with ``spec`` (decoded as the run
    was configured); an implausible volume is refused as by :func:`predict_volume`."""
    batch = volume_batch(model, spec, volume, allow_implausible)
    with torch.no_grad(), autocast(batch["image"].device, bf16):
        return model.generate_reports(batch["image"], batch.get("image_mask"))[0]


def volume_batch(
    model: ScreeningModel, spec: PreprocessSpec, volume: Volume, allow_implausible: bool = False
) -> dict[str, torch.Tensor]:
    """One CT as a one-scan model input on the model's device, preprocessed with ``spec``."""
    from hyperct.preprocess.pipeline import preprocess_volume, to_model_input

    grid = preprocess_volume(volume, spec, allow_implausible=allow_implausible)
    item = to_model_input(grid, spec, train=False)
    device = next(iter(model.parameters())).device  # type: ignore[attr-defined]
    return {k: v.unsqueeze(0).to(device) for k, v in item.items() if k in ("image", "image_mask")}


def run_capabilities(checkpoint: str | Path) -> frozenset[Capability]:
    """The capabilities of ``checkpoint``'s model family (what its per-scan output is: the
    report of a report writer, the masks and report of a segmenting model, else probabilities)."""
    from hyperct.inference.checkpoint import load_checkpoint
    from hyperct.inference.predict import checkpoint_config
    from hyperct.models.registry import family_of

    cfg = checkpoint_config(load_checkpoint(checkpoint), checkpoint)
    return family_of(cfg.method).model.capabilities


def segment_scans(
    *,
    paths: Sequence[str | Path],
    checkpoint: str | Path,
    out_dir: str | Path,
    device: str = "auto",
    allow_implausible: bool = False,
    spacing: tuple[float, float, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Probabilities as by :func:`predict_scans`, and a segmenting run's outputs written into
    ``out_dir`` (:mod:`hyperct.inference.scan_outputs`): each scan's mask on its own grid as
    ``masks/<file stem>.nii.gz``, ``reports.csv`` and ``fusion_attention.csv`` keyed by the
    file stem. Returns the probabilities and the reports (index: the file path)."""
    from hyperct.inference.scan_outputs import OutputFolder, mask_file, segment_batch
    from hyperct.io.read import scan_stem
    from hyperct.preprocess.grid_map import grid_record

    stems = {str(path): scan_stem(Path(path)) for path in paths}
    if len(set(stems.values())) < len(stems):
        raise ValueError("two scans have the same file name; their masks would overwrite each "
                         f"other in {out_dir}/masks: {sorted(stems.values())}")
    model, spec, bf16 = load_predictor(checkpoint, device)
    segmenter = require(model, Capability.SEGMENTATION, SegmentingModel,
                        f"writing masks with {checkpoint}")
    folder = OutputFolder(out_dir, segmenter)
    rows, reports = {}, {}
    for path, stem in stems.items():
        volume = read_checked(path, spacing)
        batch = volume_batch(model, spec, volume, allow_implausible)
        scans = segment_batch(segmenter, batch, [stem], bf16)
        record = grid_record(volume, spec)
        folder.add(scans, lambda _: record)
        rows[path] = scans.probs[0]
        if scans.reports is not None:
            reports[path] = scans.reports[0]
        logger.info("predicted %s; its masks are in %s", path, mask_file(out_dir, stem))
    folder.write_tables(*([t] for t in folder.tables()))
    probs = pd.DataFrame.from_dict(rows, orient="index", columns=model.task_names)
    texts = pd.DataFrame.from_dict(reports, orient="index", columns=["report"]) if reports else None
    return probs, texts


def report_scans(
    *,
    paths: Sequence[str | Path],
    checkpoint: str | Path,
    device: str = "auto",
    allow_implausible: bool = False,
    spacing: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """The generated report of each scan (index: the file path, column ``report``); files are
    read and checked as by :func:`predict_scans`."""
    model, spec, bf16 = load_predictor(checkpoint, device)
    writer = require(model, Capability.REPORT_GENERATION, ReportGeneratingModel,
                     f"writing reports with {checkpoint}")
    rows = {}
    for path in paths:
        volume = read_checked(path, spacing)
        rows[str(path)] = report_volume(writer, spec, volume, bf16, allow_implausible)
        logger.info("wrote the report of %s", path)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["report"])


def write_scan_reports(reports: pd.DataFrame, out: str | Path) -> Path:
    """Write generated reports as JSON (``{scan: {"report": text}}``) or CSV (scan, report)."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        data = {scan: {"report": text} for scan, text in reports["report"].items()}
        return write_text_atomic(out, json.dumps(data, indent=2))
    if out.suffix.lower() != ".csv":
        raise ValueError(f"{out}: output must end in .csv or .json")
    return write_atomic(out, lambda tmp: reports.rename_axis("scan").to_csv(tmp))


def write_scan_probabilities(probs: pd.DataFrame, out: str | Path) -> Path:
    """Write per-scan probabilities as CSV (scan x task) or JSON ({scan: {task: prob}})."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        data: dict[str, Any] = {scan: row.to_dict() for scan, row in probs.iterrows()}
        return write_text_atomic(out, json.dumps(data, indent=2))
    if out.suffix.lower() != ".csv":
        raise ValueError(f"{out}: output must end in .csv or .json")
    return write_atomic(out, lambda tmp: probs.rename_axis("scan").to_csv(tmp, float_format="%.6g"))


def probabilities_table(probs: pd.DataFrame) -> Any:
    """A rich table: tasks as rows, one probability column per scan."""
    from rich.table import Table

    table = Table(title="hyperct predictions (probability per task)")
    table.add_column("task")
    for scan in probs.index:
        table.add_column(Path(scan).name, justify="right")
    for task in probs.columns:
        table.add_row(task, *(f"{probs.at[scan, task]:.3f}" for scan in probs.index))
    return table
