"""Saliency localisation on the synthetic cohort: does Grad-CAM point at the drawn finding?

Run: ``.venv/bin/python -m benchmarks.saliency``. Generates a small phantom cohort (its
findings masks say where each conventional finding was drawn), trains a tiny HyperCT briefly on
the conventional tasks (CPU), then for every held-out scan and every finding present in it
compares the task's Grad-CAM map with the finding's mask: share of saliency mass inside the mask
vs the mask's volume fraction (ratio 1 = chance) and the pointing game. The same is measured for
the untrained model (same architecture and seed) as a control.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.cohorts import true_label_manifest
from benchmarks.record import save_result
from hyperct.explain.api import explain_volume
from hyperct.explain.overlap import saliency_overlap
from hyperct.io.read import read_ct, read_mask
from hyperct.preprocess import SliceStackSpec
from hyperct.tasks import CONVENTIONAL

logger = logging.getLogger(__name__)

N_SCANS, EPOCHS, SEED = 80, 12, 0
BODY_HU = -950.0  # inside the patient (lungs included), outside air excluded
SPEC = SliceStackSpec(slices=48, size=64)
MODEL = {
    "backbone": "dinov3-tiny",
    "backbone_overrides": {"patch_size": 8, "image_size": 64},
    "rank": 4,
    "task_dim": 16,
    "module_dim": 8,
    "latent_dim": 16,
    "hyper_output_dim": 32,
}


def _cohort(root: Path) -> Path:
    from hyperct.data.prepare import prepare_cache
    from hyperct.phantom.config import PhantomConfig

    labelled = true_label_manifest(
        PhantomConfig(n=N_SCANS, seed=SEED, preset="small", dicom_fraction=0.0, workers=1),
        root / "cohort",
        [task.name for task in CONVENTIONAL],
    )
    prepare_cache(labelled, SPEC, root / "cache", progress=False)
    return labelled


def _train(manifest: Path, root: Path) -> tuple[torch.nn.Module, torch.nn.Module, float]:
    from hyperct.training import train
    from hyperct.config.run import config_from_dict
    from hyperct.models.build import build_model
    from hyperct.inference.predict import load_trained_model

    cfg = config_from_dict(
        {
            "method": "hyperct",
            "output_dir": str(root / "run"),
            "seed": SEED,
            "tasks": [t.name for t in CONVENTIONAL],
            "model": MODEL,
            "data": {
                "manifest": str(manifest),
                "cache": str(root / "cache"),
                "train_cohort": "internal",
            },
            "optim": {"lr": 1e-3, "epochs": EPOCHS, "batch_size": 8, "step_size": EPOCHS},
            "runtime": {"bf16": False, "progress": False, "device": "cpu"},
        }
    )
    start = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - start
    trained, _ = load_trained_model(root / "run", device="cpu")
    torch.manual_seed(SEED)
    untrained = build_model(cfg).eval()
    logger.info(
        "trained %d epochs in %.0f s, val mean AUC %.3f", EPOCHS, seconds, result.best_metric
    )
    return trained, untrained, float(result.best_metric)


def _overlaps(manifest: Path, models: dict[str, torch.nn.Module]) -> pd.DataFrame:
    """One row per (held-out scan, finding present, model): overlap with the whole volume and
    with the body (HU > BODY_HU) as the chance level."""
    table = pd.read_csv(manifest)
    rows = []
    for _, scan in table[table["split"] != "train"].iterrows():
        volume = read_ct(manifest.parent / scan["path"])
        bits = read_mask(manifest.parent / scan["findings_mask_path"], like=volume).array
        body = volume.array > BODY_HU
        for task in CONVENTIONAL:
            mask = ((bits.astype(np.int64) >> task.id) & 1).astype(bool)
            if scan[task.name] != 1 or not mask.any():
                continue
            for name, model in models.items():
                saliency = explain_volume(model, volume, SPEC, task.name).saliency.array
                whole = saliency_overlap(saliency, mask)
                inside = saliency_overlap(saliency, mask, region=body)
                rows.append(
                    {
                        "scan_id": scan["scan_id"],
                        "task": task.name,
                        "model": name,
                        **whole.as_dict(),
                        "body_fraction": inside.mask_fraction,
                        "body_ratio": inside.ratio,
                    }
                )
    return pd.DataFrame(rows)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="hyperct_saliency_") as tmp:
        root = Path(tmp)
        manifest = _cohort(root)
        trained, untrained, val_auc = _train(manifest, root)
        overlaps = _overlaps(manifest, {"trained": trained, "untrained": untrained})
    summary = overlaps.groupby("model").agg(
        pairs=("ratio", "size"),
        mass_in_mask=("mass_in_mask", "mean"),
        mask_fraction=("mask_fraction", "mean"),
        ratio_median=("ratio", "median"),
        body_ratio_median=("body_ratio", "median"),
        pointing_game=("pointing_hit", "mean"),
    )
    per_task = overlaps[overlaps["model"] == "trained"].groupby("task")["body_ratio"].median()
    metrics = []
    for model, row in summary.iterrows():
        metrics += [
            {
                "metric": f"{model}: saliency mass in finding mask / mask share of the body (median)",
                "value": round(float(row["body_ratio_median"]), 3),
                "unit": "x chance",
                "goal": "> 1",
                "anchor": None,
                "met": bool(row["body_ratio_median"] > 1),
                "pairs": int(row["pairs"]),
                "mass_in_mask": round(float(row["mass_in_mask"]), 4),
            },
            {
                "metric": f"{model}: same, chance = mask share of the whole volume (median)",
                "value": round(float(row["ratio_median"]), 3),
                "unit": "x chance",
                "goal": None,
                "anchor": None,
                "met": None,
                "mask_fraction": round(float(row["mask_fraction"]), 4),
            },
            {
                "metric": f"{model}: pointing game (saliency maximum inside the mask)",
                "value": round(float(row["pointing_game"]), 3),
                "unit": "hit rate",
                "goal": None,
                "anchor": None,
                "met": None,
            },
        ]
    metrics.append(
        {
            "metric": "trained model: best val mean AUC (conventional tasks)",
            "value": round(val_auc, 3),
            "unit": "AUC",
            "goal": None,
            "anchor": None,
            "met": None,
            "per_task_median_body_ratio": per_task.round(3).to_dict(),
        }
    )
    notes = (
        f"phantom cohort n={N_SCANS} (preset small, seed {SEED}); tiny HyperCT (dinov3-tiny, "
        f"patch 8, 64x64 images, 16 triplets), {EPOCHS} epochs on the internal train split, "
        "CPU; Grad-CAM block -2; pairs = (held-out scan, finding present with a non-empty mask). "
        "The untrained control has random backbone weights and zero LoRA."
    )
    path = save_result("saliency", metrics, notes)
    logger.info("%s\nsaved %s", summary.to_string(), path)


if __name__ == "__main__":
    main()
