"""Typed settings of a phantom cohort: size, seed, preset grids, cohort mix, DICOM share."""

from __future__ import annotations

from dataclasses import dataclass

COHORTS = ("internal", "external", "prospective")


@dataclass(frozen=True)
class GridPreset:
    """Ranges the scan grids are drawn from: in-plane size (px), slices, z coverage (mm)."""

    in_plane: tuple[int, int]
    slices: tuple[int, int]
    z_extent_mm: tuple[float, float]

    def __post_init__(self) -> None:
        for name in ("in_plane", "slices", "z_extent_mm"):
            lo, hi = getattr(self, name)
            if not 8 <= lo <= hi:
                raise ValueError(
                    f"grid preset {name} must be (low, high) with 8 <= low <= high, got {(lo, hi)}"
                )


PRESETS = {
    "tiny": GridPreset(in_plane=(48, 64), slices=(24, 32), z_extent_mm=(290, 340)),
    "small": GridPreset(in_plane=(96, 128), slices=(48, 80), z_extent_mm=(290, 340)),
    "default": GridPreset(in_plane=(256, 320), slices=(120, 200), z_extent_mm=(290, 340)),
}


@dataclass(frozen=True)
class PhantomConfig:
    """A synthetic cohort.

    Attributes:
        n: number of scans over all cohorts.
        seed: everything is a deterministic function of it (scan i is drawn from (seed, i)).
        preset: "small" (demo: ~96-128 px, 48-80 slices), "default" (~256-320 px, 120-200
            slices) or "tiny" (unit tests: 48-64 px, 24-32 slices).
        cohort_fractions: shares of internal, external and prospective scans.
        split_fractions: patient-level train/val/test shares of the internal cohort.
        dicom_fraction: share of scans written as DICOM series instead of NIfTI (at least one
            when n >= 10 and the fraction is positive).
        follow_up_fraction: share of internal patients with a second, later scan.
        workers: processes (1 runs inline; 0 uses every core).
        preview: number of scans (the first ones) with a PNG preview in DIR/preview.
    """

    n: int = 100
    seed: int = 0
    preset: str = "small"
    cohort_fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    dicom_fraction: float = 0.05
    follow_up_fraction: float = 0.15
    workers: int = 1
    preview: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; expected one of {sorted(PRESETS)}")
        for name in ("cohort_fractions", "split_fractions"):
            vals = getattr(self, name)
            if len(vals) != 3 or min(vals) < 0 or abs(sum(vals) - 1) > 1e-6:
                raise ValueError(
                    f"{name} must be three non-negative shares summing to 1, got {vals}"
                )
        for name in ("dicom_fraction", "follow_up_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.workers < 0 or self.preview < 0:
            raise ValueError("workers and preview must be non-negative")
