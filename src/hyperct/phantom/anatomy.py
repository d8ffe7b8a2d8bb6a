"""Body wall, lungs with five lobes, diaphragm and upper abdomen, spine, ribs and sternum."""

from __future__ import annotations

import numpy as np

from hyperct.anatomy.totalseg import TOTALSEG_V2_IDS as TS
from hyperct.phantom.body import BodyShape
from hyperct.phantom.canvas import HU, Canvas
from hyperct.phantom.grid import capsule, ellipsoid, smooth_field

LOBES = {
    "right upper lobe": TS["lung_upper_lobe_right"],
    "right middle lobe": TS["lung_middle_lobe_right"],
    "right lower lobe": TS["lung_lower_lobe_right"],
    "left upper lobe": TS["lung_upper_lobe_left"],
    "left lower lobe": TS["lung_lower_lobe_left"],
}
LUNG_IDS = tuple(sorted(LOBES.values()))
LOBE_NAMES = {v: k for k, v in LOBES.items()}


def lung_mask(canvas: Canvas, box=None) -> np.ndarray:
    """Voxels labelled as any lung lobe (ids 10-14 are contiguous in TotalSegmentator v2)."""
    lab = canvas.labels if box is None else canvas.labels[box]
    return (lab >= LUNG_IDS[0]) & (lab <= LUNG_IDS[-1])


def draw_body_wall(c: Canvas, s: BodyShape) -> None:
    """Skin, subcutaneous fat, muscle and the CT table, constant along z."""
    g = c.grid
    box = g.full_box()
    _, y, x = g.coords(box)
    y2, x2 = y[0], x[0]

    def inside(da: float) -> np.ndarray:
        return (
            np.abs((x2 - s.x0) / (s.a_body - da)) ** 2.3
            + np.abs((y2 - s.y0) / (s.b_body - da)) ** 2.3
        ) < 1

    layers = [(0.0, HU["skin"]), (2.0, HU["fat"]), (s.fat, HU["muscle"])]
    section = np.full(y2.shape[:1] + x2.shape[1:], HU["air"], np.float32)
    for da, value in layers:
        section[inside(da)] = value
    table = (np.abs(y2 - (s.y0 + s.b_body + 12 + 0.0006 * (x2 - s.x0) ** 2)) < 3) & (
        np.abs(x2 - s.x0) < 0.95 * g.extent[2] / 2
    )
    section[table] = HU["table"]
    c.hu[:] = section[None]


def cavity_radius(c: Canvas, s: BodyShape, box) -> np.ndarray:
    """Normalised radius of the thoracic cavity (<1 inside the ribs) in ``box``."""
    z, y, x = c.grid.coords(box)
    sc = np.maximum(s.cavity_scale(z), 1e-3)
    return np.sqrt(((x - s.x0) / (s.a_cav * sc)) ** 2 + ((y - s.y_cav) / (s.b_cav * sc)) ** 2)


def diaphragm(c: Canvas, s: BodyShape) -> np.ndarray:
    """2-D (y, x) map of the diaphragm height under each lung."""
    _, y, x = c.grid.coords()
    y2, x2 = y[0], x[0]
    return np.where(x2 < s.x0, s.dome(-1, y2, x2), s.dome(1, y2, x2)).astype(np.float32)


def thorax_box(c: Canvas, s: BodyShape):
    """Index box around the thoracic cavity (and the upper abdomen below it)."""
    lo = np.array([-1e4, s.y_cav - s.b_cav - 2, s.x0 - s.a_cav - 2])
    hi = np.array([s.apex + 6, s.y_cav + s.b_cav + 2, s.x0 + s.a_cav + 2])
    return c.grid.box(lo, hi)


def draw_cavity_and_lungs(c: Canvas, s: BodyShape, rng: np.random.Generator) -> np.ndarray:
    """Mediastinal fat, lungs split into lobes by fissures, and the upper abdomen.

    Returns the 2-D diaphragm height map for later structures.
    """
    box = thorax_box(c, s)
    z, y, x = c.grid.coords(box)
    dia = diaphragm(c, s)[box[1], box[2]]
    r = cavity_radius(c, s, box)
    cav = r < 1
    c.paint(box, cav, HU["fat"] + 10)
    y_front = s.y_cav - 0.45 * s.b_cav
    half_width = 3 + 19 * np.clip((y - y_front) / (0.3 * s.b_cav), 0, 1)
    lung = cav & (z > dia[None]) & (np.abs(x - s.x0 - 4) > half_width)
    base = min(s.dome_r, s.dome_l) - 30
    zn = (z - base) / (s.apex - base)
    yn = (y - s.y_cav) / s.b_cav
    wobble = 0.04 * smooth_field(lung.shape, (4, 4, 4), rng)
    oblique = zn - (0.30 + 0.32 * yn) - wobble
    horizontal = zn - 0.43 - wobble
    lower = oblique < 0
    right = np.broadcast_to(x < s.x0, lung.shape)
    lab = np.where(lower, LOBES["left lower lobe"], LOBES["left upper lobe"]).astype(np.uint8)
    lab[right & lower] = LOBES["right lower lobe"]
    lab[right & ~lower] = np.where(
        horizontal < 0, LOBES["right middle lobe"], LOBES["right upper lobe"]
    )[right & ~lower]
    c.labels[box][lung] = lab[lung]
    depth_hu = -905 + 95 * (1 - s.depth) + 55 * np.clip(yn, -1, 1)
    c.hu[box][lung] = np.broadcast_to(depth_hu, lung.shape)[lung]
    fissure = lung & (
        (np.abs(oblique) < 0.8 / 250) | (right & ~lower & (np.abs(horizontal) < 0.8 / 250))
    )
    c.hu[box][fissure] += 140.0
    _draw_abdomen(c, s, box, r, z, dia, rng)
    return diaphragm(c, s)


