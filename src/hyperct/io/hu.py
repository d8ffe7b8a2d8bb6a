"""Decide whether a volume still needs a stored->HU rescale known only from metadata.

Some archives (CT-RATE) give RescaleSlope/RescaleIntercept in a metadata table while the
volumes were, depending on the release, saved either as stored values or already in HU.
Applying the rescale twice shifts every voxel by the intercept, so the decision is made from
the data: a chest CT in HU has most voxels either in the air/lung range or in the fat/soft-tissue
range; whichever interpretation (as read, or rescaled) puts more voxels there wins.
"""

from __future__ import annotations

import logging

import numpy as np

from hyperct.io.volume import Volume

logger = logging.getLogger(__name__)

#: HU ranges holding most voxels of any chest CT: air and lung, fat and soft tissue.
TISSUE_RANGES = ((-1050.0, -600.0), (-150.0, 150.0))


def tissue_fraction(values: np.ndarray) -> float:
    """Fraction of ``values`` (taken as HU) that fall in the air/lung or fat/soft-tissue ranges."""
    hits = np.zeros(values.shape, dtype=bool)
    for low, high in TISSUE_RANGES:
        hits |= (values >= low) & (values <= high)
    return float(hits.mean())


def apply_metadata_rescale(volume: Volume, slope: float, intercept: float) -> Volume:
    """Apply ``slope``/``intercept`` unless the volume is already in HU; record the decision in meta."""
    if slope == 1 and intercept == 0:
        volume.meta["hu_rescale"] = "identity rescale, nothing to apply"
        return volume
    sample = volume.array[::4, ::4, ::4].astype(np.float32)
    as_read = tissue_fraction(sample)
    rescaled = tissue_fraction(sample * np.float32(slope) + np.float32(intercept))
    if rescaled > as_read:
        decision = f"applied metadata rescale slope={slope} intercept={intercept}"
        array = volume.array.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        if float(slope).is_integer() and float(intercept).is_integer():
            array = np.rint(array).astype(np.int16 if np.abs(array).max() < 32767 else np.int32)
        volume = Volume(array, volume.spacing, volume.affine, volume.source, dict(volume.meta))
    else:
        decision = f"already HU, metadata rescale slope={slope} intercept={intercept} not applied"
    decision += f" (tissue fraction as read {as_read:.2f}, rescaled {rescaled:.2f})"
    volume.meta["hu_rescale"] = decision
    logger.info("%s: %s", volume.name, decision)
    return volume
