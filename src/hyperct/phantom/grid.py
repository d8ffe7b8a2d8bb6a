"""The voxel grid of one phantom scan and the vectorised shape primitives drawn on it.

Coordinates are millimetres relative to the centre of the field of view, along the canonical
axes of :class:`hyperct.io.volume.Volume`: z inferior -> superior, y anterior -> posterior,
x patient right -> left. Every primitive works inside the bounding box of its shape, so drawing
a small structure costs only the voxels near it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Grid:
    """Shape and spacing (mm, z/y/x) of a scan, with mm coordinates of each voxel centre."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 8:
            raise ValueError(f"grid shape must be three sizes of at least 8, got {self.shape}")
        if len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise ValueError(f"grid spacing must be three positive numbers, got {self.spacing}")

    def axis(self, i: int) -> np.ndarray:
        """Voxel-centre coordinates (mm) along axis ``i``, centred on the field of view."""
        n = self.shape[i]
        return ((np.arange(n) - (n - 1) / 2) * self.spacing[i]).astype(np.float32)

    @property
    def extent(self) -> tuple[float, float, float]:
        """Field of view in mm along (z, y, x)."""
        return tuple(n * s for n, s in zip(self.shape, self.spacing))  # type: ignore[return-value]

    def affine(self) -> np.ndarray:
        """Index (z, y, x) -> RAS+ world mm: +z is superior, +y posterior (-A), +x left (-R)."""
        sz, sy, sx = self.spacing
        aff = np.zeros((4, 4))
        aff[0, 2], aff[1, 1], aff[2, 0], aff[3, 3] = -sx, -sy, sz, 1.0
        z0, y0, x0 = (float(self.axis(i)[0]) for i in range(3))
        aff[:3, 3] = (-x0, -y0, z0)
        return aff

    def box(self, lo: np.ndarray, hi: np.ndarray) -> Box | None:
        """Index slices covering the mm box [lo, hi] (z, y, x), clipped; None if empty."""
        out = []
        for i in range(3):
            n, s = self.shape[i], self.spacing[i]
            a = int(np.floor(lo[i] / s + (n - 1) / 2))
            b = int(np.ceil(hi[i] / s + (n - 1) / 2)) + 1
            a, b = max(a, 0), min(b, n)
            if a >= b:
                return None
            out.append(slice(a, b))
        return tuple(out)  # type: ignore[return-value]

    def coords(self, box: Box | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable mm coordinates (z[:,None,None], y[None,:,None], x[None,None,:])."""
        box = box or (slice(None),) * 3
        z, y, x = (self.axis(i)[box[i]] for i in range(3))
        return z[:, None, None], y[None, :, None], x[None, None, :]

    def full_box(self) -> Box:
        return (slice(0, self.shape[0]), slice(0, self.shape[1]), slice(0, self.shape[2]))


def rotation(axis_u: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Orthonormal frame (rows u, v, w) with u along ``axis_u`` and v towards ``hint``."""
    u = np.asarray(axis_u, dtype=np.float64)
    u = u / np.linalg.norm(u)
    v = np.asarray(hint, dtype=np.float64) - np.dot(hint, u) * u
    v = v / np.linalg.norm(v)
    return np.stack([u, v, np.cross(u, v)])


def ellipsoid(
    grid: Grid, center: np.ndarray, semi: np.ndarray, frame: np.ndarray | None = None
) -> tuple[Box, np.ndarray] | None:
    """Normalised radius (<1 inside) of an ellipsoid within its bounding box.

    ``frame`` rows are the ellipsoid axes in (z, y, x); ``semi`` its semi-axes in mm.
    """
    center, semi = np.asarray(center, float), np.asarray(semi, float)
    reach = semi.max() if frame is not None else semi
    box = grid.box(center - reach, center + reach)
    if box is None:
        return None
    z, y, x = grid.coords(box)
    dz, dy, dx = z - center[0], y - center[1], x - center[2]
    if frame is None:
        r2 = (dz / semi[0]) ** 2 + (dy / semi[1]) ** 2 + (dx / semi[2]) ** 2
    else:
        r2 = sum(((f[0] * dz + f[1] * dy + f[2] * dx) / a) ** 2 for f, a in zip(frame, semi))
    return box, np.sqrt(r2).astype(np.float32)


def capsule(
    grid: Grid, p0: np.ndarray, p1: np.ndarray, reach: float
) -> tuple[Box, np.ndarray] | None:
    """Distance (mm) to the segment p0-p1 within its bounding box padded by ``reach``."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    box = grid.box(np.minimum(p0, p1) - reach, np.maximum(p0, p1) + reach)
    if box is None:
        return None
    z, y, x = grid.coords(box)
    d = p1 - p0
    dd = max(float(d @ d), 1e-9)
    az, ay, ax = z - p0[0], y - p0[1], x - p0[2]
    t = np.clip((az * d[0] + ay * d[1] + ax * d[2]) / dd, 0.0, 1.0)
    dist2 = (az - t * d[0]) ** 2 + (ay - t * d[1]) ** 2 + (ax - t * d[2]) ** 2
    return box, np.sqrt(dist2).astype(np.float32)


def smooth_field(
    shape: tuple[int, ...], coarse: tuple[int, int, int], rng: np.random.Generator
) -> np.ndarray:
    """Zero-mean, unit-scale smooth random field: coarse Gaussian noise, linearly upsampled.

    Upsampling is three small matrix products, so a full-volume field costs a few ms.
    """
    c = rng.standard_normal(coarse).astype(np.float32)
    out = c
    for axis, n in enumerate(shape):
        out = np.moveaxis(
            np.tensordot(_interp_matrix(coarse[axis], n), np.moveaxis(out, axis, 0), axes=(1, 0)),
            0,
            axis,
        )
    return out


def _interp_matrix(m: int, n: int) -> np.ndarray:
    """(n, m) linear interpolation weights from m coarse nodes to n fine samples."""
    pos = np.linspace(0, m - 1, n)
    lo = np.clip(np.floor(pos).astype(int), 0, m - 2) if m > 1 else np.zeros(n, int)
    w = pos - lo
    mat = np.zeros((n, m), dtype=np.float32)
    mat[np.arange(n), lo] = 1 - w
    if m > 1:
        mat[np.arange(n), lo + 1] += w
    return mat
