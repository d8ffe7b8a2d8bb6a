"""What adapting only the last K blocks costs in AUC and saves in all-task prediction time.

Trains HyperCT on the cohort, cache and stand-in backbone of a finished `hyperct demo` run, once
adapting every block and once per K, then compares test mean AUC (internal cohort) and the time
of `predict_all` (all 25 tasks) on the test scans. Run:

    python -m benchmarks.shared_trunk --demo-dir demo_output --ks 1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import torch

from benchmarks.record import median_time, save_result


def _train(demo: Path, k: int | None, out: Path):  # type: ignore[no-untyped-def]
    from hyperct.training import load_config
    from hyperct.training.runs import train

    cfg = load_config("demo", [
        f"data.manifest={demo / 'phantom' / 'manifest.csv'}", f"data.cache={demo / 'cache'}",
        f"output_dir={out}", "runtime.progress=false",
    ])
    model = {**cfg.model, "weights": str(demo / "pretrain" / "backbone"), "adapt_last_k": k}
    return train(dataclasses.replace(cfg, model=model)).run_dir


def _test_auc(run: Path) -> float:
    from hyperct.evaluation.metrics import group_means, task_metrics
    from hyperct.inference.predictions import read_predictions

    means = group_means(task_metrics(read_predictions(run / "predictions.csv")))
    row = means[(means["cohort"] == "internal") & (means["split"] == "test")
                & (means["name"] == "overall")]
    return float(row["auc"].iloc[0])


def _predict_seconds(run: Path, demo: Path, repeats: int = 3) -> float:
    from torch.utils.data import DataLoader

    from hyperct.data.dataset import CachedScanDataset, collate_scans
    from hyperct.inference.predict import load_trained_model

    model, _ = load_trained_model(run, "cpu")
    data = CachedScanDataset(demo / "phantom" / "manifest.csv", demo / "cache", split="test")
    batch = next(iter(DataLoader(data, batch_size=8, collate_fn=collate_scans)))
    with torch.no_grad():
        return median_time(lambda: model.predict_all(batch["image"], batch["image_mask"]),
                           repeats=repeats, warmup=1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-dir", type=Path, default=Path("demo_output"))
    parser.add_argument("--ks", default="1,2", help="Comma-separated numbers of adapted blocks.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in [None, *[int(x) for x in args.ks.split(",")]]:
            run = _train(args.demo_dir, k, Path(tmp) / f"k{k}")
            label = "all blocks" if k is None else f"last {k} block(s)"
            rows.append({"metric": f"internal test mean AUC, adapt {label}",
                         "value": _test_auc(run), "unit": "AUC", "goal": None, "anchor": None,
                         "met": None})
            rows.append({"metric": f"predict_all, 8 scans x 25 tasks, adapt {label}",
                         "value": _predict_seconds(run, args.demo_dir), "unit": "s",
                         "goal": None, "anchor": None, "met": None})
    save_result("shared_trunk", rows, notes=(
        "Demo preset (tiny DINOv3 stand-in, 3 blocks, 48 x 64 x 64 input) on the demo's synthetic "
        "cohort; one training run per setting, so AUC differences within a few points are noise."))


if __name__ == "__main__":
    main()