def _draw_abdomen(c: Canvas, s: BodyShape, tbox, r, z, dia, rng) -> None:
    g = c.grid
    _, y, x = g.coords(tbox)
    below = (r < 1.02) & (z <= dia[None]) & (z < s.apex)
    c.hu[tbox][below] = HU["soft"]
    liver = below & (x < s.x0 + 0.25 * s.a_cav) & (z > dia[None] - 170)
    c.paint(tbox, liver, HU["liver"], TS["liver"])
    centre = np.array([s.dome_l - 38, s.y_cav - 0.15 * s.b_cav, s.x0 + 0.5 * s.a_cav])
    semi = np.array([42, 0.45 * s.b_cav, 0.3 * s.a_cav]) * rng.uniform(0.85, 1.15)
    drawn = ellipsoid(g, centre, semi)
    if drawn is None:
        return
    box, rr = drawn
    zz, yy, _ = g.coords(box)
    under = (zz < diaphragm(c, s)[None, box[1], box[2]] - 2) & (rr < 1)
    c.paint(box, under, HU["soft"], TS["stomach"])
    content = under & (rr < 1 - 4 / semi.min())
    c.paint(box, content & (yy > centre[1] - 0.25 * semi[1]), HU["fluid"])
    c.paint(box, content & (yy <= centre[1] - 0.25 * semi[1]), HU["air"])


def draw_spine(c: Canvas, s: BodyShape) -> None:
    """Vertebral bodies, discs, canal with cord and posterior elements, labelled T1..L2."""
    g = c.grid
    z, y, x = g.coords()
    y2, x2 = y[0], x[0]
    dx, dy = x2 - s.x0, y2 - s.y_spine
    rv = s.r_vert
    body_d = np.sqrt(dx**2 + dy**2)
    canal_y = s.y_spine + rv + 7
    canal_d = np.sqrt(dx**2 + (y2 - canal_y) ** 2)
    arch = (canal_d > 7) & (canal_d < 12.5) & (y2 > s.y_spine + rv - 2)
    spinous = (np.abs(dx) < 4) & (y2 > canal_y) & (y2 < canal_y + 24)
    transverse = (np.abs(y2 - canal_y + 2) < 4.5) & (np.abs(dx) < 1.7 * rv)
    bone2d = (body_d < rv) | arch | spinous | transverse
    cortex2d = bone2d & ~(body_d < rv - 2.2)
    top = s.apex + 25
    height = (top - (s.dome_r - 20)) / 12.0
    level = np.floor((top - z[:, 0, 0]) / height).astype(int)
    disc = ((top - z[:, 0, 0]) % height) > height - 4
    names = [f"vertebrae_T{i}" for i in range(1, 13)] + [
        "vertebrae_L1",
        "vertebrae_L2",
        "vertebrae_L3",
    ]
    for k in range(g.shape[0]):
        if level[k] < 0 or level[k] >= len(names):
            continue
        sl = (slice(k, k + 1), slice(None), slice(None))
        if disc[k]:
            c.paint(sl, (body_d < rv)[None], HU["disc"])
            continue
        c.paint(sl, bone2d[None], HU["bone_marrow"], TS[names[level[k]]])
        c.paint(sl, cortex2d[None], HU["cortex"])
    cord = (canal_d < 4.5)[None] & (z < s.apex + 30)
    c.paint(
        g.full_box(), np.broadcast_to(canal_d < 7, g.shape) & (z < s.apex + 30), HU["fluid"] - 5
    )
    c.paint(g.full_box(), cord, HU["cord"], TS["spinal_cord"])


