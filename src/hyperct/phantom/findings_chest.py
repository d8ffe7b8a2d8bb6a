"""Painters for the mediastinal, vascular and device findings (and normal lymph nodes)."""

from __future__ import annotations

import numpy as np

from hyperct.anatomy.totalseg import TOTALSEG_V2_IDS as TS
from hyperct.phantom.anatomy import lung_mask
from hyperct.phantom.canvas import HU
from hyperct.phantom.grid import capsule, ellipsoid
from hyperct.phantom.scene import Scene


def _blob(
    sc: Scene,
    center: np.ndarray,
    semi: np.ndarray,
    value: float,
    task: int | None,
    label: int | None = None,
) -> bool:
    drawn = ellipsoid(sc.canvas.grid, center, semi)
    if drawn is None:
        return False
    box, r = drawn
    inside = r < 1
    if not inside.any():
        inside = r <= r.min()
    sc.canvas.paint(box, inside, value, label)
    if task is not None:
        sc.canvas.mark(box, inside, task)
    return True


def node_stations(sc: Scene) -> dict[str, np.ndarray]:
    """Mediastinal and hilar lymph node stations (mm)."""
    s, m = sc.body, sc.med
    return {
        "right paratracheal": np.array([s.carina + 18, m.trachea_y - 4, s.x0 - 16]),
        "prevascular": np.array([s.carina + 22, s.y_cav - 0.55 * s.b_cav, s.x0 + 2]),
        "subcarinal": np.array([s.carina - 16, m.trachea_y + 10, s.x0 + 2]),
        "aortopulmonary window": np.array([s.carina + 6, m.trachea_y - 8, s.x0 + 18]),
        "right hilar": m.hila["right"] + np.array([-6, 4, -10]),
        "left hilar": m.hila["left"] + np.array([-6, 4, 10]),
    }


#: Where a node may sit around its station, in semi-axes: the station itself first.
NODE_SHIFTS = np.array(
    [[0, 0, 0], [0.6, 0, 0], [-0.6, 0, 0], [0, 0.6, 0], [0, -0.6, 0], [0, 0, 0.6], [0, 0, -0.6]]
)


def _node(sc: Scene, station: np.ndarray, semi: np.ndarray, task: int | None) -> None:
    """One lymph node of soft-tissue density, beside its station where it fits best.

    It fills mediastinal fat and lung only (a node displaces the organs, airways and vessels
    around it rather than overlapping them), so it sits at the shift of :data:`NODE_SHIFTS`
    where most of it fits. It takes label 0, as TotalSegmentator has no node class, so a hilar
    node is not counted as lung nor painted over by later lung findings.
    """
    best: tuple | None = None
    for shift in NODE_SHIFTS:
        drawn = ellipsoid(sc.canvas.grid, station + shift * semi, semi)
        if drawn is None:
            continue
        box, r = drawn
        hu = sc.canvas.hu[box]
        fat = (sc.canvas.labels[box] == 0) & (hu > -200) & (hu < -30)
        inside = (r < 1) & (fat | lung_mask(sc.canvas, box))
        fits = int(inside.sum())
        if best is None or fits > best[0]:
            best = (fits, box, inside)
    if best is None:
        return
    _, box, inside = best
    sc.canvas.paint(box, inside, HU["node"], 0)
    if task is not None:
        sc.canvas.mark(box, inside, task)


def paint_normal_nodes(sc: Scene) -> None:
    """A few small (< 1 cm short axis) nodes every patient has, so a node alone is not a finding."""
    stations = list(node_stations(sc).values())
    for k in sc.rng.choice(len(stations), size=3, replace=False):
        semi = np.array([6, 3.5, 4.5]) * sc.rng.uniform(0.6, 1.0)
        _node(sc, stations[k] + sc.rng.normal(0, 3, 3), semi, None)


def paint_lymphadenopathy(sc: Scene, task: int, sev: float) -> None:
    """1-5 enlarged nodes with short axis 11-30 mm at mediastinal and hilar stations."""
    stations = node_stations(sc)
    names = list(stations)
    count = 1 + int(round(4 * sev * sc.rng.random()))
    chosen = sc.rng.choice(len(names), size=min(count, len(names)), replace=False)
    sizes = []
    for k in chosen:
        short = 11 + 19 * sev * sc.rng.uniform(0.6, 1.0)
        semi = np.array([short * 0.65, short / 2, short / 2 * 1.1])
        _node(sc, stations[names[k]] + sc.rng.normal(0, 2, 3), semi, task)
        sizes.append(round(float(short)))
    sc.details["Lymphadenopathy"] = {"stations": [names[k] for k in chosen], "short_axis_mm": sizes}


def paint_hiatal_hernia(sc: Scene, task: int, sev: float) -> None:
    """Stomach herniated above the diaphragm behind the heart, with fluid and an air cap."""
    s, m = sc.body, sc.med
    size = 22 + 50 * sev
    hiatus = m.esophagus[2]
    center = np.array([max(s.dome_l, hiatus[0]) + 0.35 * size, hiatus[1] + 2, hiatus[2] - 6])
    semi = np.array([0.55 * size, 0.45 * size, 0.5 * size])
    _blob(sc, center, semi, HU["soft"], task, TS["stomach"])
    _blob(sc, center + np.array([0, 1, 0]), semi - 3.5, HU["fluid"], None)
    _blob(
        sc,
        center + np.array([0.35 * semi[0], -0.2 * semi[1], 0]),
        np.array([0.3, 0.6, 0.6]) * semi,
        HU["air"],
        None,
    )
    sc.details["Hiatal hernia"] = {"size_mm": round(size)}


