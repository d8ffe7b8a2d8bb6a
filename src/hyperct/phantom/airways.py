"""Trachea, a bronchial tree of a few generations and the pulmonary arteries and veins.

Each lobe's tree is grown towards points sampled inside the lobe: a branch heads for the centroid
of its points, then the points are split in two along their main axis for the two children, so
the tree fills the lobe. Arteries run beside the bronchi (bronchovascular bundles); veins follow
a second tree towards the left atrium. Thin tubes are anti-aliased (partial volume), so distal
branches stay visible as faint lines at coarse spacing. Peribronchial thickening thickens the
walls and cuffs the central bundles in ground glass, so it shows even where a wall is thinner
than a voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hyperct.anatomy.totalseg import TOTALSEG_V2_IDS as TS
from hyperct.phantom.anatomy import LOBES, lung_mask
from hyperct.phantom.body import BodyShape
from hyperct.phantom.canvas import HU, Canvas
from hyperct.phantom.grid import capsule
from hyperct.phantom.heart import Mediastinum, draw_tube


#: Peribronchovascular interstitial thickening ("cuffing"): a ground-glass sleeve around the
#: bronchovascular bundles of the first generations, central and perihilar.
CUFF_HU = -480.0
CUFFED_GENERATIONS = 3


@dataclass(frozen=True)
class Branch:
    """One tube: segment p0-p1 (mm), lumen radius, generation and lobe label."""

    p0: np.ndarray
    p1: np.ndarray
    radius: float
    generation: int
    lobe: int


@dataclass
class AirwayDisease:
    """How the airways are altered: wall thickness factor, peribronchovascular cuff (mm of
    interstitial thickening around the central bundles), dilated lobes and factor."""

    wall_factor: float = 1.0
    cuff_mm: float = 0.0
    dilated_lobes: tuple[int, ...] = ()
    dilation: float = 1.0
    task_wall: int | None = None
    task_dilation: int | None = None
    branches: list[Branch] = field(default_factory=list)


def grow_tree(
    points: np.ndarray,
    start: np.ndarray,
    radius: float,
    depth: int,
    max_depth: int,
    lobe: int,
    rng: np.random.Generator,
    out: list[Branch],
) -> None:
    """Recursive space-filling tree towards ``points`` (n, 3) in mm."""
    if len(points) < 4 or depth > max_depth:
        return
    target = points.mean(axis=0)
    frac = 0.45 if depth < max_depth else 0.8
    end = start + frac * (target - start) + rng.normal(0, 1.5, 3)
    out.append(Branch(start, end, radius, depth, lobe))
    centred = points - target
    axis = np.linalg.svd(centred[:: max(1, len(points) // 400)], full_matrices=False)[2][0]
    proj = centred @ axis
    cut = np.median(proj)
    for half in (points[proj <= cut], points[proj > cut]):
        grow_tree(half, end, radius * 0.76, depth + 1, max_depth, lobe, rng, out)


def lobe_points(c: Canvas, lobe: int, rng: np.random.Generator, n: int = 1500) -> np.ndarray:
    """Up to ``n`` random voxel centres (mm) inside a lobe."""
    st = 2
    idx = np.argwhere(c.labels[::st, ::st, ::st] == lobe) * st
    if len(idx) == 0:
        return np.zeros((0, 3))
    idx = idx[rng.permutation(len(idx))[:n]]
    g = c.grid
    return np.stack([g.axis(i)[idx[:, i]] for i in range(3)], axis=1).astype(float)


def draw_airways_and_vessels(
    c: Canvas,
    s: BodyShape,
    m: Mediastinum,
    disease: AirwayDisease,
    rng: np.random.Generator,
    max_depth: int = 5,
) -> None:
    """Trachea, main bronchi, lobar trees of bronchi, arteries and veins."""
    carina = np.array([s.carina, m.trachea_y, s.x0])
    top = np.array([s.apex + 80, m.trachea_y - 4, s.x0])
    r_tr = float(rng.uniform(8, 10.5))
    draw_tube(c, np.stack([top, carina]), r_tr + 2, HU["bronchial_wall"], TS["trachea"])
    draw_tube(c, np.stack([top, carina]), r_tr, HU["air"], None)
    for side, r_main in (("right", 6.5), ("left", 5.6)):
        draw_tube(c, np.stack([carina, m.hila[side]]), r_main + 1.6, HU["bronchial_wall"], 0)
        draw_tube(c, np.stack([carina, m.hila[side]]), r_main, HU["air"], None)
    la = next(ch for ch in m.chambers if ch.name == "la")
    bronchi: list[Branch] = []
    veins: list[Branch] = []
    for name, lobe in LOBES.items():
        pts = lobe_points(c, lobe, rng)
        hilum = m.hila["right" if name.startswith("right") else "left"]
        grow_tree(pts, hilum, 4.2, 0, max_depth, lobe, rng, bronchi)
        vpts = pts[rng.permutation(len(pts))[: len(pts) // 2]]
        grow_tree(
            vpts,
            la.center + np.array([0, 0, 0.6 * np.sign(hilum[2] - s.x0) * la.semi[2]]),
            4.5,
            0,
            max_depth,
            lobe,
            rng,
            veins,
        )
    for b in veins:
        _tube(c, b.p0, b.p1, b.radius * 1.05, HU["blood"])
    for b in bronchi:
        _draw_bundle(c, b, disease, rng)
    disease.branches = bronchi


def _draw_bundle(c: Canvas, b: Branch, d: AirwayDisease, rng: np.random.Generator) -> None:
    """A bronchus (wall + lumen) and its artery alongside."""
    direction = b.p1 - b.p0
    side = np.cross(direction, np.array([0.3, 0.5, 0.8]))
    side /= max(np.linalg.norm(side), 1e-6)
    dilated = b.lobe in d.dilated_lobes and b.generation >= 1
    lumen = b.radius * 0.55 * (d.dilation if dilated else 1.0)
    wall = max(0.5, 0.22 * b.radius) * d.wall_factor
    artery = b.radius * 0.62
    off = side * (lumen + wall + artery + 0.5)
    if d.cuff_mm > 0 and b.generation <= CUFFED_GENERATIONS:
        cuff = _tube(c, b.p0, b.p1, lumen + wall + d.cuff_mm, CUFF_HU, raise_only=True)
        if cuff is not None and d.task_wall is not None:
            c.mark(cuff[0], cuff[1] > 0.5, d.task_wall)
    _tube(c, b.p0 + off, b.p1 + off, artery, HU["blood"])
    if b.generation > 3 and not dilated and d.wall_factor < 1.3:
        return
    wall_w = _tube(c, b.p0, b.p1, lumen + wall, HU["bronchial_wall"] - 20)
    _tube(c, b.p0, b.p1, lumen, HU["air"])
    if wall_w is None:
        return
    box, w = wall_w
    if d.task_wall is not None and d.wall_factor > 1.0:
        c.mark(box, w > 0.5, d.task_wall)
    if dilated and d.task_dilation is not None:
        c.mark(box, w > 0.5, d.task_dilation)


def _tube(
    c: Canvas,
    p0: np.ndarray,
    p1: np.ndarray,
    radius: float,
    value: float,
    raise_only: bool = False,
):
    """Anti-aliased tube painted into lung voxels only; returns (box, weight). With
    ``raise_only`` it only makes voxels denser (a haze that leaves vessels inside it alone)."""
    vox = 0.5 * (c.grid.spacing[1] + c.grid.spacing[2])
    drawn = capsule(c.grid, p0, p1, radius + vox)
    if drawn is None:
        return None
    box, d = drawn
    w = np.clip((radius - d) / vox + 0.5, 0.0, 1.0) * lung_mask(c, box)
    if raise_only:
        hu = c.hu[box]
        np.maximum(hu, hu + w * (value - hu), out=hu)
    else:
        c.blend(box, w, value)
    return box, w
