"""Phantom benchmark: generation speed and learnability of the 25 tasks.

Speed: drawing one 160 x 256 x 256 scan (anatomy, typical findings, scanner, both masks and the
report), median of repeats, one process; writing its three NIfTI files is timed apart.
Learnability: a few hundred small-preset scans, simple mask-free features (lung HU histogram,
heart size from the anatomy mask, dense-voxel counts...), logistic regression, 5-fold
cross-validated AUC per task against ground_truth labels (the generator's true labels, not the
labelers' output): every task should carry signal (AUC well above 0.5) and not every task should
be trivial (AUC well below 1).

Run: ``python -m benchmarks.phantom [--n 300] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.record import median_time, save_result
from hyperct.anatomy.totalseg import TOTALSEG_V2_IDS as TS
from hyperct.io.volume import Volume
from hyperct.io.write import write_nifti
from hyperct.phantom.cardiac import true_labels
from hyperct.phantom.config import PhantomConfig
from hyperct.phantom.grid import Grid
from hyperct.phantom.plan import plan_cohort
from hyperct.phantom.render import ScanSpec, render_scan
from hyperct.phantom.reports import write_report
from hyperct.tasks import CONVENTIONAL, TASKS

logger = logging.getLogger(__name__)
LUNGS = [
    TS[n]
    for n in (
        "lung_upper_lobe_left",
        "lung_lower_lobe_left",
        "lung_upper_lobe_right",
        "lung_middle_lobe_right",
        "lung_lower_lobe_right",
    )
]
HIST_EDGES = np.array(
    [-1024, -975, -925, -875, -825, -775, -700, -600, -450, -300, -150, 0, 100, 3072]
)


def speed(repeats: int = 3) -> list[dict]:
    """Median time to draw a 160 x 256 x 256 scan with masks and report, and to write it."""
    plan = plan_cohort(PhantomConfig(n=8, seed=0, preset="default"))
    typical = max(plan.scans[:8], key=lambda s: len(s.spec.findings)).spec
    spec = ScanSpec(
        scan_id="bench",
        patient=typical.patient,
        cardiac=typical.cardiac,
        findings=typical.findings,
        grid=Grid((160, 256, 256), (2.0, 1.45, 1.45)),
        scanner="internal",
        seed=(0, 99),
    )
    holder: dict = {}

    def draw() -> None:
        holder["scan"] = render_scan(spec)
        write_report(spec.findings, holder["scan"].details, np.random.default_rng(0))

    t_draw, draws = median_time(draw, repeats=repeats)
    cpu = []
    for _ in range(repeats):
        start = time.process_time()
        draw()
        cpu.append(time.process_time() - start)
    t_write = _write_time(holder["scan"], repeats)
    t_cpu = float(np.median(cpu))
    return [
        {
            "metric": "draw 160x256x256 scan + masks + report (CPU time)",
            "value": t_cpu,
            "unit": "CPU s/scan",
            "goal": "<= 1 s per core",
            "anchor": None,
            "met": t_cpu <= 1.0,
            "findings": sorted(spec.findings),
            "runs": cpu,
        },
        {
            "metric": "draw 160x256x256 scan + masks + report (wall, shared machine)",
            "value": t_draw,
            "unit": "s/scan",
            "goal": None,
            "anchor": None,
            "met": None,
            "runs": draws,
        },
        {
            "metric": "write CT + 2 masks as NIfTI (gzip)",
            "value": t_write,
            "unit": "s/scan",
            "goal": None,
            "anchor": None,
            "met": None,
        },
    ]


def _write_time(scan, repeats: int) -> float:
    """Median time to write the CT and both masks as gzipped NIfTI."""
    with tempfile.TemporaryDirectory() as tmp:

        def write() -> None:
            v = scan.volume
            write_nifti(v, Path(tmp) / "ct.nii.gz")
            write_nifti(Volume(scan.anatomy, v.spacing, v.affine), Path(tmp) / "a.nii.gz")
            write_nifti(Volume(scan.findings_mask, v.spacing, v.affine), Path(tmp) / "f.nii.gz")

        return median_time(write, repeats=repeats, warmup=0)[0]


def scan_features(spec: ScanSpec) -> np.ndarray:
    """:func:`image_features` of the scan drawn from ``spec``."""
    scan = render_scan(spec)
    return image_features(scan.volume.array, scan.anatomy, scan.volume.spacing)


def image_features(ct: np.ndarray, lab: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Simple image statistics; lungs, heart and trachea come from the anatomy mask (what
    TotalSegmentator gives on real scans), nothing from the findings mask."""
    from scipy.ndimage import binary_dilation

    vox_ml = float(np.prod(spacing)) / 1000
    lungs = np.isin(lab, LUNGS)
    body = ct > -400
    hist = np.histogram(ct[lungs], HIST_EDGES)[0] / max(lungs.sum(), 1)
    heart = lab == TS["heart"]
    z_heart = np.nonzero(heart.any(axis=(1, 2)))[0]
    zs = slice(z_heart.min(), z_heart.max() + 1) if len(z_heart) else slice(None)
    lung_z = np.nonzero(lungs)[0]
    upper = lungs & (np.arange(ct.shape[0])[:, None, None] > np.median(lung_z))
    inner = body & ~lungs
    near_heart = binary_dilation(heart, iterations=2) & ~heart & (lab == 0)
    feats = [
        *hist,
        lungs.sum() * vox_ml / 1000,
        ct[lungs].mean(),
        ct[lungs].std(),
        ct[upper].mean() - ct[lungs & ~upper].mean(),
        _largest_compact_blob(lungs & (ct > -350)) * vox_ml,
        heart.sum() * vox_ml,
        heart[zs].any(axis=(0, 1)).sum() / max(body[zs].any(axis=(0, 1)).sum(), 1),
        np.mean(ct[inner] > 1500) * 1e3,
        np.mean(ct[inner] > 300) * 1e2,
        (ct[near_heart] > 130).sum() * vox_ml,
        _mediastinal_soft_tissue(ct, lab, lungs) * vox_ml,
        np.mean((ct[inner] > -30) & (ct[inner] < 80)),
        np.mean(ct[inner] < -150),
        (lab == TS["aorta"]).sum() * vox_ml,
        (lab == TS["stomach"]).sum() * vox_ml,
        *_focal_features(ct, lab, lungs, spacing),
        _nodule_blobness(ct, lungs, spacing),
        _central_soft_tissue(ct, lab, lungs, spacing) * vox_ml,
        *_airway_features(ct, lungs, vox_ml),
    ]
    return np.asarray(feats, dtype=np.float64)