def paint_aortic_calcification(sc: Scene, task: int, sev: float) -> None:
    """Calcified plaques on the wall of the arch and descending aorta."""
    pts, radii = sc.med.aorta, sc.med.aorta_radius
    count = 2 + int(28 * sev)
    for _ in range(count):
        seg = int(sc.rng.integers(1, len(pts) - 1))
        t = sc.rng.random()
        c = pts[seg] + t * (pts[seg + 1] - pts[seg])
        r = radii[seg] + t * (radii[seg + 1] - radii[seg])
        d = sc.rng.normal(0, 1, 3)
        d -= (
            d
            @ (pts[seg + 1] - pts[seg])
            / np.sum((pts[seg + 1] - pts[seg]) ** 2)
            * (pts[seg + 1] - pts[seg])
        )
        d /= max(np.linalg.norm(d), 1e-6)
        size = 1.5 + 3.5 * sev * sc.rng.random() + 0.8
        _blob(sc, c + d * (r - 0.5), np.array([size * 1.5, size, size]), 450 + 500 * sev, task)
    sc.details["Arterial wall calcification"] = {
        "extent": "diffuse" if sev > 0.5 else "focal",
        "site": "aortic arch and descending aorta",
    }


def paint_coronary_calcification(sc: Scene, task: int, sev: float) -> None:
    """Calcified spots along the coronary courses on the heart surface (LAD, LCx, RCA)."""
    m = sc.med
    u, v, w = m.frame
    lv = next(ch for ch in m.chambers if ch.name == "lv")
    rv = next(ch for ch in m.chambers if ch.name == "rv")
    count = 1 + int(12 * sev)
    vessels = []
    for _ in range(count):
        vessel = str(sc.rng.choice(["LAD", "LCx", "RCA"], p=[0.5, 0.25, 0.25]))
        t = sc.rng.uniform(-0.5, 0.4)
        if vessel == "LAD":
            base, dirn = lv, 0.6 * v - 0.8 * w
        elif vessel == "LCx":
            base, dirn = lv, -0.7 * v - 0.3 * w
            t = -0.6
        else:
            base, dirn = rv, 0.6 * v + 0.5 * w
            t = -0.55
        dirn = dirn / np.linalg.norm(dirn)
        point = base.center + t * base.semi[0] * u + dirn * (base.semi[1:].mean() + 1.5)
        point += sc.rng.normal(0, 3, 3)
        size = 1.2 + 2.5 * sev * sc.rng.random() + 0.6
        _blob(sc, point, np.full(3, size), 500 + 450 * sev, task)
        vessels.append(vessel)
    sc.details["Coronary artery wall calcification"] = {
        "vessels": sorted(set(vessels)),
        "extent": "extensive" if sev > 0.6 else "mild",
    }


def paint_medical_material(sc: Scene, task: int, sev: float) -> None:
    """Devices: sternotomy wires, pacemaker with leads, port catheter, surgical clips."""
    s, m = sc.body, sc.med
    options = ["sternotomy wires", "pacemaker", "port catheter", "surgical clips"]
    n = 1 + int(sev > 0.6) + int(sev > 0.9)
    devices = list(sc.rng.choice(options, size=n, replace=False))
    ra = next(ch for ch in m.chambers if ch.name == "ra")
    rv = next(ch for ch in m.chambers if ch.name == "rv")
    front = s.y_cav - s.b_cav - 8
    for dev in devices:
        if dev == "sternotomy wires":
            for k in range(5):
                zc = s.carina + 40 - k * 22
                _blob(sc, np.array([zc, front, s.x0]), np.array([1.5, 5, 9]), HU["metal"], task)
        elif dev == "pacemaker":
            box_c = np.array(
                [s.carina + 45, s.y0 - s.b_body + s.fat * 0.6 + 4, s.x0 + 0.55 * s.a_body]
            )
            _blob(sc, box_c, np.array([22, 4, 20]), HU["metal"], task)
            lead = np.stack([box_c, box_c + np.array([25, 25, -45]), ra.center, rv.center])
            _lead(sc, lead, task)
        elif dev == "port catheter":
            port = np.array(
                [s.carina + 50, s.y0 - s.b_body + s.fat * 0.6 + 3, s.x0 - 0.5 * s.a_body]
            )
            _blob(sc, port, np.array([10, 6, 12]), 1800.0, task)
            _lead(
                sc,
                np.stack([port, port + np.array([30, 30, 25]), ra.center + np.array([20, 0, 0])]),
                task,
            )
        else:
            for _ in range(3 + int(5 * sev)):
                p = m.esophagus[2] + sc.rng.normal(0, 12, 3)
                _blob(sc, p, np.array([2.5, 1.2, 1.2]), HU["metal"], task)
    sc.details["Medical material"] = {"devices": devices}


def _lead(sc: Scene, pts: np.ndarray, task: int) -> None:
    for a, b in zip(pts[:-1], pts[1:]):
        drawn = capsule(sc.canvas.grid, a, b, 2.0)
        if drawn is None:
            continue
        box, d = drawn
        inside = d < max(1.2, 0.5 * min(sc.canvas.grid.spacing))
        sc.canvas.paint(box, inside, 2000.0)
        sc.canvas.mark(box, inside, task)
