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
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.record import median_time, save_result
from torch.utils.data import DataLoader

from hyperct.anatomy.segment import segment_manifest
from hyperct.anatomy.totalseg import CHEST_LOBES_HEART
from hyperct.anatomy.train3d import (
    Classifier3DObjective,
    Train3DConfig,
    make_optimizer,
    train_classifier3d,
)
from hyperct.data.dataset import CachedScanDataset, collate_scans
from hyperct.data.manifest import read_table, write_manifest
from hyperct.data.prepare import prepare_cache
from hyperct.evaluation.bootstrap import (
    BootstrapConfig,
    auc_confidence_table,
    paired_difference_table,
)
from hyperct.evaluation.predictions import predictions_from_arrays
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.preprocess.spec import SpacingCropSpec
from hyperct.tasks import TASK_NAMES

logger = logging.getLogger("benchmarks.anatomy")

#: Tiny version of the paper's grid (paper: 120 x 240 x 240 padded, 96 x 192 x 192 crops).
SPEC = SpacingCropSpec(
    spacing_zyx=(6.0, 6.0, 6.0), pad_shape_zyx=(56, 64, 64), crop_shape_zyx=(48, 56, 56)
)


def make_cohort(out: Path, n: int) -> Path:
    """Generate a phantom cohort with ``hyperct phantom``; returns its folder."""
    cmd = [
        sys.executable,
        "-c",
        "from hyperct.cli.main import main; main()",
        "phantom",
        "--preset",
        "small",
        "--n",
        str(n),
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def prepare(folder: Path, work: Path) -> tuple[Path, Path]:
    """Copy the manifest (absolute paths, the phantom's true labels) to ``work``, record the
    phantom's masks as ``anatomy_path`` with ``segment_manifest`` (no TotalSegmentator run: they
    exist), and cache the scans and masks on the tiny grid."""
    source = next(p for p in sorted(folder.glob("manifest.*")) if p.suffix in (".csv", ".parquet"))
    table = read_table(source)
    table["path"] = [str((folder / p).resolve()) for p in table["path"]]
    table = table.drop(columns=["anatomy_path"], errors="ignore")
    truth = folder / "ground_truth.csv"
    if truth.is_file():  # phantom manifests leave labels to curation; use the true labels
        true = read_table(truth).set_index("scan_id")
        for task in TASK_NAMES:
            table[task] = table["scan_id"].map(true[task])
    manifest = work / "manifest.csv"
    write_manifest(table, manifest)
    segment_manifest(manifest, out_dir=folder / "masks")
    prepare_cache(manifest, SPEC, work / "cache", progress=False)
    return manifest, work / "cache"


def loader(
    manifest: Path, cache: Path, split: str, batch_size: int, seed: int, train: bool
) -> DataLoader:
    dataset = CachedScanDataset(manifest, cache, split=split, train=train, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        collate_fn=collate_scans,
        generator=torch.Generator().manual_seed(seed),
    )


def build_model(seg: bool, width: int, seed: int) -> Classifier3D:
    torch.manual_seed(seed)
    return Classifier3D(
        Classifier3DConfig(
            backbone="resnet18_3d",
            backbone_kwargs={"width": width},
            num_seg_classes=CHEST_LOBES_HEART.num_classes if seg else None,
        )
    )


def train_and_predict(
    data: tuple[Path, Path], seg: bool, seed: int, args: argparse.Namespace
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Train one model; test scan ids, labels and sigmoid probabilities (scans, 25)."""
    model = build_model(seg, args.width, seed)
    config = Train3DConfig(lr=args.lr, epochs=args.epochs, totalseg_targets=CHEST_LOBES_HEART)
    train = loader(*data, "train", args.batch_size, seed, True)

    def epoch_batches(epoch: int) -> DataLoader:
        train.dataset.set_epoch(epoch)
        return train

    train_classifier3d(model, epoch_batches, config)
    model.eval()
    ids, labels, probs = [], [], []
    with torch.no_grad():
        for batch in loader(*data, "test", args.batch_size, seed, False):
            ids += batch["scan_id"]
            labels.append(batch["labels"].numpy())
            probs.append(torch.sigmoid(model(batch["image"])).numpy())
    return ids, np.concatenate(labels).astype(np.int8), np.concatenate(probs)


def step_seconds(data: tuple[Path, Path], seg: bool, args: argparse.Namespace) -> float:
    """Median wall time of one training step (forward, losses, backward, clipping, AdamW)."""
    model = build_model(seg, args.width, 0)
    config = Train3DConfig(lr=args.lr, epochs=1, totalseg_targets=CHEST_LOBES_HEART)
    objective = Classifier3DObjective(range(len(TASK_NAMES)), config)
    optimizer, _ = make_optimizer(model, config)
    batch = next(iter(loader(*data, "train", args.batch_size, 0, True)))

    def step() -> None:
        objective.backward(model, batch, 1.0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return median_time(step, repeats=args.timing_repeats, warmup=1)[0]


def compare(data: tuple[Path, Path], args: argparse.Namespace) -> tuple[list[dict], str]:
    frames = []
    for seed in range(args.seeds):
        for seg in (False, True):
            start = time.perf_counter()
            ids, labels, probs = train_and_predict(data, seg, seed, args)
            logger.info("seed %d seg=%s trained in %.0f s", seed, seg, time.perf_counter() - start)
            frames.append(
                predictions_from_arrays(
                    scan_ids=ids,
                    cohorts=["phantom"] * len(ids),
                    splits=["test"] * len(ids),
                    labels=labels,
                    probs=probs,
                    method="resnet18_3d+anatomy" if seg else "resnet18_3d",
                    run=f"seed{seed}",
                )
            )
    preds = pd.concat(frames, ignore_index=True)
    boot = BootstrapConfig(n_resamples=1000, seed=0)
    overall = auc_confidence_table(preds, boot).query("level == 'overall'")
    metrics, lines = [], []
    for row in overall.itertuples():
        metrics.append(
            {
                "metric": f"test mean AUC, {row.method}, {row.run}",
                "value": round(row.auc, 4),
                "unit": "AUC",
                "ci_low": round(row.ci_low, 4),
                "ci_high": round(row.ci_high, 4),
                "n_scans": int(row.n_scans),
                "goal": None,
                "anchor": None,
                "met": None,
            }
        )
    for seed in range(args.seeds):
        diff = paired_difference_table(
            preds, ("resnet18_3d", f"seed{seed}"), ("resnet18_3d+anatomy", f"seed{seed}"), boot
        )
        row = diff[diff["level"] == "overall"].iloc[0]
        metrics.append(
            {
                "metric": f"test mean AUC difference (anatomy - none), seed{seed}",
                "value": round(float(row["difference"]), 4),
                "unit": "AUC",
                "ci_low": round(float(row["ci_low"]), 4),
                "ci_high": round(float(row["ci_high"]), 4),
                "p_value": round(float(row["p_value"]), 4),
                "goal": None,
                "anchor": None,
                "met": None,
            }
        )
        lines.append(
            f"seed{seed}: {row['difference']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] p={row['p_value']:.3f}"
        )
    return metrics, "; ".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cohort", type=Path, help="existing phantom cohort folder (default: generate one)"
    )
    parser.add_argument("--n", type=int, default=240, help="scans to generate")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--width", type=int, default=16, help="ResNet-18 first-stage width (64 standard)"
    )
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--timing-repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = args.cohort or make_cohort(work / "cohort", args.n)
        data = prepare(folder, work)
        table = read_table(data[0])
        counts = {s: int((table["split"] == s).sum()) for s in ("train", "val", "test")}
        logger.info("cohort: %s scans, grid %s", counts, SPEC.crop_shape_zyx)
        t_plain, t_seg = step_seconds(data, False, args), step_seconds(data, True, args)
        metrics, diff_text = compare(data, args)
    metrics += [
        {
            "metric": "train step, no aux head",
            "value": round(t_plain, 4),
            "unit": "s",
            "goal": None,
            "anchor": None,
            "met": None,
        },
        {
            "metric": "train step, with aux head",
            "value": round(t_seg, 4),
            "unit": "s",
            "goal": None,
            "anchor": None,
            "met": None,
        },
        {
            "metric": "aux head overhead per step",
            "value": round(100 * (t_seg / t_plain - 1), 1),
            "unit": "%",
            "goal": None,
            "anchor": None,
            "met": None,
        },
    ]
    notes = (
        f"Phantom cohort {counts}, grid {SPEC.crop_shape_zyx} (crop of {SPEC.pad_shape_zyx} at {SPEC.spacing_zyx[0]:g} mm), "
        f"ResNet-18 width {args.width}, batch {args.batch_size}, {args.epochs} epochs, lr {args.lr}, "
        f"{args.seeds} seeds; label set {CHEST_LOBES_HEART.name}; labels: the phantom's true labels. "
        f"Paired bootstrap (1000) of test mean AUC, anatomy - none: {diff_text}. "
        "Toy scale: differences whose CI spans 0 are noise, not evidence either way."
    )
    path = save_result("anatomy", metrics, notes)
    logger.info("saved %s", path)


if __name__ == "__main__":
    main()
