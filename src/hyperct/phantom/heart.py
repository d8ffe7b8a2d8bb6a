"""Heart (four chambers, myocardium, epicardial fat, pericardium), great vessels, oesophagus."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperct.anatomy.totalseg import TOTALSEG_V2_IDS as TS
from hyperct.phantom.body import BodyShape
from hyperct.phantom.canvas import HU, Canvas
from hyperct.phantom.cardiac import CardiacState
from hyperct.phantom.grid import capsule, ellipsoid, rotation


@dataclass(frozen=True)
class Chamber:
    name: str
    center: np.ndarray
    semi: np.ndarray
    wall: float


@dataclass(frozen=True)
class Mediastinum:
    """Where the drawn mediastinal structures are, for findings and airways (mm)."""

    chambers: tuple[Chamber, ...]
    frame: np.ndarray
    heart_scale: float
    aorta: np.ndarray
    aorta_radius: np.ndarray
    pa_bifurcation: np.ndarray
    hila: dict[str, np.ndarray]
    trachea_y: float
    esophagus: np.ndarray


def plan_mediastinum(
    s: BodyShape, cs: CardiacState, heart_scale: float, age: float, rng: np.random.Generator
) -> Mediastinum:
    """Place heart chambers and vessels from the body levels and the cardiac state."""
    u = np.array([-0.42, -0.5, 0.76])
    frame = rotation(u, np.array([0.0, -1.0, -1.0]))
    v = frame[1]
    hs = heart_scale * min(1.0, s.a_cav / 125.0) ** 0.5
    hc = np.array([s.dome_l + 46 * hs, s.y_cav - 0.2 * s.b_cav, s.x0 + 0.12 * s.a_cav])
    chambers = _chambers(hc, frame, hs, cs)
    r_asc = float(np.clip(13.5 + 0.06 * (age - 50) + rng.normal(0, 1.2), 11, 22))
    y_es = s.y_spine - s.r_vert - 9
    trachea_y = y_es - 19
    aorta = np.array(
        [
            hc - u * 18 * hs + v * 4 + np.array([18, 0, -4]),
            [s.carina + 2, s.y_cav - 0.62 * s.b_cav, s.x0 - 10],
            [s.carina + 28, trachea_y - 14, s.x0 + 2],
            [s.carina + 22, y_es + 4, s.x0 + 24],
            [s.carina - 45, y_es + 6, s.x0 + s.r_vert + 9],
            [min(s.dome_l, s.dome_r) - 45, y_es + 4, s.x0 + 8],
        ]
    )
    radius = r_asc * np.array([1.0, 1.0, 0.9, 0.8, 0.76, 0.72])
    bif = np.array([s.carina - 10, s.y_cav - 0.22 * s.b_cav, s.x0 + 12])
    hila = {
        "right": np.array([s.carina - 22, trachea_y + 8, s.x0 - 0.36 * s.a_cav]),
        "left": np.array([s.carina - 14, trachea_y + 14, s.x0 + 0.36 * s.a_cav]),
    }
    esophagus = np.array(
        [
            [s.apex + 60, y_es, s.x0 + 3],
            [s.carina, y_es, s.x0 + 5],
            [s.dome_l - 5, y_es - 12, s.x0 + 0.22 * s.a_cav],
            [s.dome_l - 30, s.y_cav - 0.1 * s.b_cav, s.x0 + 0.45 * s.a_cav],
        ]
    )
    return Mediastinum(chambers, frame, hs, aorta, radius, bif, hila, trachea_y, esophagus)


def _chambers(
    hc: np.ndarray, frame: np.ndarray, hs: float, cs: CardiacState
) -> tuple[Chamber, ...]:
    """Atria and ventricles around the heart centre ``hc``, sized by the cardiac state."""
    u, v = frame[0], frame[1]
    rlv = cs.lv_radius_mm * hs
    rv_r = 23.0 * cs.rv_scale * hs
    wall_lv = rlv + cs.lv_wall_mm
    return (
        Chamber(
            "la",
            hc - u * 36 * hs + np.array([8, 0.55 * cs.la_radius_mm, 6]),
            np.full(3, cs.la_radius_mm * hs),
            2.0,
        ),
        Chamber(
            "ra",
            hc - u * 22 * hs + v * 30 * hs + np.array([0, 0, -14]),
            np.array([30, 27, 27]) * hs * cs.rv_scale**0.5,
            2.0,
        ),
        Chamber(
            "rv",
            hc + u * 6 * hs + v * (rlv + 0.4 * rv_r),
            np.array([52 * hs, 0.85 * rv_r, 1.4 * rv_r]),
            4.0,
        ),
        Chamber(
            "lv",
            hc + u * 10 * hs - v * 6 * hs,
            np.array([58 * hs, wall_lv, 1.1 * wall_lv]),
            cs.lv_wall_mm,
        ),
    )


def chamber_radius(c: Canvas, m: Mediastinum, ch: Chamber, pad: float, shift=None):
    """Normalised radius of a chamber ellipsoid grown by ``pad`` mm."""
    center = ch.center if shift is None else ch.center + shift
    frame = m.frame if ch.name in ("lv", "rv") else None
    return ellipsoid(c.grid, center, ch.semi + pad, frame)


def draw_heart(
    c: Canvas,
    m: Mediastinum,
    fat: float,
    effusion: float,
    task_effusion: int,
    task_cardiomegaly: int | None,
) -> None:
    """Pericardium, pericardial fluid (dependent), epicardial fat, chambers with myocardium."""
    shift = np.array([-0.3, 0.4, 0.0]) * effusion
    layers = [
        (fat + effusion + 1.5, HU["skin"], shift),
        (fat + effusion, HU["fluid"], shift),
        (fat, HU["fat"] - 5, None),
    ]
    for k, (pad, value, sh) in enumerate(layers):
        if pad <= fat + 0.01 and k < 2:
            continue
        for ch in m.chambers:
            drawn = chamber_radius(c, m, ch, pad, sh)
            if drawn is None:
                continue
            box, r = drawn
            inside = r < 1
            c.paint(box, inside, value, 0)
            if k == 1:
                c.mark(box, inside, task_effusion)
    for ch in m.chambers:
        drawn = chamber_radius(c, m, ch, 0.0)
        if drawn is None:
            continue
        box, r = drawn
        c.paint(box, r < 1, HU["myocardium"], TS["heart"])
        c.paint(box, r < 1 - ch.wall / ch.semi.min(), HU["blood"])
        if task_cardiomegaly is not None:
            c.mark(box, r < 1, task_cardiomegaly)


def draw_tube(
    c: Canvas,
    pts: np.ndarray,
    radius: np.ndarray | float,
    value: float,
    label: int | None,
    z_max: float | None = None,
) -> None:
    """A tube along a polyline (capsules between consecutive points)."""
    radius = np.broadcast_to(np.asarray(radius, float), (len(pts),))
    for a, b, ra, rb in zip(pts[:-1], pts[1:], radius[:-1], radius[1:]):
        r = max(ra, rb)
        drawn = capsule(c.grid, a, b, r)
        if drawn is None:
            continue
        box, d = drawn
        inside = d < r
        if z_max is not None:
            inside &= c.grid.coords(box)[0] < z_max
        c.paint(box, inside, value, label)


def draw_vessels_and_oesophagus(c: Canvas, s: BodyShape, m: Mediastinum, cs: CardiacState) -> None:
    """Aorta, pulmonary trunk and arteries, SVC, IVC and the oesophagus."""
    draw_tube(c, m.aorta, m.aorta_radius, HU["blood"], TS["aorta"])
    rv = next(ch for ch in m.chambers if ch.name == "rv")
    outflow = rv.center + np.array([0.6 * rv.semi[0], -2, 4])
    pa_r = cs.pa_diameter_mm / 2
    draw_tube(c, np.stack([outflow, m.pa_bifurcation]), pa_r, HU["blood"], 0)
    for side in ("right", "left"):
        draw_tube(c, np.stack([m.pa_bifurcation, m.hila[side]]), 0.62 * pa_r, HU["blood"], 0)
    ra = next(ch for ch in m.chambers if ch.name == "ra")
    svc_top = np.array([s.apex + 60, s.y_cav - 0.35 * s.b_cav, s.x0 - 24])
    draw_tube(
        c,
        np.stack([svc_top, ra.center + np.array([10, 0, 0])]),
        9.5,
        HU["blood"],
        TS["superior_vena_cava"],
    )
    ivc_bottom = np.array([min(s.dome_r, s.dome_l) - 70, s.y_spine - s.r_vert - 18, s.x0 - 18])
    draw_tube(
        c,
        np.stack([ivc_bottom, ra.center - np.array([15, 0, 0])]),
        cs.ivc_diameter_mm / 2,
        HU["blood"],
        TS["inferior_vena_cava"],
    )
    draw_tube(c, m.esophagus, 8.0, HU["soft"], TS["esophagus"])
    draw_tube(c, m.esophagus[:2], 1.8, HU["air"], None)