def draw_ribs_and_sternum(c: Canvas, s: BodyShape) -> None:
    """Twelve rib pairs sloping down anteriorly, costal cartilages and the sternum.

    Ribs live in a thin shell just outside the cavity; the rib geometry is evaluated only on the
    voxels of that shell.
    """
    g = c.grid
    box = g.box(
        np.array([-1e4, s.y_cav - s.b_cav - 14, s.x0 - s.a_cav - 14]),
        np.array([s.apex + 10, s.y_cav + s.b_cav + 14, s.x0 + s.a_cav + 14]),
    )
    z, y, x = g.coords(box)
    r = cavity_radius(c, s, box)
    mean_semi = 0.5 * (s.a_cav + s.b_cav)
    iz, iy, ix = np.nonzero(np.abs(r - 1 - 6.5 / mean_semi) < 4.0 / mean_semi)
    zr, yr, xr = z[iz, 0, 0], y[0, iy, 0], x[0, 0, ix]
    theta = np.abs(np.arctan2(xr - s.x0, -(yr - s.y_cav)))
    pitch = (s.apex - s.dome_r + 10) / 11.5
    k_float = (s.apex + 2 - (zr + 2.2 * pitch * (1 - theta / np.pi))) / pitch
    k0 = np.rint(k_float)
    on_rib = (np.abs(k_float - k0) * pitch < 4.8) & (k0 >= 0) & (k0 < 12) & (theta < np.pi - 0.32)
    kk = np.clip(k0, 0, 11).astype(np.int16)
    bone_end = np.array([0.55, 0.55, 0.6, 0.6, 0.65, 0.7, 0.8, 1.0, 1.2, 1.4, 1.8, 2.2])
    cart_end = np.array([0.22, 0.22, 0.22, 0.22, 0.24, 0.26, 0.3, 0.45, 0.6, 0.8, 1.8, 2.2])
    rib = on_rib & (theta > bone_end[kk])
    cart = on_rib & ~rib & (theta > cart_end[kk])
    ids = np.where(xr > s.x0, TS["rib_left_1"] + kk, TS["rib_right_1"] + kk).astype(np.uint8)
    hu, lab = c.hu[box], c.labels[box]
    hu[iz[rib], iy[rib], ix[rib]] = HU["cortex"] * 0.55
    lab[iz[rib], iy[rib], ix[rib]] = ids[rib]
    hu[iz[cart], iy[cart], ix[cart]] = HU["cartilage"]
    lab[iz[cart], iy[cart], ix[cart]] = TS["costal_cartilages"]
    front = s.y_cav - s.b_cav * 0.97
    stern = (
        (np.abs(x - s.x0) < 13 + 8 * (z > s.carina + 25))
        & (y > front - 14)
        & (y < front - 3)
        & (z < s.carina + 60)
        & (z > s.dome_r + 5)
    )
    c.paint(box, stern, HU["bone_marrow"], TS["sternum"])


def draw_paraspinal_muscles(c: Canvas, s: BodyShape) -> None:
    """Erector spinae (TotalSegmentator "autochthon") on both sides behind the spine."""
    yc = s.y_spine + s.r_vert + 20
    for side, name in ((-1, "autochthon_right"), (1, "autochthon_left")):
        xc = s.x0 + side * (s.r_vert + 12)
        box = c.grid.box(
            np.array([-1e4, yc - 18, xc - s.r_vert - 7]),
            np.array([1e4, yc + 18, xc + s.r_vert + 7]),
        )
        if box is None:
            continue
        _, y, x = c.grid.coords(box)
        inside = ((y - yc) / 17) ** 2 + ((x - xc) / (s.r_vert + 6)) ** 2 < 1
        inside = np.broadcast_to(inside & (c.hu[box][:1] > -500), c.hu[box].shape)
        c.paint(box, inside, HU["muscle"], TS[name])


def draw_shoulder_girdle(c: Canvas, s: BodyShape) -> None:
    """Scapulae (plates behind the upper ribs) and clavicles (rods at the top, anteriorly)."""
    g = c.grid
    box = g.box(
        np.array([s.apex - 130, s.y_cav + 0.5 * s.b_cav, s.x0 - s.a_cav]),
        np.array([s.apex + 5, s.y_cav + s.b_cav + 40, s.x0 + s.a_cav]),
    )
    for side, tag in ((-1, "right"), (1, "left")):
        if box is not None:
            z, y, x = g.coords(box)
            ax = np.abs(x - s.x0) / s.a_cav
            y_plate = s.y_cav + s.b_cav * (0.62 + 0.25 * (ax - 0.3)) + 20
            plate = (np.abs(y - y_plate) < 3.5) & (ax > 0.25) & (ax < 0.8) & (side * (x - s.x0) > 0)
            plate = plate & (z > s.apex - 130 + 60 * (ax - 0.25)) & (c.labels[box] == 0)
            c.paint(box, plate, HU["cortex"] * 0.6, TS[f"scapula_{tag}"])
        p0 = np.array([s.apex + 6, s.y_cav - 0.95 * s.b_cav, s.x0 + side * 18])
        p1 = np.array([s.apex + 18, s.y_cav - 0.35 * s.b_cav, s.x0 + side * 0.8 * s.a_cav])
        drawn = capsule(g, p0, p1, 6.0)
        if drawn is not None:
            cbox, d = drawn
            inside = (d < 6.0) & (c.labels[cbox] == 0)
            c.paint(cbox, inside, HU["cortex"] * 0.6, TS[f"clavicula_{tag}"])
