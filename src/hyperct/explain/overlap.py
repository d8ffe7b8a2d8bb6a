"""How well a saliency map points at a ground-truth finding mask.

Two standard checks: the fraction of the map's mass inside the mask compared with the mask's
volume fraction (chance level for a map spread uniformly; ratio > 1 means better than chance),
and the pointing game (is the map's maximum inside the mask).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Overlap:
    """``mass_in_mask`` vs ``mask_fraction``; ``ratio`` = their quotient; ``pointing_hit``."""

    mass_in_mask: float
    mask_fraction: float
    ratio: float
    pointing_hit: bool

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


def saliency_overlap(
    saliency: np.ndarray, mask: np.ndarray, region: np.ndarray | None = None
) -> Overlap:
    """Compare a non-negative map with a boolean mask of the same shape.

    ``region`` (e.g. the body) sets the chance level: a map spread uniformly over the region
    puts ``mask_fraction`` = |mask & region| / |region| of its mass in the mask. Without it the
    whole volume is the region, which flatters any map that merely avoids the air around the body.
    """
    if saliency.shape != mask.shape or (region is not None and region.shape != mask.shape):
        raise ValueError(
            f"saliency {saliency.shape}, mask {mask.shape} (and region) differ in shape"
        )
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("the mask is empty: no finding to point at")
    area = np.ones_like(mask) if region is None else region.astype(bool)
    total = float(saliency.sum())
    fraction = float((mask & area).sum()) / float(area.sum())
    mass = float(saliency[mask].sum()) / total if total > 0 else float("nan")
    hit = bool(mask.flat[int(np.argmax(saliency))]) if total > 0 else False
    ratio = mass / fraction if fraction > 0 else float("nan")
    return Overlap(mass_in_mask=mass, mask_fraction=fraction, ratio=ratio, pointing_hit=hit)
