"""Anatomy supervision on a small synthetic cohort: 3D ResNet-18 with and without the aux loss.

"Scaling Supervision for Free" (MIDL 2025) reports that a segmentation loss on TotalSegmentator
masks improves 3D CT classifiers. This benchmark repeats the comparison at toy scale: phantom
scans (``hyperct phantom``) with TotalSegmentator-id masks, the paper's 3D recipe on a tiny grid
(SpacingCropSpec, AdamW wd 1e-4, cosine, clip 5), a narrow ResNet-18, a few epochs, several
seeds; test AUC with bootstrap CIs and a paired bootstrap test, and the training-time overhead of
the head per step. Run: ``.venv/bin/python -m benchmarks.anatomy [--cohort DIR] [--n 48]``.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.record import median_time, save_result
from hyperct.anatomy.masks import read_totalseg
from hyperct.anatomy.totalseg import CHEST_LOBES_HEART
from hyperct.anatomy.train3d import Classifier3DObjective, Train3DConfig, make_optimizer
from hyperct.evaluation.bootstrap import BootstrapConfig, auc_confidence_table, paired_difference_table
from hyperct.evaluation.predictions import predictions_from_arrays
from hyperct.io.read import read_ct
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.preprocess.pipeline import preprocess_mask, preprocess_volume, to_model_input
from hyperct.preprocess.spec import SpacingCropSpec
from hyperct.tasks import TASK_NAMES
from hyperct.training.loop import LoopContext, train_one_epoch

logger = logging.getLogger("benchmarks.anatomy")

#: Tiny version of the paper's grid (paper: 120 x 240 x 240 padded, 96 x 192 x 192 crops).
SPEC = SpacingCropSpec(
    spacing_zyx=(8.0, 8.0, 8.0), pad_shape_zyx=(40, 48, 48), crop_shape_zyx=(32, 40, 40)
)


@dataclass
class Cohort:
    """Cached grids, masks and labels of every scan, by split."""

    scan_ids: list[str]
    splits: np.ndarray
    cohorts: np.ndarray
    labels: np.ndarray
    grids: list[np.ndarray]
    masks: list[np.ndarray]


def make_cohort(out: Path, n: int) -> Path:
    """Generate a phantom cohort with ``hyperct phantom``; returns its folder."""
    cmd = [sys.executable, "-m", "hyperct.cli.main", "phantom", "--preset", "small", "--n", str(n), "--out", str(out)]
    subprocess.run(cmd, check=True)
    return out


def load_cohort(folder: Path) -> Cohort:
    """Read every scan and its anatomy mask onto the tiny grid (small label ids)."""
    manifest_path = next(p for p in sorted(folder.glob("manifest.*")) if p.suffix in (".csv", ".parquet"))
    table = pd.read_parquet(manifest_path) if manifest_path.suffix == ".parquet" else pd.read_csv(manifest_path)
    grids, masks = [], []
    for row in table.itertuples():
        ct = read_ct(folder / row.path)
        mask_path = getattr(row, "anatomy_path", None)
        mask_path = folder / (mask_path if isinstance(mask_path, str) else f"masks/{row.scan_id}_anatomy.nii.gz")
        grids.append(preprocess_volume(ct, SPEC))
        masks.append(preprocess_mask(read_totalseg(mask_path, CHEST_LOBES_HEART, like=ct), SPEC))
    return Cohort(
        scan_ids=table["scan_id"].astype(str).tolist(),
        splits=table["split"].to_numpy(),
        cohorts=table["cohort"].to_numpy(),
        labels=table[list(TASK_NAMES)].to_numpy(dtype=np.float32),
        grids=grids,
        masks=masks,
    )


def batches(cohort: Cohort, idx: np.ndarray, batch_size: int, rng: np.random.Generator, train: bool):
    """Collated batches over ``idx`` (shuffled and randomly cropped when training)."""
    order = rng.permutation(idx) if train else idx
    for start in range(0, len(order), batch_size):
        items = [
            to_model_input(cohort.grids[i], SPEC, train=train, rng=rng, mask=cohort.masks[i])
            for i in order[start : start + batch_size]
        ]
        yield {
            "image": torch.stack([it["image"] for it in items]),
            "anatomy": torch.stack([it["anatomy"] for it in items]),
            "labels": torch.from_numpy(cohort.labels[order[start : start + batch_size]]),
        }


def build_model(seg: bool, width: int, seed: int) -> Classifier3D:
    torch.manual_seed(seed)
    return Classifier3D(
        Classifier3DConfig(
            backbone="resnet18_3d",
            backbone_kwargs={"width": width},
            num_seg_classes=CHEST_LOBES_HEART.num_classes if seg else None,
        )
    )


def train_and_predict(cohort: Cohort, seg: bool, seed: int, args: argparse.Namespace) -> np.ndarray:
    """Train one model; sigmoid probabilities (test scans, 25)."""
    model = build_model(seg, args.width, seed)
    config = Train3DConfig(lr=args.lr, epochs=args.epochs)
    objective = Classifier3DObjective(range(len(TASK_NAMES)), config)
    optimizer, scheduler = make_optimizer(model, config)
    ctx = LoopContext(device=torch.device("cpu"), params=list(model.parameters()), max_grad_norm=config.max_grad_norm, progress=False)
    rng = np.random.default_rng(seed)
    train_idx = np.flatnonzero(cohort.splits == "train")
    for _ in range(config.epochs):
        train_one_epoch(model, batches(cohort, train_idx, args.batch_size, rng, True), objective, optimizer, ctx)
        scheduler.step()
    model.eval()
    test_idx = np.flatnonzero(cohort.splits == "test")
    with torch.no_grad():
        logits = [model(b["image"]) for b in batches(cohort, test_idx, args.batch_size, rng, False)]
    return torch.sigmoid(torch.cat(logits)).numpy()


def step_seconds(cohort: Cohort, seg: bool, args: argparse.Namespace) -> float:
    """Median wall time of one training step (forward, losses, backward, AdamW)."""
    model = build_model(seg, args.width, 0)
    config = Train3DConfig(lr=args.lr, epochs=1)
    objective = Classifier3DObjective(range(len(TASK_NAMES)), config)
    optimizer, _ = make_optimizer(model, config)
    idx = np.flatnonzero(cohort.splits == "train")[: args.batch_size]
    batch = next(batches(cohort, idx, args.batch_size, np.random.default_rng(0), True))

    def step() -> None:
        objective.backward(model, batch, 1.0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return median_time(step, repeats=args.timing_repeats, warmup=1)[0]


def compare(cohort: Cohort, args: argparse.Namespace) -> tuple[list[dict], str]:
    test = cohort.splits == "test"
    frames = []
    for seed in range(args.seeds):
        for seg in (False, True):
            start = time.perf_counter()
            probs = train_and_predict(cohort, seg, seed, args)
            logger.info("seed %d seg=%s trained in %.0f s", seed, seg, time.perf_counter() - start)
            frames.append(predictions_from_arrays(
                scan_ids=np.asarray(cohort.scan_ids)[test], cohorts=cohort.cohorts[test],
                splits=cohort.splits[test], labels=cohort.labels[test].astype(np.int8), probs=probs,
                method="resnet18_3d+anatomy" if seg else "resnet18_3d", run=f"seed{seed}",
            ))
    preds = pd.concat(frames, ignore_index=True)
    boot = BootstrapConfig(n_resamples=1000, seed=0)
    ci = auc_confidence_table(preds, boot)
    overall = ci[ci["level"] == "overall"]
    metrics, lines = [], []
    for row in overall.itertuples():
        metrics.append({
            "metric": f"test mean AUC, {row.method}, {row.run}", "value": round(row.auc, 4), "unit": "AUC",
            "ci_low": round(row.ci_low, 4), "ci_high": round(row.ci_high, 4), "n_scans": int(row.n_scans),
            "goal": None, "anchor": None, "met": None,
        })
    for seed in range(args.seeds):
        diff = paired_difference_table(preds, ("resnet18_3d", f"seed{seed}"), ("resnet18_3d+anatomy", f"seed{seed}"), boot)
        row = diff[diff["level"] == "overall"].iloc[0]
        metrics.append({
            "metric": f"test mean AUC difference (anatomy - none), seed{seed}", "value": round(float(row["difference"]), 4),
            "unit": "AUC", "ci_low": round(float(row["ci_low"]), 4), "ci_high": round(float(row["ci_high"]), 4),
            "p_value": round(float(row["p_value"]), 4), "goal": None, "anchor": None, "met": None,
        })
        lines.append(f"seed{seed}: diff {row['difference']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] p={row['p_value']:.3f}")
    return metrics, "; ".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, help="existing phantom cohort folder (default: generate one)")
    parser.add_argument("--n", type=int, default=48, help="scans to generate")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--width", type=int, default=16, help="ResNet-18 first-stage width (64 standard)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--timing-repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.cohort or make_cohort(Path(tmp) / "cohort", args.n)
        cohort = load_cohort(folder)
    counts = {s: int((cohort.splits == s).sum()) for s in ("train", "val", "test")}
    logger.info("cohort: %s scans, grid %s", counts, SPEC.crop_shape_zyx)
    t_plain, t_seg = step_seconds(cohort, False, args), step_seconds(cohort, True, args)
    metrics, diff_text = compare(cohort, args)
    metrics += [
        {"metric": "train step, no aux head", "value": round(t_plain, 4), "unit": "s", "goal": None, "anchor": None, "met": None},
        {"metric": "train step, with aux head", "value": round(t_seg, 4), "unit": "s", "goal": None, "anchor": None, "met": None},
        {"metric": "aux head overhead per step", "value": round(100 * (t_seg / t_plain - 1), 1), "unit": "%", "goal": None, "anchor": None, "met": None},
    ]
    notes = (
        f"Phantom cohort {counts}, grid {SPEC.crop_shape_zyx} (crop of {SPEC.pad_shape_zyx} at 8 mm), "
        f"ResNet-18 width {args.width}, batch {args.batch_size}, {args.epochs} epochs, lr {args.lr}, "
        f"{args.seeds} seeds, batch {args.batch_size}; label set {CHEST_LOBES_HEART.name}. "
        f"Paired bootstrap (1000) of test mean AUC, anatomy - none: {diff_text}. "
        "Toy scale: differences whose CI spans 0 are noise, not evidence either way."
    )
    path = save_result("anatomy", metrics, notes)
    logger.info("saved %s", path)


if __name__ == "__main__":
    main()
