"""Archive-scale batch work: prepare throughput with 1 and 2 workers, and the shard merge.

Run: ``.venv/bin/python -m benchmarks.batch_scale [--scans N] [--merge-scans M] [--parts K]``.
prepare_cache pushes N synthetic 512 x 512 x 300 CTs (.nii.gz) through the paper spec with 1
and with 2 worker processes (one thread each) and records scans/s; the merge joins K prediction
parts (the shards of M scans x 25 tasks, CSV) with ``merge_parts`` against the manifest and
writes the one table, recording its seconds.
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

from benchmarks.preprocessing import SHAPE, synthetic_chest
from benchmarks.record import save_result
from hyperct.data.prepare import prepare_cache
from hyperct.data.shard import Shard
from hyperct.inference.parts import merge_parts
from hyperct.inference.predictions import predictions_from_arrays, write_predictions
from hyperct.io.write import write_nifti
from hyperct.tasks import TASK_NAMES

logger = logging.getLogger("benchmarks.batch_scale")


def _manifest(folder: Path, n: int, write_scans: bool) -> Path:
    rows = []
    for i in range(n):
        path = folder / f"scan{i}.nii.gz"
        if write_scans and not path.exists():
            write_nifti(synthetic_chest(i), path)
        rows.append({"scan_id": f"s{i}", "patient_id": f"p{i}", "path": path.name,
                     "cohort": "bench", "split": "test", **dict.fromkeys(TASK_NAMES, -1)})
    out = folder / f"manifest_{n}.csv"
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def bench_prepare(folder: Path, n: int) -> list[dict]:
    manifest = _manifest(folder, n, write_scans=True)
    rows, rates = [], {}
    for workers in (1, 2):
        start = time.perf_counter()
        report = prepare_cache(manifest, "paper", folder / f"cache_w{workers}", workers=workers,
                               progress=False)
        wall = time.perf_counter() - start
        if not report.ok:
            raise RuntimeError(f"prepare failed: {report.failed}")
        rates[workers] = n / wall
        rows.append(_row(f"prepare scans/s, {workers} worker(s)", rates[workers], "scans/s",
                         workers=workers, scans=n))
    rows.append(_row("prepare speed-up, 2 workers vs 1", rates[2] / rates[1], "x",
                     goal="> 1 (2 workers faster than 1)", met=rates[2] > rates[1]))
    return rows


def bench_merge(folder: Path, n: int, parts: int) -> list[dict]:
    manifest = _manifest(folder, n, write_scans=False)
    ids = [f"s{i}" for i in range(n)]
    rng = np.random.default_rng(0)
    table = predictions_from_arrays(
        scan_ids=ids, cohorts=["bench"] * n, splits=["test"] * n,
        labels=rng.integers(-1, 2, (n, len(TASK_NAMES))), probs=rng.random((n, len(TASK_NAMES))),
        method="hyperct", run="bench")
    files = []
    for i in range(parts):
        shard = Shard(i, parts)
        files.append(write_predictions(table[table["scan_id"].map(shard.holds)],
                                       folder / f"part{i}.csv"))
    start = time.perf_counter()
    merged = merge_parts(files, manifest=manifest)
    write_predictions(merged.table, folder / "predictions.csv")
    seconds = time.perf_counter() - start
    if merged.gaps or len(merged.table) != len(table):
        raise RuntimeError(f"merge lost rows: {len(merged.table)} of {len(table)}")
    return [_row(f"merge {parts} parts ({n} scans x 25 tasks) + write", seconds, "s",
                 scans=n, parts=parts, rows=len(table))]


def _row(metric: str, value: float, unit: str, goal: str | None = None, met: bool | None = None,
         **extra: object) -> dict:
    return {"metric": metric, "value": round(float(value), 4), "unit": unit, "goal": goal,
            "anchor": None, "met": met, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=8, help="CTs pushed through prepare_cache")
    parser.add_argument("--merge-scans", type=int, default=20000, help="scans of the merged table")
    parser.add_argument("--parts", type=int, default=4, help="prediction parts merged")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        metrics = (bench_prepare(Path(tmp), args.scans)
                   + bench_merge(Path(tmp), args.merge_scans, args.parts))
    notes = (
        f"Synthetic {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} int16 CTs (.nii.gz) to the paper spec, one "
        "prepare_cache run each with 1 and 2 spawn workers of one thread; merge: CSV parts split "
        f"by scan_id shard. 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (the machine is shared with other jobs)."
    )
    path = save_result("batch_scale", metrics, notes)
    for m in metrics:
        logger.warning("%s = %s %s", m["metric"], m["value"], m["unit"])
    logger.warning("saved %s", path)


if __name__ == "__main__":
    main()
