"""Reading real TotalSegmentator output (multi-label file and per-structure folder)."""

import nibabel as nib
import numpy as np
import pytest

from hyperct.anatomy.masks import label_voxel_counts, map_to_label_set, read_totalseg
from hyperct.anatomy.totalseg import ABDOMEN, CHEST_LOBES_HEART, TOTALSEG_V2_IDS
from hyperct.io.read import read_ct

SEG = "ts_example_ct_sm_totalseg.nii.gz"


def test_real_multilabel_output_maps_to_lobes(real_ct) -> None:
    ct = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    mask = read_totalseg(real_ct / SEG, like=ct)
    assert mask.shape == ct.shape == (30, 101, 122)
    assert mask.array.dtype == np.uint8
    counts = label_voxel_counts(mask)
    # this 30-slice abdominal crop reaches the lung bases: lower lobes, a sliver of the left upper
    # lobe and one voxel of the right middle lobe; no heart, no right upper lobe
    assert counts["lung_lower_lobe_right"] == 2735
    assert counts["lung_lower_lobe_left"] == 1312
    assert counts["lung_upper_lobe_left"] == 259
    assert counts["lung_middle_lobe_right"] == 1
    assert counts["heart"] == 0 and counts["lung_upper_lobe_right"] == 0
    assert sum(counts.values()) == mask.array.size


def test_real_output_with_abdominal_set(real_ct) -> None:
    counts = label_voxel_counts(read_totalseg(real_ct / SEG, ABDOMEN), ABDOMEN)
    assert counts["liver"] == 38634
    assert counts["spleen"] == 9452
    assert counts["bowel"] == 1020 + 1110 + 12993


def test_per_structure_folder_equals_multilabel_file(real_ct, tmp_path) -> None:
    img = nib.load(real_ct / SEG)
    data = np.asarray(img.dataobj)
    for name in (
        "lung_upper_lobe_left",
        "lung_lower_lobe_left",
        "lung_lower_lobe_right",
        "lung_middle_lobe_right",
    ):
        binary = (data == TOTALSEG_V2_IDS[name]).astype(np.uint8)
        nib.save(nib.Nifti1Image(binary, img.affine), tmp_path / f"{name}.nii.gz")
    from_folder = read_totalseg(tmp_path)
    from_file = read_totalseg(real_ct / SEG)
    assert np.array_equal(from_folder.array, from_file.array)
    assert np.allclose(from_folder.affine, from_file.affine)


def test_empty_folder_and_bad_ids_are_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no per-structure"):
        read_totalseg(tmp_path)
    with pytest.raises(ValueError, match="outside TotalSegmentator"):
        map_to_label_set(np.array([0, 200]), CHEST_LOBES_HEART)


def test_mapping_table() -> None:
    ids = np.array([0, 10, 11, 12, 13, 14, 51, 5, 117])
    assert map_to_label_set(ids).tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 0]


def test_structure_folder_to_multilabel_file(real_ct, tmp_path) -> None:
    from hyperct.anatomy.masks import structures_to_multilabel

    img = nib.load(real_ct / SEG)
    data = np.asarray(img.dataobj)
    for ts_id in (5, 10, 11, 14):
        name = [n for n, i in TOTALSEG_V2_IDS.items() if i == ts_id][0]
        nib.save(
            nib.Nifti1Image((data == ts_id).astype(np.uint8), img.affine),
            tmp_path / f"{name}.nii.gz",
        )
    out = structures_to_multilabel(tmp_path, tmp_path / "out" / "ml.nii.gz")
    combined = np.asarray(nib.load(out).dataobj)
    expected = np.where(np.isin(data, [5, 10, 11, 14]), data, 0)
    assert np.array_equal(combined, expected)
