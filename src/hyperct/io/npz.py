"""Read CT arrays saved with numpy (.npz/.npy), as RAD-ChestCT distributes its volumes.

Such files carry no geometry. The array is taken as (z, y, x) already in the canonical order
(slice 0 inferior, rows anterior->posterior, columns patient right->left) and in HU; the voxel
spacing comes from a ``spacing`` entry in the archive if present, else from the caller
(RAD-ChestCT: 0.8 mm isotropic). These are assumptions about the source, logged once per read.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np

from hyperct.io.errors import CTReadError

logger = logging.getLogger(__name__)

#: Keys tried, in order, for the volume inside an .npz archive.
ARRAY_KEYS = ("ct", "volume", "arr_0", "data", "image")
DEFAULT_NPZ_SPACING = (0.8, 0.8, 0.8)


def load_npz(
    path: Path, spacing: tuple[float, float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (array, canonical affine, meta) of a numpy-saved CT volume."""
    try:
        if path.suffix.lower() == ".npy":
            array, stored_spacing = np.load(path, allow_pickle=False), None
        else:
            with np.load(path, allow_pickle=False) as archive:
                array = archive[_array_key(path, list(archive.keys()))]
                stored_spacing = archive["spacing"] if "spacing" in archive else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CTReadError(f"{path}: not a readable numpy volume ({exc})") from exc
    chosen = tuple(
        float(s)
        for s in (stored_spacing if stored_spacing is not None else spacing or DEFAULT_NPZ_SPACING)
    )
    if array.ndim != 3 or array.dtype.kind not in "iuf":
        raise CTReadError(
            f"{path}: expected a 3-D numeric array, got shape {array.shape} dtype {array.dtype}"
        )
    sz, sy, sx = chosen
    affine = np.array(
        [[0, 0, -sx, 0], [0, -sy, 0, 0], [sz, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64
    )
    logger.debug(
        "%s: numpy volume taken as canonical (S, P, L) HU with spacing %s mm", path, chosen
    )
    return (
        array,
        affine,
        {
            "format": "numpy",
            "assumed_orientation": "SPL",
            "spacing_source": "file" if stored_spacing is not None else "assumed",
        },
    )


def _array_key(path: Path, keys: list[str]) -> str:
    for key in ARRAY_KEYS:
        if key in keys:
            return key
    arrays = [k for k in keys if k != "spacing"]
    if len(arrays) == 1:
        return arrays[0]
    raise CTReadError(
        f"{path}: cannot tell which array is the CT among keys {keys}; expected one of {ARRAY_KEYS}"
    )
