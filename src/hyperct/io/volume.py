"""The in-memory CT volume every reader returns and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Canonical axis order of :attr:`Volume.array`: (z, y, x) with
#: axis 0 running inferior -> superior, axis 1 anterior -> posterior, axis 2 patient right -> left.
#: So ``volume.array[k]`` is an axial slice already in radiological display convention
#: (top of the image anterior, left of the image the patient's right), and slices are ordered
#: by position along the body axis, never by file name.
CANONICAL_AXES = ("S", "P", "L")


@dataclass
class Volume:
    """A CT volume in Hounsfield units on a canonical grid.

    Attributes:
        array: HU values, shape (z, y, x) in the canonical orientation (see ``CANONICAL_AXES``).
        spacing: voxel size in mm along (z, y, x).
        affine: 4x4 matrix mapping a (z, y, x) index to world coordinates in RAS+ mm
            (the NIfTI / nibabel convention), so ``nibabel.Nifti1Image(array, affine)`` is a
            valid image of the same scan.
        source: where the volume was read from, for error messages and provenance.
        meta: reader-specific facts worth keeping (series UID, original orientation, ...).
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f" ({self.source})" if self.source else ""
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3-D array, got shape {self.array.shape}{where}")
        if len(self.spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in self.spacing):
            raise ValueError(f"voxel spacing must be three positive numbers, got {self.spacing}{where}")
        self.spacing = tuple(float(s) for s in self.spacing)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}{where}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return Path(self.source).name if self.source else "<volume>"
