"""The demo's UniCT step: a tiny UniCT trained on the demo cohort, and what it says about one
test scan - its generated report beside the reference, its predicted finding mask on the slice
where the reference is largest and on the slice where the prediction is largest.

UniCT reads a 3D cache, so the step prepares one (``anatomy3d-cpu``: 6 mm voxels) from the demo
manifest, with each scan's report text attached from the phantom's ``reports.csv``. Then
``hyperct train --method unict`` with :data:`TRAIN_OVERRIDES` (a small encoder, two epochs:
about two minutes on 2 cores; its numbers show the plumbing, not what UniCT can learn). The
example scan is the test scan with the largest reference finding mask, chosen from the reference
only, so it never depends on how well the model did. At this budget the mask is a location prior
(nearly the same region in every category) that can miss the reference's largest slice, hence the
second slice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hyperct.evaluation import html
from hyperct.io.atomic import write_csv_atomic

logger = logging.getLogger(__name__)

#: The 3D preprocessing UniCT's encoder reads.
SPEC = "anatomy3d-cpu"
#: The tiny UniCT and its budget (every other training field from the defaults).
TRAIN_OVERRIDES = (
    "optim.epochs=2", "optim.batch_size=8", "optim.lr=1e-3", "optim.scheduler=cosine",
    "runtime.progress=false", "runtime.bf16=false", "unict.encoder=volume3d",
    "unict.backbone3d=resnet10_3d",
    "unict.backbone3d_kwargs={width: 4}", "unict.dim=32", "unict.heads=2",
    "unict.slice_window=3", "unict.cls_latents=2", "unict.report_latents=4",
    "unict.seg_embed=8", "unict.seg_upsample=3",
    "unict.decoder={width: 32, layers: 1, heads: 2, max_len: 160}",
)


@dataclass
class UniCTExample:
    """One test scan as the demo's UniCT sees it: its reports and the mask overlay PNGs (on the
    reference's largest slice; on the predicted mask's largest slice, None if it is empty)."""

    run: Path
    scan_id: str
    category: str
    generated: str
    reference: str
    overlay_png: Path
    predicted_png: Path | None = None


def report_manifest(manifest: Path, reports: Path) -> Path:
    """The manifest with each scan's ``report_text`` (from the phantom's ``reports.csv``),
    written beside it so its relative paths still hold."""
    table = pd.read_csv(manifest)
    texts = pd.read_csv(reports).set_index("AccessionNo")["report_text"]
    return write_csv_atomic(table.assign(report_text=table["scan_id"].map(texts)),
                            manifest.with_name(f"{manifest.stem}_reports.csv"))


def train_unict(
    manifest: Path, cache3d: Path, run: Path, seed: int, overrides: Sequence[str] = ()
) -> Path:
    """Train the tiny UniCT on the manifest's train split into ``run`` (``overrides`` after
    :data:`TRAIN_OVERRIDES`)."""
    from hyperct.tasks import CONVENTIONAL
    from hyperct.training import load_config, train

    tasks = ", ".join(t.name for t in CONVENTIONAL)  # the 18 CT-RATE findings
    cfg = load_config(None, [
        "method=unict", f"data.manifest={manifest}", f"data.cache3d={cache3d}",
        f"output_dir={run}", f"seed={seed}", f"tasks=[{tasks}]", *TRAIN_OVERRIDES, *overrides,
    ])
    train(cfg)
    return run


def predict_example(run: Path, manifest: Path, cache3d: Path, out: Path) -> UniCTExample:
    """The trained UniCT on the test scan with the largest reference finding mask: its report
    and its predicted mask of that scan's largest category, drawn on the slice where the
    reference has most voxels and on the one where the prediction has most."""
    import torch

    from hyperct.evaluation.plots import save_png
    from hyperct.explain.overlay import axial_mask_figure, pick_slices
    from hyperct.inference.scan_outputs import MASK_THRESHOLD
    from hyperct.inference.predict import load_trained_model, split_dataset
    from hyperct.models.report.generate import GenerationConfig

    table = pd.read_csv(manifest)
    dataset = split_dataset(table, cache3d, "test")
    index, channel = _largest_finding(dataset)
    item = dataset[index]
    model, _ = load_trained_model(run, device="cpu")
    with torch.inference_mode():
        pred = model.predict(item["image"].unsqueeze(0), None,
                             GenerationConfig(max_tokens=model.report_decoder.max_len))
    category = dataset.finding_channels[channel]
    predicted = pred.mask_probabilities[0, channel].numpy() >= MASK_THRESHOLD
    reference = item["findings_mask"][channel].numpy().astype(bool)
    scan_id = str(item["scan_id"])
    image, title = item["image"][0].numpy(), f"{scan_id}: {category}"
    png = save_png(axial_mask_figure(image, predicted, reference, title, window=(-1.0, 1.0)),
                   out / f"{scan_id}_mask.png")
    predicted_png = None
    if predicted.any():
        at = pick_slices(predicted.astype(float), count=1)[0]
        predicted_png = save_png(
            axial_mask_figure(image, predicted, reference, title, window=(-1.0, 1.0), at=at),
            out / f"{scan_id}_mask_predicted_slice.png")
    texts = table.set_index("scan_id")["report_text"]
    return UniCTExample(run, scan_id, category, pred.reports[0], str(texts[scan_id]), png,
                        predicted_png)


def _largest_finding(dataset) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(scan index, channel) of the largest reference finding mask among the scans."""
    best, where = -1, (0, 0)
    for index in range(len(dataset)):
        item = dataset[index]
        if not bool(item["has_findings_mask"]):
            continue
        sizes = item["findings_mask"].flatten(1).sum(1)
        channel = int(sizes.argmax())
        if int(sizes[channel]) > best:
            best, where = int(sizes[channel]), (index, channel)
    if best <= 0:
        raise RuntimeError("no test scan has a finding mask to show")
    return where


def example_section(example: UniCTExample) -> html.Section:
    """The report section: generated report beside the reference, the mask overlay below."""
    from hyperct.evaluation.plots import png_base64

    cells = "".join(
        f"<td class=name style='width:50%;white-space:pre-wrap'>{html.escape(text)}</td>"
        for text in (example.generated, example.reference))
    body = (
        f"<p class=note>Test scan {html.escape(example.scan_id)}, tiny UniCT trained by the demo "
        f"({html.escape(str(example.run))}): the synthetic cohort is small and the training "
        "short, so the report and the mask show what the model writes, not how good UniCT can "
        "be.</p><table><tr><th class=name>generated report</th><th class=name>reference "
        f"report</th></tr><tr>{cells}</tr></table>"
        + html.figure(png_base64(example.overlay_png),
                      f"predicted {example.category} mask (fill) and the reference (outline) on "
                      "the slice where the reference is largest")
        + (html.figure(png_base64(example.predicted_png),
                       "the same on the slice where the predicted mask is largest")
           if example.predicted_png is not None
           else "<p class=note>The predicted mask is empty at this threshold.</p>")
    )
    return html.Section("UniCT: generated report and predicted mask", body, "unict")