def _focal_features(ct: np.ndarray, lab: np.ndarray, lungs: np.ndarray, spacing) -> list[float]:
    """Soft tissue near the trachea (nodes), lung HU around airways (bronchial walls), isolated
    dense blobs in the lung periphery (nodules)."""
    from scipy import ndimage as ndi

    trachea = lab == TS["trachea"]
    tz = np.nonzero(trachea.any(axis=(1, 2)))[0]
    lx = np.nonzero(lungs.any(axis=(0, 1)))[0]
    if len(tz) == 0 or len(lx) == 0:
        return [0.0, -800.0, 0.0]
    near = ndi.distance_transform_edt(~trachea, sampling=spacing) < 30
    node = near & (lab == 0) & (ct > 10) & (ct < 90)
    node[: max(tz.min() - int(30 / spacing[0]), 0)] = False
    air = lungs & (ct < -950)
    wall = ndi.binary_dilation(air) & ~air & lungs
    periph = np.ones_like(lungs)
    periph[:, :, lx.min() + len(lx) // 3 : lx.max() - len(lx) // 3] = False
    blobs = ndi.binary_opening(lungs & (ct > -350), structure=np.ones((2, 3, 3))) & periph
    return [
        float(node.sum()),
        float(ct[wall].mean()) if wall.any() else -800.0,
        float(ndi.label(blobs)[1]),
    ]


def _largest_compact_blob(mask: np.ndarray) -> float:
    """Voxels in the largest roughly round connected component (fills > 35 % of its box)."""
    from scipy import ndimage as ndi

    comp, n = ndi.label(mask)
    if n == 0:
        return 0.0
    sizes = ndi.sum_labels(mask, comp, index=np.arange(1, n + 1))
    boxes = [np.prod([sl.stop - sl.start for sl in o]) for o in ndi.find_objects(comp)]
    return float(max([sz for sz, b in zip(sizes, boxes) if sz / b > 0.35] or [0.0]))


def _mediastinal_soft_tissue(ct: np.ndarray, lab: np.ndarray, lungs: np.ndarray) -> float:
    """Largest unlabelled soft-tissue component between the lungs from the carina up."""
    from scipy import ndimage as ndi

    tz = np.nonzero((lab == TS["trachea"]).any(axis=(1, 2)))[0]
    lx = np.nonzero(lungs.any(axis=(0, 1)))[0]
    if len(tz) == 0 or len(lx) == 0:
        return 0.0
    region = np.zeros_like(lungs)
    region[max(tz.min() - 4, 0) :, :, lx.min() + len(lx) // 4 : lx.max() - len(lx) // 4] = True
    comp, n = ndi.label(region & (lab == 0) & (ct > 10) & (ct < 90))
    return float(ndi.sum_labels(region, comp, index=np.arange(1, n + 1)).max()) if n else 0.0


def _ball(radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Structuring element: the voxels within ``radius_mm`` of the centre."""
    half = [int(radius_mm // s) for s in spacing]
    z, y, x = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return (z * spacing[0]) ** 2 + (y * spacing[1]) ** 2 + (x * spacing[2]) ** 2 <= radius_mm**2


def _nodule_blobness(
    ct: np.ndarray, lungs: np.ndarray, spacing: tuple[float, ...], scale_mm: float = 4.0
) -> float:
    """Strongest bright-blob response in the lungs (Hessian dot filter, Li et al. 2003, a
    classic nodule CAD feature): a nodule curves down in all three directions, a vessel in two,
    a fissure, band or consolidation edge in one, so only the nodule scores high."""
    from scipy import ndimage as ndi

    core = ndi.binary_erosion(lungs, _ball(4.0, spacing))
    if not core.any():
        return 0.0
    img = np.clip(ct, -900, 100).astype(np.float32)
    sigma = [scale_mm / s for s in spacing]
    hess = np.empty((int(core.sum()), 3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            order = [0, 0, 0]
            order[a] += 1
            order[b] += 1
            d2 = ndi.gaussian_filter(img, sigma, order=order)[core]
            hess[:, a, b] = hess[:, b, a] = d2 * scale_mm**2 / (spacing[a] * spacing[b])
    ev = np.linalg.eigvalsh(hess)
    most, least = ev[:, 0], ev[:, 2]
    dot = np.where(least < 0, least**2 / np.maximum(-most, 1e-6), 0.0)
    return float(dot.max())


def _central_soft_tissue(
    ct: np.ndarray, lab: np.ndarray, lungs: np.ndarray, spacing: tuple[float, ...]
) -> float:
    """Unlabelled soft-tissue voxels lying between the two lungs (mediastinum and hila) within
    45 mm of the carina, opened to drop thin walls: where mediastinal and hilar nodes are (the
    pulmonary arteries, which every scan has, are the baseline)."""
    from scipy import ndimage as ndi

    tz = np.nonzero((lab == TS["trachea"]).any(axis=(1, 2)))[0]
    if len(tz) == 0:
        return 0.0
    between = (
        np.maximum.accumulate(lungs, axis=2)
        & np.maximum.accumulate(lungs[..., ::-1], axis=2)[..., ::-1]
    )
    near = np.abs(np.arange(ct.shape[0]) - tz.min()) * spacing[0] < 45
    soft = between & near[:, None, None] & (lab == 0) & (ct > 10) & (ct < 100)
    return float(ndi.binary_opening(soft, _ball(3.5, spacing)).sum())


def _airway_features(ct: np.ndarray, lungs: np.ndarray, vox_ml: float) -> list[float]:
    """Airway lumens are the air pockets in the lungs whose rim is mostly dense (unlike
    emphysema holes, rimmed by lung). Returns the log of their volume (wide in bronchiectasis)
    and the mean HU of the 1-3 voxel sleeve around them (dense when walls are thick or cuffed,
    as in peribronchial thickening)."""
    from scipy import ndimage as ndi

    air = lungs & (ct < -960)
    comp, n = ndi.label(air)
    if n == 0:
        return [0.0, -800.0]
    rim = ndi.grey_dilation(comp, size=3) * (ndi.binary_dilation(air) & ~air & lungs)
    index = np.arange(1, n + 1)
    rim_n = ndi.sum_labels(rim > 0, rim, index)
    rim_hu = ndi.sum_labels(ct, rim, index) / np.maximum(rim_n, 1) - 1000.0 * (rim_n == 0)
    lumens = np.isin(comp, index[rim_hu > -700])
    sleeve = ndi.binary_dilation(lumens, iterations=3) & ~ndi.binary_dilation(lumens) & lungs
    return [
        float(np.log1p(lumens.sum() * vox_ml)),
        float(ct[sleeve].mean()) if sleeve.any() else -800.0,
    ]


def learnability(n: int, workers: int, seed: int = 1) -> tuple[list[dict], str]:
    """Cross-validated AUC of a logistic regression on :func:`scan_features` for each task."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    plan = plan_cohort(
        PhantomConfig(n=n, seed=seed, preset="small", cohort_fractions=(1.0, 0.0, 0.0))
    )
    specs = [s.spec for s in plan.scans]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        X = np.stack(list(pool.map(scan_features, specs, chunksize=4)))
    y = np.array(
        [
            [int(t.name in s.findings) for t in CONVENTIONAL]
            + list(true_labels(s.cardiac, s.patient.sex).values())
            for s in specs
        ]
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
    rows = []
    for t in TASKS:
        yt = y[:, t.id]
        if yt.sum() < 5 or (1 - yt).sum() < 5:
            continue
        prob = cross_val_predict(model, X, yt, cv=5, method="predict_proba")[:, 1]
        auc = float(roc_auc_score(yt, prob))
        rows.append(
            {
                "metric": f"AUC {t.name}",
                "value": round(auc, 3),
                "unit": "AUC",
                "goal": "> 0.6 (signal)",
                "anchor": None,
                "met": auc > 0.6,
                "group": t.group,
                "prevalence": round(float(yt.mean()), 3),
            }
        )
    aucs = [r["value"] for r in rows]
    rows.append(
        {
            "metric": "tasks with AUC < 0.95 (not trivial)",
            "value": float(sum(a < 0.95 for a in aucs)),
            "unit": "tasks",
            "goal": ">= 5",
            "anchor": None,
            "met": sum(a < 0.95 for a in aucs) >= 5,
        }
    )
    return (
        rows,
        f"{len(specs)} small-preset internal scans, labels = ground truth (generator truth)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    rows = speed(args.repeats)
    learn, note = learnability(args.n, args.workers)
    path = save_result(
        "phantom",
        rows + learn,
        notes=f"speed: one process, median of {args.repeats}; "
        f"learnability: {note}, 5-fold CV logistic regression",
    )
    for r in rows + learn:
        logger.info("%s: %s %s", r["metric"], r["value"], r["unit"])
    logger.info("saved %s", path)


if __name__ == "__main__":
    main()
