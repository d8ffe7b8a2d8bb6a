"""Read TotalSegmentator output as users have it and map it onto a small label set.

TotalSegmentator writes either one multi-label NIfTI (``--ml``; voxel values are v2 "total" ids)
or a folder with one binary NIfTI per structure (``heart.nii.gz``, ``lung_upper_lobe_left.nii.gz``,
...). Both are read onto the canonical grid (:func:`hyperct.io.read.read_mask`) and mapped to the
consecutive ids of a :class:`~hyperct.anatomy.totalseg.LabelSet` (0 background, 1..K classes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hyperct.anatomy.totalseg import CHEST_LOBES_HEART, TOTALSEG_V2_IDS, TOTALSEG_V2_NAMES, LabelSet
from hyperct.io.volume import Volume

logger = logging.getLogger(__name__)


def map_to_label_set(labels: np.ndarray, label_set: LabelSet = CHEST_LOBES_HEART) -> np.ndarray:
    """TotalSegmentator v2 ids -> the set's small ids (uint8); structures outside the set -> 0.

    Raises ValueError for negative values or ids above 117, which are not TotalSegmentator v2
    "total" output (another task's or v1's map would be silently misread).
    """
    if labels.size and (labels.min() < 0 or labels.max() > max(TOTALSEG_V2_NAMES)):
        raise ValueError(
            f"label values {int(labels.min())}..{int(labels.max())} are outside TotalSegmentator "
            f"v2 'total' ids 0..{max(TOTALSEG_V2_NAMES)}"
        )
    lut = np.asarray(label_set.lookup_table(), dtype=np.uint8)
    return lut[labels.astype(np.intp, copy=False)]


def read_totalseg(
    path: str | Path, label_set: LabelSet = CHEST_LOBES_HEART, like: Volume | None = None
) -> Volume:
    """Read TotalSegmentator output (multi-label NIfTI or per-structure folder) in small ids.

    Args:
        path: a ``.nii``/``.nii.gz`` multi-label map with v2 ids, or a folder of
            ``<structure>.nii.gz`` files.
        label_set: the classes to keep; other structures become background.
        like: if given, the mask must lie on this CT's grid.

    Returns:
        A :class:`Volume` whose uint8 array holds the set's ids on the canonical grid.
    """
    from hyperct.io.read import read_mask

    path = Path(path)
    if path.is_dir():
        return _read_structure_folder(path, label_set, like)
    mask = read_mask(path, like=like)
    try:
        small = map_to_label_set(mask.array, label_set)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return Volume(
        small,
        mask.spacing,
        mask.affine,
        source=str(path),
        meta={**mask.meta, "label_set": label_set.name},
    )


def _read_structure_folder(folder: Path, label_set: LabelSet, like: Volume | None) -> Volume:
    from hyperct.io.read import read_mask

    out: np.ndarray | None = None
    grid: Volume | None = like
    found, missing = [], []
    for small_id, (cls, structures) in enumerate(label_set.classes, start=1):
        for structure in structures:
            file = _structure_file(folder, structure)
            if file is None:
                missing.append(structure)
                continue
            mask = read_mask(file, like=grid)
            grid = grid or mask
            if out is None:
                out = np.zeros(mask.shape, dtype=np.uint8)
            out[mask.array > 0] = small_id
            found.append(structure)
    if grid is None or out is None:
        raise FileNotFoundError(
            f"{folder}: no per-structure TotalSegmentator files for label set {label_set.name!r} "
            f"(looked for {', '.join(s for _, ss in label_set.classes for s in ss)} as .nii.gz/.nii)"
        )
    if missing:
        logger.warning(
            "%s: no file for %s; those voxels are background", folder, ", ".join(missing)
        )
    return Volume(
        out,
        grid.spacing,
        grid.affine,
        source=str(folder),
        meta={"label_set": label_set.name, "structures": found},
    )


def _structure_file(folder: Path, structure: str) -> Path | None:
    for suffix in (".nii.gz", ".nii"):
        file = folder / f"{structure}{suffix}"
        if file.is_file():
            return file
    return None


def label_voxel_counts(mask: Volume, label_set: LabelSet = CHEST_LOBES_HEART) -> dict[str, int]:
    """Voxels per class name of ``label_set`` in a small-id mask (background included)."""
    counts = np.bincount(mask.array.ravel(), minlength=label_set.num_classes)
    return {name: int(counts[i]) for i, name in enumerate(label_set.class_names)}


def structures_to_multilabel(folder: str | Path, out_path: str | Path) -> Path:
    """Combine a folder of per-structure TotalSegmentator files into one v2-id multi-label NIfTI.

    Files are matched by name (``<structure>.nii.gz`` for any v2 "total" structure); the output
    keeps their grid and affine (uint8), so it stands where TotalSegmentator's ``--ml`` output
    would. Written atomically. Where structures overlap, the higher id wins.
    """
    import nibabel as nib

    from hyperct.io.atomic import atomic_path

    folder = Path(folder)
    files = sorted(
        (TOTALSEG_V2_IDS[s], f)
        for s in TOTALSEG_V2_IDS
        if (f := _structure_file(folder, s)) is not None
    )
    if not files:
        raise FileNotFoundError(
            f"{folder}: no per-structure TotalSegmentator files (<structure>.nii.gz)"
        )
    first = nib.load(files[0][1])
    out = np.zeros(first.shape, dtype=np.uint8)
    for ts_id, file in files:
        img = nib.load(file)
        if img.shape != first.shape or not np.allclose(img.affine, first.affine, atol=1e-3):
            raise ValueError(f"{file}: grid differs from {files[0][1].name} (shape or affine)")
        out[np.asarray(img.dataobj) > 0] = ts_id
    with atomic_path(out_path) as tmp:
        nib.save(nib.Nifti1Image(out, first.affine), tmp)
    logger.info("%s: combined %d structures into %s", folder, len(files), out_path)
    return Path(out_path)
