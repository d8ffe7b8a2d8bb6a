"""apply_metadata_rescale: applied to stored values, never to a volume already in HU."""

from pathlib import Path

import numpy as np

from hyperct import read_ct
from hyperct.io.hu import apply_metadata_rescale
from hyperct.io.volume import Volume


def test_real_hu_volume_is_left_alone(real_ct: Path) -> None:
    vol = read_ct(real_ct / "ts_chest_crop.nii.gz")
    out = apply_metadata_rescale(vol, 1.0, -1024.0)
    np.testing.assert_array_equal(out.array, vol.array)
    assert out.meta["hu_rescale"].startswith("already HU")


def test_stored_values_are_rescaled_once(real_ct: Path) -> None:
    vol = read_ct(real_ct / "ts_chest_crop.nii.gz")
    stored = Volume(
        (vol.array.astype(np.int32) + 1024).astype(np.int16), vol.spacing, vol.affine, "stored"
    )
    out = apply_metadata_rescale(stored, 1.0, -1024.0)
    np.testing.assert_array_equal(out.array, vol.array)
    assert out.array.dtype == np.int16 and out.meta["hu_rescale"].startswith("applied")
    again = apply_metadata_rescale(out, 1.0, -1024.0)  # a second pass changes nothing
    np.testing.assert_array_equal(again.array, vol.array)


def test_identity_rescale_is_a_no_op(real_ct: Path) -> None:
    vol = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    assert apply_metadata_rescale(vol, 1, 0) is vol
