"""Painters for the parenchymal and pleural findings.

Each painter takes the scene, the task id (the bit it sets in the findings mask) and a severity
in (0, 1]: near 0 the subtle end (small, faint, focal), near 1 the obvious end (large, dense,
diffuse), and records what it drew in ``scene.details`` for the report.
"""

from __future__ import annotations

import numpy as np

from hyperct.phantom.anatomy import LOBES, LOBE_NAMES
from hyperct.phantom.canvas import HU
from hyperct.phantom.grid import capsule, ellipsoid, smooth_field
from hyperct.phantom.scene import Scene


def blocky_noise(shape: tuple[int, ...], factor: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise on a grid ``factor`` times coarser, repeated up to ``shape`` (cheap texture)."""
    if factor <= 1:
        return rng.random(shape, dtype=np.float32)
    coarse = rng.random(tuple(-(-n // factor) for n in shape), dtype=np.float32)
    for axis in range(3):
        coarse = np.repeat(coarse, factor, axis=axis)
    return coarse[: shape[0], : shape[1], : shape[2]]


def _texture_factor(sc: Scene) -> int:
    """Texture block size in voxels: about 2.5 mm in-plane, never coarser than a voxel."""
    return max(1, int(round(2.5 / sc.canvas.grid.spacing[1])))


def _coverage(field: np.ndarray, where: np.ndarray, fraction: float) -> np.ndarray:
    """The ``fraction`` of ``where`` voxels with the highest ``field`` values."""
    vals = field[where]
    if vals.size == 0:
        return where
    cut = np.quantile(vals[:: max(1, vals.size // 20000)], 1 - fraction)
    return where & (field >= cut)


def _zone_weight(sc: Scene, zone: str) -> np.ndarray:
    if zone == "upper":
        return 1.5 * sc.zn
    if zone == "basal":
        return 1.5 * (1 - sc.zn) + 0.6 * sc.yn
    return 0.0 * sc.zn


def paint_emphysema(sc: Scene, task: int, sev: float) -> None:
    """Low-attenuation areas (< -950 HU), upper-zone predominant, with bullae when severe."""
    lungs = sc.lungs()
    field = smooth_field(lungs.shape, (6, 6, 6), sc.rng) + _zone_weight(sc, "upper")
    region = _coverage(field, lungs, 0.08 + 0.5 * sev)
    holes = region & (blocky_noise(lungs.shape, _texture_factor(sc), sc.rng) < 0.25 + 0.6 * sev)
    sc.canvas.paint(sc.box, holes, -975.0)
    sc.canvas.mark(sc.box, holes, task)
    n_bullae = int(sc.rng.integers(1, 4)) if sev > 0.55 else 0
    for _ in range(n_bullae):
        point, _lobe = sc.random_lung_point(depth=0.98)
        point[0] = max(point[0], sc.body.carina)
        drawn = ellipsoid(sc.canvas.grid, point, np.full(3, 8 + 22 * sev))
        if drawn is not None:
            box, r = drawn
            inside = (r < 1) & sc.canvas.in_labels(box, (10, 11, 12, 13, 14))
            sc.canvas.paint(box, inside, -995.0)
            sc.canvas.mark(box, inside, task)
    kind = "centrilobular and paraseptal" if sev > 0.5 else "centrilobular"
    sc.details["Emphysema"] = {"kind": kind, "bullae": n_bullae, "zone": "upper lobe predominant"}


def paint_mosaic(sc: Scene, task: int, sev: float) -> None:
    """Geographic patchwork of darker and denser lobular regions."""
    lungs = sc.lungs()
    field = smooth_field(lungs.shape, tuple(max(3, n // 12) for n in lungs.shape), sc.rng)
    dark = lungs & (field > 0.5 - 0.3 * sev)
    bright = lungs & (field < -0.6 + 0.3 * sev)
    amp = 70 + 110 * sev
    sc.canvas.hu[sc.box][dark] -= amp
    sc.canvas.hu[sc.box][bright] += amp
    sc.canvas.mark(sc.box, dark | bright, task)
    sc.details["Mosaic attenuation pattern"] = {"extent": "bilateral"}


def paint_ground_glass(sc: Scene, task: int, sev: float) -> None:
    """Ground-glass opacity: patchy areas raised by 250-450 HU, vessels still visible."""
    lungs = sc.lungs()
    zone = str(sc.rng.choice(["basal", "upper", "diffuse"]))
    field = smooth_field(lungs.shape, (5, 7, 7), sc.rng) + _zone_weight(sc, zone)
    if sc.rng.random() < 0.5:
        field = field + 2.0 * sc.side(str(sc.rng.choice(["right", "left"])))
    patch = _coverage(field, lungs, 0.04 + 0.3 * sev)
    sc.canvas.hu[sc.box][patch] += 250 + 200 * sev
    sc.canvas.mark(sc.box, patch, task)
    sc.details["Lung opacity"] = {"zone": zone, "kind": "ground-glass"}


def paint_consolidation(sc: Scene, task: int, sev: float, opacity_task: int) -> None:
    """Dense airspace opacity within one lobe; air bronchograms are the bronchi left as air."""
    lobe = int(sc.rng.choice(list(LOBES.values()), p=[0.15, 0.1, 0.3, 0.15, 0.3]))
    point, _ = sc.random_lung_point(lobe=lobe)
    semi = np.full(3, 18 + 55 * sev) * sc.rng.uniform(0.7, 1.3, 3)
    drawn = ellipsoid(sc.canvas.grid, point, semi)
    if drawn is None:
        return
    box, r = drawn
    lobe_vox = sc.canvas.labels[box] == lobe
    r = r + 0.25 * smooth_field(r.shape, (3, 3, 3), sc.rng)
    region = lobe_vox & (r < 1)
    if not region.any():
        region = lobe_vox & (r <= np.min(np.where(lobe_vox, r, np.inf)))
    hu = sc.canvas.hu[box]
    airway = region & (hu < -940)
    solid = region & ~airway
    sc.canvas.paint(box, solid, 20 + 25 * sc.rng.random())
    sc.canvas.mark(box, region, task)
    sc.canvas.mark(box, region, opacity_task)
    sc.details["Consolidation"] = {"lobe": LOBE_NAMES[lobe], "air_bronchogram": bool(airway.any())}


def paint_atelectasis(sc: Scene, task: int, sev: float) -> None:
    """Dependent basal collapse (thicker with severity) or linear plate-like atelectasis."""
    lungs = sc.lungs()
    side = str(sc.rng.choice(["right", "left", "both"]))
    sides = sc.side(side) if side != "both" else np.ones_like(sc.side("right"))
    if sev < 0.35:
        plate = np.abs(sc.zn - 0.22 - 0.08 * sc.yn) < 0.012 + 0.02 * sev
        region = lungs & sides & plate & (sc.radius > 0.45)
        kind = "linear"
    else:
        depth = (8 + 50 * sev) / sc.body.b_cav
        band = (sc.radius > 1 - depth) & (sc.yn > 0.15) & (sc.zn < 0.2 + 0.3 * sev)
        region = lungs & sides & band
        kind = "passive" if sev < 0.75 else "lobar"
    if not region.any():
        region = (
            lungs & sides & (sc.zn < np.quantile(np.broadcast_to(sc.zn, lungs.shape)[lungs], 0.05))
        )
    sc.canvas.paint(sc.box, region, 15 + 25 * sc.rng.random())
    sc.canvas.mark(sc.box, region, task)
    sc.details["Atelectasis"] = {"kind": kind, "side": side, "volume_loss": kind == "lobar"}


def paint_fibrosis(sc: Scene, task: int, sev: float) -> None:
    """Subpleural basal reticulation (or apical scarring when mild) and fibrotic bands."""
    lungs = sc.lungs()
    zone = "basal" if sev > 0.35 else "apical"
    depth = (5 + 15 * sev) / sc.body.b_cav
    zmask = sc.zn < 0.4 if zone == "basal" else sc.zn > 0.82
    band = lungs & (sc.radius > 1 - depth) & zmask
    vox = min(sc.canvas.grid.spacing)
    net = band & _lattice(sc, lungs.shape, sc.rng.uniform(6, 10), max(1.2, vox))
    sc.canvas.hu[sc.box][net] = -300 + 250 * sev
    sc.canvas.mark(sc.box, net, task)
    for _ in range(int(sc.rng.integers(1, 3))):
        p0, _ = sc.random_lung_point(depth=0.9)
        p1 = p0 + sc.rng.normal(0, 1, 3) * np.array([8, 18, 18])
        drawn = capsule(sc.canvas.grid, p0, p1, 2.5)
        if drawn is not None:
            box, d = drawn
            line = (d < 1.5 + sev) & sc.canvas.in_labels(box, (10, 11, 12, 13, 14))
            sc.canvas.paint(box, line, -150.0)
            sc.canvas.mark(box, line, task)
    sc.details["Pulmonary fibrotic sequela"] = {"zone": zone, "reticulation": zone == "basal"}


def paint_septal(sc: Scene, task: int, sev: float) -> None:
    """Thickened interlobular septa: a warped polygonal lattice (10-25 mm cells), basal and
    peripheral predominant."""
    lungs = sc.lungs()
    thick = 1.0 + 1.5 * sev
    vox = min(sc.canvas.grid.spacing)
    grid_planes = _lattice(sc, lungs.shape, sc.rng.uniform(12, 20), max(thick, vox))
    region = _coverage(
        smooth_field(lungs.shape, (4, 5, 5), sc.rng) + _zone_weight(sc, "basal") + 1.5 * sc.radius,
        lungs,
        0.2 + 0.6 * sev,
    )
    septa = region & grid_planes
    sc.canvas.hu[sc.box][septa] += (350 + 250 * sev) * min(1.0, thick / vox)
    sc.canvas.mark(sc.box, septa, task)
    sc.details["Interlobular septal thickening"] = {"zone": "basal and peripheral"}


def _lattice(sc: Scene, shape: tuple[int, ...], period: float, thick: float) -> np.ndarray:
    """Walls of a warped 3-D lattice of ``period`` mm cells: polygons on any slice."""
    nodes = tuple(
        int(np.clip(n * sp / (1.5 * period), 3, 24)) for n, sp in zip(shape, sc.canvas.grid.spacing)
    )
    warp = 0.45 * period * smooth_field(shape, nodes, sc.rng)
    half = thick / (2 * period)
    walls = np.zeros(shape, bool)
    for coord in sc.coords:
        frac = ((coord + warp) / period) % 1.0
        walls |= np.abs(frac - 0.5) > 0.5 - half
    return walls


def paint_nodules(sc: Scene, task: int, sev: float) -> None:
    """1-4 nodules, 4-30 mm: solid, ground-glass or part-solid, slightly lobulated."""
    count = 1 + (int(sc.rng.integers(1, 4)) if sc.rng.random() < 0.3 else 0)
    nodules = []
    for k in range(count):
        diam = 4 + 26 * (sev if k == 0 else sc.rng.random() * sev) ** 1.2
        kind = str(sc.rng.choice(["solid", "ground-glass", "part-solid"], p=[0.7, 0.2, 0.1]))
        point, lobe = sc.random_lung_point(depth=0.9)
        semi = diam / 2 * sc.rng.uniform(0.85, 1.15, 3)
        drawn = ellipsoid(
            sc.canvas.grid, point, np.maximum(semi, 0.6 * np.array(sc.canvas.grid.spacing))
        )
        if drawn is None:
            continue
        box, r = drawn
        r = r + 0.08 * smooth_field(r.shape, (3, 3, 3), sc.rng)
        inside = r < 1
        if not inside.any():
            inside = r <= r.min()
        value = {"solid": 35.0, "ground-glass": -560.0, "part-solid": -450.0}[kind]
        sc.canvas.paint(box, inside, value, None)
        if kind == "part-solid":
            sc.canvas.paint(box, r < 0.45, 30.0)
        sc.canvas.mark(box, inside, task)
        nodules.append({"diameter_mm": round(float(diam), 1), "kind": kind, "lobe": lobe})
    sc.details["Lung nodule"] = {"nodules": nodules}


def paint_pleural_effusion(sc: Scene, task: int, sev: float) -> None:
    """Dependent fluid layering posteriorly in the pleural space, deepest at the base."""
    s = sc.body
    side = str(sc.rng.choice(["right", "left", "both"], p=[0.3, 0.2, 0.5]))
    sides = sc.side(side) if side != "both" else np.ones_like(sc.side("right"))
    z, y, x = sc.coords
    scale = np.maximum(s.cavity_scale(z), 1e-3)
    xr = np.clip((x - s.x0) / (s.a_cav * scale), -1, 1)
    back = s.y_cav + s.b_cav * scale * np.sqrt(1 - xr**2)
    depth_mm = (8 + 70 * sev) * np.clip(1 - sc.zn / (0.35 + 0.45 * sev), 0, 1)
    lab = sc.canvas.labels[sc.box]
    space = (lab >= 10) & (lab <= 14)
    fluid = space & sides & (y > back - depth_mm)
    if not fluid.any():
        fluid = (
            space
            & sides
            & (sc.zn < np.quantile(np.broadcast_to(sc.zn, space.shape)[space], 0.02))
            & (sc.yn > 0)
        )
    sc.canvas.paint(sc.box, fluid, HU["fluid"] + 6 * sc.rng.random(), 0)
    sc.canvas.mark(sc.box, fluid, task)
    thickness = float(8 + 70 * sev)
    sc.details["Pleural effusion"] = {"side": side, "thickness_mm": round(thickness)}
