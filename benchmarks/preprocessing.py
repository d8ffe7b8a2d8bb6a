"""Preprocessing speed: a synthetic 512 x 512 x 300 int16 CT to the paper spec, and Dataset reads.

Run: ``.venv/bin/python -m benchmarks.preprocessing [--scans N]``. Measures (median of repeats):
preprocess_volume alone on one thread, read_ct of the .nii.gz, prepare_cache end to end with
1 and 2 worker processes, and CachedScanDataset throughput from a paper-spec cache.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.record import median_time, save_result
from hyperct.data.cache import ScanCache
from hyperct.data.dataset import CachedScanDataset
from hyperct.data.prepare import prepare_cache
from hyperct.io.read import read_ct
from hyperct.io.volume import Volume
from hyperct.io.write import write_dicom_series, write_nifti
from hyperct.preprocess import SliceStackSpec, preprocess_volume
from hyperct.tasks import TASK_NAMES

SHAPE = (300, 512, 512)
SPACING = (1.0, 0.7, 0.7)


def synthetic_chest(seed: int) -> Volume:
    """Air, an elliptic body, two lungs, noise: compresses and reads like a real CT."""
    rng = np.random.default_rng(seed)
    _, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    body = ((y - 256) / 200.0) ** 2 + ((x - 256) / 230.0) ** 2 < 1
    lungs = (((y - 240) / 130.0) ** 2 + ((np.abs(x - 256) - 110) / 80.0) ** 2) < 1
    slice_hu = np.where(body, 40, -1000) + np.where(body & lungs, -890, 0)
    noise = rng.normal(0, 15, SHAPE).astype(np.float32)
    array = (np.broadcast_to(slice_hu, SHAPE) + noise).astype(np.int16)
    affine = np.array([[0, 0, -0.7, 180], [0, -0.7, 0, 180], [1.0, 0, 0, -150], [0, 0, 0, 1]])
    return Volume(array, SPACING, affine)


def _manifest(folder: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        path = folder / f"scan{i}.nii.gz"
        if not path.exists():
            write_nifti(synthetic_chest(i), path)
        row = {
            "scan_id": f"s{i}",
            "patient_id": f"p{i}",
            "path": path.name,
            "cohort": "bench",
            "split": "train",
        }
        rows.append(row | {t: -1 for t in TASK_NAMES})
    out = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def bench_single(folder: Path) -> list[dict]:
    torch.set_num_threads(1)
    path = write_nifti(synthetic_chest(100), folder / "single.nii.gz")
    read_s, _ = median_time(lambda: read_ct(path), repeats=3)
    series = write_dicom_series(read_ct(path), folder / "series")
    dicom_s, _ = median_time(lambda: read_ct(series), repeats=2)
    volume = read_ct(path)
    pre_s, _ = median_time(lambda: preprocess_volume(volume, SliceStackSpec()), repeats=5)
    return [
        _row(
            "preprocess_volume_paper_spec",
            pre_s,
            "s/scan",
            "<= 2 s per scan per core",
            pre_s <= 2.0,
        ),
        _row("read_ct_nifti_gz", read_s, "s/scan", None, None),
        _row("read_ct_dicom_series_300_files", dicom_s, "s/scan", None, None),
        _row(
            "read_plus_preprocess",
            read_s + pre_s,
            "s/scan",
            "<= 2 s per scan per core",
            read_s + pre_s <= 2.0,
        ),
    ]


def bench_prepare(folder: Path, n: int) -> list[dict]:
    manifest = _manifest(folder, n)
    rows = []
    for workers in (1, 2):
        times = []
        for rep in range(2):
            out = folder / f"cache_w{workers}_{rep}"
            start = time.perf_counter()
            report = prepare_cache(manifest, "paper", out, workers=workers, progress=False)
            times.append(time.perf_counter() - start)
            if not report.ok:
                raise RuntimeError(f"prepare failed: {report.failed}")
        wall = float(np.median(times))
        rows.append(
            _row(
                f"prepare_{workers}_worker_seconds_per_scan",
                wall / n,
                "s/scan",
                "<= 2 s per scan per core",
                wall / n * workers <= 2.0,
                workers=workers,
                scans=n,
            )
        )
        rows.append(
            _row(
                f"prepare_{workers}_worker_scans_per_min",
                60 * n / wall,
                "scans/min",
                None,
                None,
                workers=workers,
            )
        )
    return rows


def bench_dataset(folder: Path, n: int = 40) -> list[dict]:
    cache = ScanCache(folder / "ds_cache")
    cache.root.mkdir(parents=True, exist_ok=True)
    spec = SliceStackSpec()
    cache.init_spec(spec)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        cache.save(f"s{i}", rng.integers(-1000, 1000, spec.grid_shape, dtype=np.int16))
        rows.append(
            {
                "scan_id": f"s{i}",
                "patient_id": f"p{i}",
                "path": "x",
                "cohort": "b",
                "split": "train",
            }
            | {t: 0 for t in TASK_NAMES}
        )
    ds = CachedScanDataset(pd.DataFrame(rows), cache.root)
    seconds, _ = median_time(lambda: [ds[i] for i in range(len(ds))], repeats=3)
    rate = n / seconds
    return [
        _row(
            "dataset_cached_scans_per_s",
            rate,
            "scans/s",
            ">= 50 cached scans/s",
            rate >= 50,
            threads=torch.get_num_threads(),
        )
    ]


def _row(
    metric: str, value: float, unit: str, goal: str | None, met: bool | None, **extra: object
) -> dict:
    return {
        "metric": metric,
        "value": round(float(value), 4),
        "unit": unit,
        "goal": goal,
        "anchor": None,
        "met": met,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scans", type=int, default=4, help="NIfTI files pushed through prepare_cache"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        metrics = bench_single(folder) + bench_dataset(folder) + bench_prepare(folder, args.scans)
    load = f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after. "
    notes = (
        f"Synthetic {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} int16 chest-like CT (.nii.gz) to SliceStackSpec 165x144x144. "
        "preprocess alone on 1 torch thread; prepare_cache end to end (read .nii.gz, resize, atomic .npy write) "
        "with spawn workers of 1 thread each, median of 2 runs; Dataset: 40 cached paper-spec grids served with "
        "window+ImageNet norm+packing, median of 3 passes. The 2-core machine was shared with other jobs: "
        + load
    )
    path = save_result("preprocessing", metrics, notes)
    for m in metrics:
        logging.getLogger("benchmarks.preprocessing").warning(
            "%s = %s %s (met: %s)", m["metric"], m["value"], m["unit"], m["met"]
        )
    logging.getLogger("benchmarks.preprocessing").warning("saved %s", path)


if __name__ == "__main__":
    main()
