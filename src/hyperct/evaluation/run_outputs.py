"""Report sections from what a segmenting run (UniCT) predicted besides probabilities.

``hyperct predict`` writes ``masks/``, ``reports.csv`` and ``fusion_attention.csv`` into the run
folder (:mod:`hyperct.inference.segmentation`); each present file adds its section, for the
scans of the evaluated splits:

* **Segmentation**: the predicted masks against the cache's finding masks, scored by
  ``hyperct evaluate-masks`` (:func:`~hyperct.evaluation.segmentation_files.evaluate_mask_dirs`,
  one channel per category). The references are written first, on each CT's own grid, into
  ``reference_masks/`` by the same mapping as the predictions
  (:func:`~hyperct.preprocess.grid_map.write_masks_nifti`), so both are scored voxel for voxel
  on the CT. A scan without a finding mask has no reference and is not scored.
* **Report generation**: ``reports.csv`` against the manifest's ``report_text``, scored by
  ``hyperct evaluate-reports`` (:func:`~hyperct.evaluation.report_metrics.report_metrics`;
  METEOR only where Java is installed and it is not switched off) into ``report_metrics.json``.
* **Fusion attention**: the attention across the task latents averaged over the scans (each
  row already averaged over heads, so it sums to 1), written as ``fusion_attention.csv`` and
  ``fusion_attention.npy`` and drawn as a heat map labelled with the fusion tasks.

The manifest and cache are the run's own (``data.manifest`` and its cache in ``best.pt``'s
config) unless given.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.evaluation import html
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.plots import attention_figure, png_base64, save_png
from hyperct.evaluation.report_extras import report_metrics_section, segmentation_section
from hyperct.evaluation.sources import Source
from hyperct.io.atomic import write_atomic, write_csv_atomic, write_text_atomic

logger = logging.getLogger(__name__)

REFERENCE_MASKS = "reference_masks"
REPORT_METRICS = "report_metrics.json"


@dataclass(frozen=True)
class RunReferences:
    """Where a run's reference masks (the cache) and reports (the manifest) are."""

    manifest: Path
    cache: Path


def run_output_sections(
    source: Source,
    out_dir: Path,
    splits: Sequence[str],
    bootstrap: BootstrapConfig,
    references: RunReferences | None = None,
    skip: Sequence[str] = (),
    meteor: bool = True,
) -> list[html.Section]:
    """The segmentation, report and fusion attention sections of ``source``'s run folder (none
    for a predictions file or a run without those outputs); ``skip`` leaves out
    ``"segmentation"`` or ``"reports"`` (scored from a file the user gave instead); ``meteor``
    off skips METEOR (it needs Java and takes ~10 s to start)."""
    from hyperct.inference.reports import REPORTS
    from hyperct.inference.segmentation import ATTENTION_CSV, MASKS_DIR

    run = source.run_dir
    if run is None:
        return []
    masks, reports, attention = run / MASKS_DIR, run / REPORTS, run / ATTENTION_CSV
    score_masks = masks.is_dir() and "segmentation" not in skip
    score_reports = reports.is_file() and "reports" not in skip
    sections: list[html.Section | None] = []
    if score_masks or score_reports:
        refs = references or _run_references(source)
        table = _split_rows(refs.manifest, splits)
        if score_masks:
            sections.append(_segmentation(masks, refs.cache, table, out_dir, bootstrap))
        if score_reports:
            sections.append(_reports(reports, table, out_dir, bootstrap, meteor))
    if attention.is_file():
        sections.append(attention_section(attention, table_ids(run, splits), out_dir))
    return [s for s in sections if s is not None]


def _run_references(source: Source) -> RunReferences:
    from hyperct.inference.checkpoint import load_checkpoint
    from hyperct.inference.predict import checkpoint_config

    if source.checkpoint is None:
        raise ValueError(f"{source.run_dir}: no best.pt to read the run's manifest and cache "
                         "from; give them (--manifest, --cache)")
    cfg = checkpoint_config(load_checkpoint(source.checkpoint), source.checkpoint)
    return RunReferences(Path(cfg.data.manifest), Path(cfg.run_cache))


def _split_rows(manifest: Path, splits: Sequence[str]) -> pd.DataFrame:
    from hyperct.data.manifest import load_manifest

    table = load_manifest(manifest, check_files=False)
    return table[table["split"].isin(list(splits))]


def table_ids(run: Path, splits: Sequence[str]) -> set[str] | None:
    """Scan ids of ``splits`` in the run's predictions table (None: no table to filter by)."""
    from hyperct.evaluation.sources import load_sources

    try:
        df, _ = load_sources([run])
    except (OSError, ValueError):
        return None
    return set(df.loc[df["split"].isin(list(splits)), "scan_id"].astype(str))


