import nibabel as nib
import numpy as np

from hyperct.phantom.grid import Grid, capsule, ellipsoid, smooth_field


def test_affine_is_canonical_superior_posterior_left():
    g = Grid((10, 12, 14), (2.0, 1.0, 1.5))
    assert nib.aff2axcodes(g.affine()) == ("S", "P", "L")
    centre = g.affine() @ np.array([(10 - 1) / 2, (12 - 1) / 2, (14 - 1) / 2, 1.0])
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)


def test_ellipsoid_volume_matches_formula():
    g = Grid((60, 60, 60), (1.0, 1.0, 1.0))
    box, r = ellipsoid(g, np.zeros(3), np.array([10.0, 8.0, 6.0]))
    assert abs((r < 1).sum() / (4 / 3 * np.pi * 480) - 1) < 0.05


def test_capsule_distance_zero_on_segment():
    g = Grid((20, 20, 20), (1.0, 1.0, 1.0))
    box, d = capsule(g, np.array([-5.5, 0.5, 0.5]), np.array([5.5, 0.5, 0.5]), 3.0)
    assert d.min() < 0.8 and d.shape == tuple(s.stop - s.start for s in box)


def test_smooth_field_shape_and_scale():
    f = smooth_field((30, 40, 50), (4, 4, 4), np.random.default_rng(0))
    assert f.shape == (30, 40, 50) and f.dtype == np.float32
    assert 0.2 < f.std() < 1.5
