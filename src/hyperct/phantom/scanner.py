"""Scanner model: blur (reconstruction kernel + slice profile), correlated noise, HU offset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hyperct.phantom.grid import Box, Grid


@dataclass(frozen=True)
class ScannerProfile:
    """One scanner: noise std after blur (HU), in-plane blur FWHM-ish sigma (mm), HU offset."""

    name: str
    noise_hu: tuple[float, float]
    blur_mm: tuple[float, float]
    hu_offset: tuple[float, float]
    fov_mm: tuple[float, float]

    def __post_init__(self) -> None:
        for f in ("noise_hu", "blur_mm", "fov_mm"):
            lo, hi = getattr(self, f)
            if not 0 <= lo <= hi:
                raise ValueError(
                    f"scanner {self.name}: {f} must be (low, high) with 0 <= low <= high"
                )


SCANNERS = {
    "internal": ScannerProfile("internal", (10, 22), (0.5, 0.9), (-5, 5), (330, 420)),
    "external": ScannerProfile("external", (18, 35), (0.9, 1.5), (10, 30), (380, 480)),
}


def acquire(
    hu: np.ndarray,
    grid: Grid,
    profile: ScannerProfile,
    rng: np.random.Generator,
    box: Box | None = None,
) -> np.ndarray:
    """Blur the ideal HU volume in-plane, add correlated noise, offset, return int16 HU.

    The noise is white noise blurred with the same kernel and scaled to the target std (the
    texture of real CT noise). It is drawn for a block of slices and reused along z with random
    shifts, which costs a fraction of drawing it for every voxel and is not visibly periodic.
    Only ``box`` (the body; uniform air lies outside it) is blurred. ``hu`` is modified in place.
    """
    sigma_mm = rng.uniform(*profile.blur_mm)
    sigma = (sigma_mm / grid.spacing[1], sigma_mm / grid.spacing[2])
    box = box or grid.full_box()
    hu[box] = _blur_inplane(np.ascontiguousarray(hu[box]), sigma)
    out = hu
    block = min(hu.shape[0], 12)
    white = rng.standard_normal((block,) + hu.shape[1:], dtype=np.float32)
    noise = _blur_inplane(white, sigma)
    noise *= np.float32(rng.uniform(*profile.noise_hu) / max(float(noise.std()), 1e-6))
    for k0 in range(0, hu.shape[0], block):
        n = min(block, hu.shape[0] - k0)
        shift = tuple(int(v) for v in rng.integers(0, hu.shape[1], 2))
        out[k0 : k0 + n] += np.roll(noise[:n], shift, axis=(1, 2))
    out += np.float32(rng.uniform(*profile.hu_offset))
    np.clip(out, -1024, 3071, out=out)
    return np.rint(out, out=out).astype(np.int16)


def _blur_inplane(a: np.ndarray, sigma: tuple[float, float]) -> np.ndarray:
    out = gaussian_filter1d(a, sigma[1], axis=2, mode="nearest", truncate=2.5)
    return gaussian_filter1d(out, sigma[0], axis=1, mode="nearest", truncate=2.5, output=out)
