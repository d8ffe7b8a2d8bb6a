"""What finding painters share: the canvas, the body and mediastinum, and lung-box helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hyperct.phantom.anatomy import LOBE_NAMES, cavity_radius, lung_mask, thorax_box
from hyperct.phantom.body import BodyShape
from hyperct.phantom.canvas import Canvas
from hyperct.phantom.grid import Box
from hyperct.phantom.heart import Mediastinum


@dataclass
class Scene:
    """One scan being drawn. ``details`` collects what each finding drew (for the report)."""

    canvas: Canvas
    body: BodyShape
    med: Mediastinum
    rng: np.random.Generator
    details: dict[str, dict] = field(default_factory=dict)

    @cached_property
    def box(self) -> Box:
        """Thorax box: every lung finding is computed inside it."""
        return thorax_box(self.canvas, self.body)

    @cached_property
    def coords(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.canvas.grid.coords(self.box)

    @cached_property
    def radius(self) -> np.ndarray:
        """Normalised cavity radius in the thorax box (1 at the inner chest wall)."""
        return cavity_radius(self.canvas, self.body, self.box)

    @cached_property
    def zn(self) -> np.ndarray:
        """Height in the lungs: 0 at the bases, 1 at the apex."""
        s = self.body
        base = min(s.dome_r, s.dome_l) - 30
        return (self.coords[0] - base) / (s.apex - base)

    @cached_property
    def yn(self) -> np.ndarray:
        """-1 anterior .. +1 posterior chest wall."""
        return (self.coords[1] - self.body.y_cav) / self.body.b_cav

    def lungs(self) -> np.ndarray:
        """Current lung voxels in the thorax box."""
        return lung_mask(self.canvas, self.box)

    def side(self, which: str) -> np.ndarray:
        """Broadcastable mask of the right or left half of the thorax box."""
        x = self.coords[2]
        return x < self.body.x0 if which == "right" else x >= self.body.x0

    def random_lung_point(
        self, lobe: int | None = None, depth: float = 0.85
    ) -> tuple[np.ndarray, str]:
        """A random point (mm) inside the lungs (or one lobe), away from the chest wall."""
        lab = self.canvas.labels[self.box]
        ok = (lab == lobe) if lobe is not None else ((lab >= 10) & (lab <= 14))
        ok &= self.radius < depth
        idx = np.flatnonzero(ok[::2, ::2, ::2])
        if len(idx) == 0:
            idx = np.flatnonzero(((lab >= 10) & (lab <= 14))[::2, ::2, ::2])
        k = np.unravel_index(self.rng.choice(idx), ok[::2, ::2, ::2].shape)
        ijk = [self.box[i].start + 2 * k[i] for i in range(3)]
        g = self.canvas.grid
        point = np.array([g.axis(i)[ijk[i]] for i in range(3)], dtype=float)
        return point, LOBE_NAMES.get(int(self.canvas.labels[tuple(ijk)]), "lung")
