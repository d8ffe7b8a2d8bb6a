"""Segmentation metric speed: Dice + instance matching for 100 scans of 256 x 256 x 160.

Goal (issue 15): <= 10 s for the 100 scans on one core. The masks are drawn once, before timing,
in ReXGroundingCT's proportions (1 to 4 findings per scan, mean 2.5; 8,028 findings on 3,142
scans): nodules (a few small spheres), consolidation / ground glass (one or two large
ellipsoids), pleural effusion (one large basal region) and diffuse disease (~150 small spots).
Predictions are imperfect on purpose: shifted and resized instances, missed instances and
20 false-positive speckles per finding scattered over the scan, since scattered speckles are
what makes connected-component counting expensive. Ten distinct scans are drawn and cycled to
make 100 (memory); each timed pass scores all 100. Reading masks from disk is timed apart (one
4-D .nii.gz pair), and so is the bootstrap summary of the 100 scans.

Run: ``python -m benchmarks.segmentation_metrics``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from benchmarks.record import median_time, save_result
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.segmentation import score_findings
from hyperct.evaluation.segmentation_files import score_mask_files
from hyperct.evaluation.segmentation_summary import findings_table, summary_table

SHAPE = (160, 256, 256)  # (z, y, x)
N_SCANS, N_DISTINCT = 100, 10
KINDS = ("nodules", "opacity", "effusion", "diffuse")
LUNG_BOX = (np.array([40, 60, 40]), np.array([150, 200, 216]))  # where instances are drawn


def _ball(mask: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> None:
    """Set an axis-aligned ellipsoid, computed in its own box only."""
    lo = np.maximum(np.floor(centre - radii).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radii).astype(int) + 1, SHAPE)
    if np.any(hi <= lo):
        return
    grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)) <= 1.0
    mask[tuple(slice(a, b) for a, b in zip(lo, hi))] |= inside


def _instances(kind: str, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(centre, radii) of the reference instances of one finding."""
    def centre() -> np.ndarray:
        return rng.uniform(LUNG_BOX[0], LUNG_BOX[1])

    if kind == "nodules":
        return [(centre(), np.full(3, rng.uniform(2, 8))) for _ in range(rng.integers(1, 5))]
    if kind == "opacity":
        return [(centre(), rng.uniform(8, 30, size=3)) for _ in range(rng.integers(1, 3))]
    if kind == "effusion":
        return [(np.array([130, 200, rng.choice([70, 186])]), np.array([25, 35, 45]))]
    return [(centre(), np.full(3, rng.uniform(1, 3))) for _ in range(150)]


def _finding(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ref, pred = np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)
    for c, r in _instances(kind, rng):
        _ball(ref, c, r)
        if rng.random() < 0.75:  # found, imperfectly
            _ball(pred, c + rng.normal(0, 0.3, 3) * r, r * rng.uniform(0.6, 1.3, 3))
    for _ in range(20):
        _ball(pred, rng.uniform(0, SHAPE), np.full(3, rng.uniform(0.8, 3)))
    return pred, ref


def _scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    kinds = list(rng.choice(KINDS, size=rng.choice([1, 2, 3, 4], p=[0.2, 0.3, 0.3, 0.2])))
    pairs = [_finding(k, rng) for k in kinds]
    return np.stack([p for p, _ in pairs]), np.stack([r for _, r in pairs]), kinds


def _read_time(pred: np.ndarray, ref: np.ndarray, kinds: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, masks in (("pred", pred), ("ref", ref)):
            path = Path(tmp) / f"{name}.nii.gz"
            nib.save(nib.Nifti1Image(masks.T.astype(np.uint8), np.eye(4)), str(path))
            paths.append(path)
        seconds, _ = median_time(lambda: score_mask_files(*paths, "s", kinds), repeats=3)
    return seconds


def _wall_and_cpu(fn: Callable[[], object], repeats: int = 3) -> tuple[float, float, list[float]]:
    """Median wall and process CPU seconds of ``fn()`` over ``repeats`` runs after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), wall


def main() -> None:
    rng = np.random.default_rng(0)
    scans = [_scan(rng) for _ in range(N_DISTINCT)]
    cohort = [scans[i % N_DISTINCT] for i in range(N_SCANS)]
    n_findings = sum(len(k) for _, _, k in cohort)
    load_before = os.getloadavg()[0]

    def score_all() -> list:
        return [
            s
            for i, (pred, ref, kinds) in enumerate(cohort)
            for s in score_findings(pred, ref, kinds, f"scan_{i}")
        ]

    seconds, cpu, times = _wall_and_cpu(score_all)
    findings = findings_table(score_all())
    summary_s, _ = median_time(lambda: summary_table(findings, BootstrapConfig()), repeats=3)
    file_s = _read_time(*scans[0])
    what = f"Dice + instances, {N_SCANS} scans of 256x256x160 ({n_findings} findings)"
    metrics = [
        {
            "metric": f"{what} (CPU time)",
            "value": round(cpu, 2),
            "unit": "CPU s",
            "goal": "<= 10 s",
            "anchor": None,
            "met": cpu <= 10,
        },
        {
            "metric": f"{what} (wall, shared machine)",
            "value": round(seconds, 2),
            "unit": "s",
            "goal": "<= 10 s",
            "anchor": None,
            "met": seconds <= 10,
            "times": [round(t, 2) for t in times],
            "load": [load_before, os.getloadavg()[0]],
        },
        {
            "metric": "bootstrap summary of those findings (1000 resamples, per category)",
            "value": round(summary_s, 3),
            "unit": "s",
            "goal": None,
            "anchor": None,
            "met": None,
        },
        {
            "metric": f"one scan from .nii.gz files ({len(scans[0][2])} findings, read + score)",
            "value": round(file_s, 2),
            "unit": "s/scan",
            "goal": None,
            "anchor": None,
            "met": None,
        },
    ]
    path = save_result(
        "segmentation_metrics",
        metrics,
        notes=f"score_findings on in-memory masks, one process; {N_DISTINCT} distinct synthetic "
        "scans (nodules, opacities, effusion, diffuse spots; imperfect predictions with 20 "
        "false-positive speckles per finding) cycled to 100; median of 3 passes after 1 warm-up. "
        f"1-min load average {load_before:.1f} on {os.cpu_count()} cores before the run.",
    )
    print(f"{seconds:.2f} s wall, {cpu:.2f} s CPU for {N_SCANS} scans ({n_findings} findings); saved {path}")  # noqa: T201


if __name__ == "__main__":
    main()
