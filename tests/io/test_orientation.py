"""`canonical_grid` gives, from a header alone, the grid `to_canonical` gives with the data;
`from_canonical` undoes `to_canonical`."""

import numpy as np
import pytest

from hyperct.io.orientation import canonical_grid, from_canonical, to_canonical

AFFINES = {
    "ct_rate": np.diag([-0.75, -0.75, 1.5, 1.0]),
    "ras": np.diag([0.8, 0.8, 2.0, 1.0]),
    "permuted": np.array(
        [[0.0, 0.7, 0.0, 5.0], [0.0, 0.0, -1.2, 3.0], [2.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]
    ),
}


@pytest.mark.parametrize("name", list(AFFINES))
def test_canonical_grid_matches_to_canonical(name: str) -> None:
    array = np.zeros((5, 6, 7))
    out, affine, _ = to_canonical(array, AFFINES[name])
    grid_affine, grid_shape = canonical_grid(AFFINES[name], array.shape)
    assert grid_shape == out.shape
    np.testing.assert_allclose(grid_affine, affine)


def test_canonical_grid_ignores_a_fourth_axis() -> None:
    affine, shape = canonical_grid(AFFINES["permuted"], (5, 6, 7, 3))
    assert shape == canonical_grid(AFFINES["permuted"], (5, 6, 7))[1] == (5, 7, 6)
    assert affine.shape == (4, 4)


@pytest.mark.parametrize("name", list(AFFINES))
def test_from_canonical_gives_back_the_original_array_and_affine(name: str) -> None:
    array = np.arange(5 * 6 * 7).reshape(5, 6, 7)
    canonical, affine, axcodes = to_canonical(array, AFFINES[name])
    back, back_affine = from_canonical(canonical, affine, "".join(axcodes))
    np.testing.assert_array_equal(back, array)
    np.testing.assert_allclose(back_affine, AFFINES[name])
