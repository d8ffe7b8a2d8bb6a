"""Input quality control before the model: is this scan like the ones the model was trained on?

Each check returns a :class:`QCFlag` when the scan falls outside the expected range. The checks
need no segmentation model, so they run on every upload in milliseconds:

- **field of view**: lungs (-1000..-500 HU) must cover at least ``min_lung_mm`` of the body axis
  and ``min_lung_ml`` of volume, counting slices with at least 30 cm² of lung; a scan of the
  abdomen or a few slices of the chest is flagged;
- **slice thickness**: slice spacing above ``max_slice_mm`` (thicker than the training data);
- **contrast**: the 75th percentile of soft tissue (0..500 HU, more than 5 mm from bone) inside
  the lungs' bounding box, over the slices with lung. Unenhanced blood and muscle read 40-55 HU
  there; an enhanced blood pool (heart, aorta) 150-300 HU lifts it above ``max_mediastinum_p75_hu``
  (80 HU by default: 51-52 HU on the non-contrast scans of the shared test data, 99-129 HU on the
  enhanced ones).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from hyperct.io.volume import Volume

LUNG_HU = (-1000.0, -500.0)
SOFT_TISSUE_HU = (0.0, 500.0)
BONE_HU = 500.0
BONE_MARGIN_MM = 5.0
MIN_LUNG_AREA_CM2 = 30.0
QC_PIXEL_MM = 2.0  # in-plane sampling of the contrast check: finer grids are strided to ~2 mm


@dataclass(frozen=True)
class QCFlag:
    """One way the scan differs from the training data; ``code`` is stable for programs."""

    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QCExpectations:
    """What a scan the model was trained on looks like (defaults: a non-contrast chest CT)."""

    min_lung_mm: float = 60.0
    min_lung_ml: float = 300.0
    max_slice_mm: float = 5.0
    contrast: bool = False
    max_mediastinum_p75_hu: float = 80.0


def check_scan(volume: Volume, expect: QCExpectations = QCExpectations()) -> list[QCFlag]:
    """Every flag the scan raises (an empty list: nothing unusual was found)."""
    hu = volume.array
    lung_slices = _lung_slices(hu, volume.spacing)
    flags = []
    lung_mm = len(lung_slices) * volume.spacing[0]
    lung_ml = float(sum(_lung(hu[k]).sum() for k in lung_slices) * np.prod(volume.spacing) / 1000)
    if lung_mm < expect.min_lung_mm or lung_ml < expect.min_lung_ml:
        flags.append(QCFlag(
            "field_of_view",
            f"the field of view covers {lung_mm:.0f} mm and {lung_ml:.0f} mL of lung (expected at "
            f"least {expect.min_lung_mm:.0f} mm and {expect.min_lung_ml:.0f} mL: the lungs and "
            "heart of a chest CT)",
        ))
    if volume.spacing[0] > expect.max_slice_mm:
        flags.append(QCFlag(
            "slice_thickness",
            f"slice spacing {volume.spacing[0]:.2f} mm is above the training range "
            f"(at most {expect.max_slice_mm:.1f} mm)",
        ))
    if not expect.contrast and lung_slices:
        p75 = mediastinum_p75(volume, lung_slices)
        if p75 > expect.max_mediastinum_p75_hu:
            flags.append(QCFlag(
                "contrast",
                f"looks contrast-enhanced: soft tissue between the lungs reads {p75:.0f} HU at its "
                f"75th percentile (non-contrast at most {expect.max_mediastinum_p75_hu:.0f} HU); "
                "the model was trained on non-contrast CT",
            ))
    return flags


def mediastinum_p75(volume: Volume, lung_slices: list[int] | None = None) -> float:
    """75th percentile HU of soft tissue away from bone inside the lungs' bounding box."""
    hu = volume.array
    slices = _lung_slices(hu, volume.spacing) if lung_slices is None else lung_slices
    stride = max(1, int(round(QC_PIXEL_MM / volume.spacing[1])))
    margin = max(1, int(round(BONE_MARGIN_MM / (volume.spacing[1] * stride))))
    if not slices:
        return float("nan")
    stack = hu[slices, ::stride, ::stride]
    in_plane = np.zeros((1, 3, 3), bool)
    in_plane[0] = ndimage.generate_binary_structure(2, 1)
    near_bone = ndimage.binary_fill_holes(  # one call over all slices, each slice on its own
        ndimage.binary_dilation(stack > BONE_HU, structure=in_plane, iterations=margin),
        structure=in_plane,
    )
    values = []
    for image, bone in zip(stack, near_bone):
        ys, xs = np.nonzero(_lung(image))
        y0, y1 = np.percentile(ys, [5, 95]).astype(int)
        x0, x1 = np.percentile(xs, [5, 95]).astype(int)
        box = image[y0:y1, x0:x1]
        keep = (box >= SOFT_TISSUE_HU[0]) & (box <= SOFT_TISSUE_HU[1]) & ~bone[y0:y1, x0:x1]
        values.append(box[keep])
    tissue = np.concatenate(values)
    return float(np.percentile(tissue, 75)) if tissue.size else float("nan")


def _lung(image: np.ndarray) -> np.ndarray:
    return (image >= LUNG_HU[0]) & (image <= LUNG_HU[1])


def _lung_slices(hu: np.ndarray, spacing: tuple[float, float, float]) -> list[int]:
    pixel_cm2 = spacing[1] * spacing[2] / 100
    area = _lung(hu).reshape(hu.shape[0], -1).sum(axis=1) * pixel_cm2
    return [int(k) for k in np.nonzero(area >= MIN_LUNG_AREA_CM2)[0]]