def _segmentation(
    masks: Path, cache: Path, table: pd.DataFrame, out_dir: Path, bootstrap: BootstrapConfig
) -> html.Section | None:
    """Reference masks of the predicted scans from the cache, then evaluate-masks on both."""
    import json

    from hyperct.data.cache import ScanCache, cache_key
    from hyperct.evaluation.segmentation_files import MaskEvaluationConfig, evaluate_mask_dirs
    from hyperct.inference.segmentation import CHANNELS_JSON
    from hyperct.preprocess.grid_map import write_masks_nifti

    channels = json.loads((masks / CHANNELS_JSON).read_text())["channels"]
    scans = ScanCache(cache)
    index = _channel_index(channels, scans.read_finding_channels(), cache)
    ref_dir = out_dir / REFERENCE_MASKS
    written = 0
    for scan_id in table["scan_id"].astype(str):
        key = cache_key(scan_id)
        if not (masks / f"{key}.nii.gz").is_file():
            continue
        stack = scans.load_findings_stack(scan_id)
        if stack is None:
            continue
        write_masks_nifti(stack[index], scans.load_grid_record(scan_id), ref_dir / f"{key}.nii.gz")
        written += 1
    if not written:
        body = (f"<p class=note>No predicted scan of these splits has a finding mask in "
                f"{html.escape(str(cache))}; nothing to score.</p>")
        return html.Section("Segmentation", body, "segmentation")
    result = evaluate_mask_dirs(
        masks, ref_dir, out_dir,
        config=MaskEvaluationConfig(categories=tuple(channels), bootstrap=bootstrap),
    )
    for failure in result.failures:
        logger.warning("segmentation not scored: %s", failure)
    return segmentation_section(
        result.files[1],
        f"Predicted masks ({html.escape(str(masks))}, thresholded at 0.5) against the cache's "
        f"finding masks, both on each CT's own grid; {len(result.failures)} scan(s) failed.",
    )


def _channel_index(channels: Sequence[str], cached: Sequence[str], cache: Path) -> list[int]:
    """Index in the cache's channels of each predicted channel (by name or category code)."""
    codes = [name.split(" ", 1)[0] for name in cached]
    index = []
    for name in channels:
        if name in cached:
            index.append(list(cached).index(name))
        elif name in codes:
            index.append(codes.index(name))
        else:
            raise ValueError(f"{cache}: the cache has no finding channel {name!r} (its "
                             f"channels: {list(cached)})")
    return index


def _reports(
    reports: Path, table: pd.DataFrame, out_dir: Path, bootstrap: BootstrapConfig, meteor: bool
) -> html.Section | None:
    """The generated reports of the split's scans against their ``report_text``."""
    from hyperct.evaluation.report_metrics import ReportMetricsConfig, report_metrics
    from hyperct.labels.io import read_csv_text

    generated = read_csv_text(reports).fillna("").set_index("scan_id")["report"]
    if "report_text" not in table.columns:
        body = "<p class=note>The manifest has no report_text; nothing to score.</p>"
        return html.Section("Report generation", body, "report-generation")
    texts = table.set_index("scan_id")["report_text"].fillna("").astype(str)
    ids = [s for s in texts.index if texts[s].strip() and s in generated.index]
    if not ids:
        body = "<p class=note>No generated report has a reference report_text here.</p>"
        return html.Section("Report generation", body, "report-generation")
    config = ReportMetricsConfig(meteor=meteor and shutil.which("java") is not None,
                                 bootstrap=bootstrap)
    result = report_metrics([str(generated[s]) for s in ids], [texts[s] for s in ids], config)
    path = write_text_atomic(out_dir / REPORT_METRICS, result.to_json())
    return report_metrics_section(
        path,
        f"Generated reports ({html.escape(str(reports))}) against the manifest's report_text"
        + ("" if config.meteor else "; METEOR not computed (switched off, or no Java)") + ".",
    )


def attention_section(path: Path, scan_ids: set[str] | None, out_dir: Path) -> html.Section:
    """The fusion attention averaged over the scans (of ``scan_ids`` when given): table, CSV,
    NPY and heat map."""
    from hyperct.inference.segmentation import ATTENTION_COLUMNS
    from hyperct.labels.io import read_csv_text

    rows = read_csv_text(path)
    tasks = [c for c in rows.columns if c not in ATTENTION_COLUMNS]
    try:
        rows[tasks] = rows[tasks].astype(float)
    except ValueError as error:
        raise ValueError(f"{path}: attention weights must be numbers ({error})") from None
    if scan_ids is not None:
        rows = rows[rows["scan_id"].astype(str).isin(scan_ids)]
    if rows.empty:
        body = "<p class=note>No scan of these splits has a fusion attention row.</p>"
        return html.Section("Fusion attention", body, "fusion-attention")
    matrix = mean_attention(rows, tasks)
    write_csv_atomic(matrix.rename_axis("query").reset_index(), out_dir / "fusion_attention.csv",
                     float_format="%.6g")
    values = matrix.to_numpy(dtype=np.float64)

    def save_npy(tmp: Path) -> None:
        with tmp.open("wb") as handle:  # a file object: np.save adds no ".npy" to its name
            np.save(handle, values)

    write_atomic(out_dir / "fusion_attention.npy", save_npy)
    n_scans = rows["scan_id"].nunique()
    png = save_png(attention_figure(matrix, f"Fusion attention (mean of {n_scans} scans)"),
                   out_dir / "plots" / "fusion_attention.png")
    cells = "".join(
        f"<tr><td class=name>{html.escape(q)}</td>"
        + "".join(f"<td>{html.fmt(v)}</td>" for v in matrix.loc[q]) + "</tr>"
        for q in matrix.index
    )
    head = "".join(f"<th>{html.escape(t)}</th>" for t in tasks)
    note = (f"<p class=note>Attention of each task's summary (row, query) over the tasks "
            f"(columns, keys) in the fusion module, averaged over heads and {n_scans} scans; "
            "rows sum to 1.</p>")
    table = f"<table><tr><th class=name>query</th>{head}</tr>{cells}</table>"
    figure = html.figure(png_base64(png), "fusion attention (query rows, key columns)")
    return html.Section("Fusion attention", note + table + figure, "fusion-attention")


def mean_attention(rows: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Mean over scans of each query's row: a ``tasks`` x ``tasks`` frame in that order."""
    matrix = rows.groupby("query")[list(tasks)].mean().reindex(list(tasks))
    if matrix.isna().any().any():
        raise ValueError(f"fusion attention rows do not cover the tasks {list(tasks)} as queries")
    return matrix
