"""The three arrays a phantom scan is drawn into: HU, anatomy labels and the findings bitmask."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hyperct.phantom.grid import Box, Grid

#: Non-contrast CT attenuation (HU) of the tissues drawn by the phantom.
HU = {
    "air": -1000.0,
    "lung": -860.0,
    "fat": -100.0,
    "skin": 20.0,
    "muscle": 48.0,
    "blood": 40.0,
    "myocardium": 47.0,
    "fluid": 12.0,
    "liver": 60.0,
    "soft": 38.0,
    "bone_marrow": 240.0,
    "cortex": 750.0,
    "cartilage": 130.0,
    "disc": 85.0,
    "cord": 32.0,
    "node": 40.0,
    "bronchial_wall": 30.0,
    "metal": 3000.0,
    "calcium": 650.0,
    "table": 250.0,
}


@dataclass
class Canvas:
    """HU volume (float32), TotalSegmentator label map (uint8) and findings bitmask (uint32).

    Bit k of :attr:`findings` is set where conventional task id k is drawn.
    """

    grid: Grid
    hu: np.ndarray = field(init=False)
    labels: np.ndarray = field(init=False)
    findings: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.hu = np.full(self.grid.shape, HU["air"], dtype=np.float32)
        self.labels = np.zeros(self.grid.shape, dtype=np.uint8)
        self.findings = np.zeros(self.grid.shape, dtype=np.uint32)

    def paint(
        self, box: Box, where: np.ndarray, value: float | np.ndarray, label: int | None = None
    ) -> None:
        """Set HU (and optionally the label) where ``where`` is true inside ``box``."""
        hu = self.hu[box]
        hu[where] = value if np.isscalar(value) else np.broadcast_to(value, where.shape)[where]
        if label is not None:
            self.labels[box][where] = label

    def blend(self, box: Box, weight: np.ndarray, value: float) -> None:
        """Partial-volume blend: HU <- (1 - w) HU + w value, for anti-aliased thin structures."""
        hu = self.hu[box]
        hu += weight * (value - hu)

    def mark(self, box: Box, where: np.ndarray, task_id: int) -> None:
        """Set findings bit ``task_id`` where ``where`` is true inside ``box``."""
        self.findings[box][where] |= np.uint32(1 << task_id)

    def in_labels(self, box: Box, ids: tuple[int, ...]) -> np.ndarray:
        """Boolean mask of voxels whose label is one of ``ids`` inside ``box``."""
        return np.isin(self.labels[box], ids)
