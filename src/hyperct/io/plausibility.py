"""Is a volume plausibly a CT in Hounsfield units? Checked before a volume is preprocessed.

Values in 0..1 (a normalised export), a uint8 or MRI-like range, HU shifted by +1024 (stored
values without the rescale), a constant volume (all zeros, a DICOM RescaleSlope of 0) would all
be scored as if they were CT; they are refused with the reason instead. The test uses robust
statistics of the voxels inside the field of view (above :data:`PADDING_BELOW_HU`: scanners fill
the outside of the reconstruction circle with -2048 or -3024):

- not constant;
- air present: the 1st percentile lies in :data:`AIR_RANGE_HU` (outside air, trachea, lungs);
- a body present: at least :data:`MIN_BODY_FRACTION` of the voxels lie in
  :data:`SOFT_TISSUE_RANGE_HU` (fat, muscle, blood, organs).

Every real CT in the project's test data and every phantom scan passes with a wide margin
(1st percentile -1024 to -932 HU, 28-61 % soft tissue).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperct.io.errors import CTReadError
from hyperct.io.volume import Volume

PADDING_BELOW_HU = -1500.0
AIR_RANGE_HU = (-1100.0, -850.0)
AIR_PERCENTILE = 1.0
SOFT_TISSUE_RANGE_HU = (-200.0, 300.0)
MIN_BODY_FRACTION = 0.05
#: Statistics are taken on an evenly strided sample of at most this many voxels.
MAX_SAMPLE = 2_000_000


class ImplausibleCTError(CTReadError):
    """The values of a volume do not look like CT Hounsfield units."""


@dataclass(frozen=True)
class HUStatistics:
    """Robust statistics of a volume's values inside the field of view."""

    low: float
    body_fraction: float
    minimum: float
    maximum: float
    inside_fraction: float


def hu_statistics(array: np.ndarray) -> HUStatistics:
    """The statistics :func:`check_plausible_ct` decides on (see the module docstring)."""
    flat = np.asarray(array).ravel()
    sample = flat[:: max(1, flat.size // MAX_SAMPLE)].astype(np.float32)
    inside = sample[sample > PADDING_BELOW_HU]
    if inside.size == 0:
        return HUStatistics(float("nan"), 0.0, float(sample.min()), float(sample.max()), 0.0)
    low, high = SOFT_TISSUE_RANGE_HU
    return HUStatistics(
        low=float(np.percentile(inside, AIR_PERCENTILE)),
        body_fraction=float(((inside >= low) & (inside <= high)).mean()),
        minimum=float(sample.min()),
        maximum=float(sample.max()),
        inside_fraction=inside.size / sample.size,
    )


def implausibility(array: np.ndarray) -> str | None:
    """Why ``array`` is not plausibly CT HU, or None when it is."""
    stats = hu_statistics(array)
    if stats.minimum == stats.maximum:
        return f"every voxel is {stats.minimum:g} (a constant volume)"
    if stats.inside_fraction == 0:
        return f"every voxel is below {PADDING_BELOW_HU:g} HU (padding only)"
    reasons = []
    air_low, air_high = AIR_RANGE_HU
    if stats.low > air_high:
        reasons.append(
            f"no air near -1000 HU: the {AIR_PERCENTILE:g}st percentile is {stats.low:.4g}, "
            f"expected {air_low:g}..{air_high:g} (values in 0..1, 0..255 or HU shifted by "
            "+1024 look like this)"
        )
    elif stats.low < air_low:
        reasons.append(
            f"values far below air: the {AIR_PERCENTILE:g}st percentile is {stats.low:.4g} HU, "
            f"expected {air_low:g}..{air_high:g}"
        )
    if stats.body_fraction < MIN_BODY_FRACTION:
        tissue_low, tissue_high = SOFT_TISSUE_RANGE_HU
        reasons.append(
            f"no body: {stats.body_fraction:.1%} of the voxels lie in the soft-tissue range "
            f"{tissue_low:g}..{tissue_high:g} HU, expected at least {MIN_BODY_FRACTION:.0%}"
        )
    if not reasons:
        return None
    return "; ".join(reasons) + f" (values {stats.minimum:.4g}..{stats.maximum:.4g})"


def check_plausible_ct(volume: Volume) -> None:
    """Raise :class:`ImplausibleCTError` naming the source and the reason unless ``volume`` is CT HU."""
    reason = implausibility(volume.array)
    if reason is not None:
        raise ImplausibleCTError(
            f"{volume.source or '<volume>'}: values are not plausible CT Hounsfield units: "
            f"{reason}. If they are right, pass --allow-implausible."
        )
