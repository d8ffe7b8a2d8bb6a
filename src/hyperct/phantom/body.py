"""Patient body geometry: habitus, breathing depth and the levels every other structure uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperct.phantom.grid import Grid
from hyperct.phantom.patient import PatientState


@dataclass(frozen=True)
class BodyShape:
    """Sizes and levels of one patient's chest on one scan grid (mm, grid-centred coordinates).

    ``a_*`` are half-widths (x), ``b_*`` half-depths (y); the thoracic cavity is the region
    inside the ribs; ``apex``/``dome_r``/``dome_l``/``carina`` are z levels.
    """

    a_body: float
    b_body: float
    fat: float
    muscle: float
    y0: float
    x0: float
    a_cav: float
    b_cav: float
    y_cav: float
    apex: float
    dome_r: float
    dome_l: float
    carina: float
    depth: float
    y_spine: float
    r_vert: float

    @property
    def lung_height(self) -> float:
        return self.apex - min(self.dome_r, self.dome_l)

    def cavity_scale(self, z: np.ndarray) -> np.ndarray:
        """Width factor of the cavity at height z: tapers to 0 at the apex, widest at the base."""
        top = np.sqrt(np.clip((self.apex + 4 - z) / 75.0, 0, 1))
        return top * (0.86 + 0.14 * np.clip((self.apex - z) / (0.6 * self.lung_height), 0, 1))

    def dome(self, side: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Height of the diaphragm under lung ``side`` (-1 right, +1 left) at (y, x)."""
        top = self.dome_r if side < 0 else self.dome_l
        xs = side * 0.45 * self.a_cav + self.x0
        r2 = ((x - xs) / self.a_cav) ** 2 + ((y - self.y_cav + 0.1 * self.b_cav) / self.b_cav) ** 2
        return top - 70.0 * r2 - 25.0 * np.clip((y - self.y_cav) / self.b_cav, 0, 1)


def sample_body(p: PatientState, grid: Grid, rng: np.random.Generator) -> BodyShape:
    """Draw a body that fits the grid, sized by sex and BMI, positioned and breathing at random."""
    ext_z, ext_y, ext_x = grid.extent
    male = p.sex == "M"
    a = 148 + 4.2 * (p.bmi - 27) + 12 * male + rng.normal(0, 8)
    b = 98 + 3.6 * (p.bmi - 27) + 7 * male + rng.normal(0, 7)
    scale = min(1.0, 0.46 * ext_x / a, 0.40 * ext_y / b)
    a, b = a * scale, b * scale
    fat = float(np.clip((4 + 2.4 * (p.bmi - 21)) * scale * rng.normal(1, 0.15), 3, 0.25 * b))
    muscle = (9 + 4 * male + rng.normal(0, 1.5)) * scale
    y0 = float(np.clip(rng.normal(0.04 * ext_y, 8), -0.45 * ext_y + b + 5, 0.45 * ext_y - b - 5))
    x0 = float(rng.normal(0, 6))
    depth = float(rng.uniform(0.0, 1.0))
    height = (205 + 10 * male + rng.normal(0, 14) + 35 * depth) * min(1.0, scale * 1.05)
    apex = ext_z / 2 - rng.uniform(8, 28)
    height = min(height, apex + ext_z / 2 - 45)
    dome_r = apex - height
    a_cav, b_cav = a - fat - muscle - 11, b - fat - muscle - 11
    y_cav = y0 + 0.08 * b
    return BodyShape(
        a_body=float(a),
        b_body=float(b),
        fat=fat,
        muscle=float(muscle),
        y0=y0,
        x0=x0,
        a_cav=float(a_cav),
        b_cav=float(b_cav),
        y_cav=float(y_cav),
        apex=float(apex),
        dome_r=float(dome_r),
        dome_l=float(dome_r - rng.uniform(6, 22)),
        carina=float(apex - 0.36 * height),
        depth=depth,
        y_spine=float(y_cav + 0.66 * b_cav),
        r_vert=float(np.clip(0.17 * b_cav * rng.normal(1, 0.06), 11, 22)),
    )
