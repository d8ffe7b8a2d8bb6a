import matplotlib.pyplot as plt
import numpy as np
import pytest

from hyperct.explain.overlay import axial_mask_figure


def _volume() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16))
    reference = np.zeros(image.shape, bool)
    reference[3, 4:9, 4:9] = True
    predicted = np.zeros(image.shape, bool)
    predicted[6, 2:12, 2:12] = True  # larger, elsewhere: must not choose the slice
    return image, predicted, reference


def test_mask_figure_shows_the_reference_slice_whatever_the_prediction():
    image, predicted, reference = _volume()
    fig = axial_mask_figure(image, predicted, reference, "2d Nodules", window=(-1.0, 1.0))
    assert "slice 3" in fig.axes[0].get_title()
    plt.close(fig)
    fig = axial_mask_figure(image, predicted, None, "no reference", window=(-1.0, 1.0))
    assert "slice 6" in fig.axes[0].get_title()
    plt.close(fig)


def test_mask_figure_refuses_masks_off_the_image_grid():
    image, predicted, reference = _volume()
    with pytest.raises(ValueError, match="image grid"):
        axial_mask_figure(image, predicted[:, :8], reference, "t")


def test_mask_figure_draws_the_slice_it_is_given_and_refuses_one_outside():
    image, predicted, reference = _volume()
    fig = axial_mask_figure(image, predicted, reference, "t", window=(-1.0, 1.0), at=6)
    assert "slice 6" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="slice 8 is outside"):
        axial_mask_figure(image, predicted, reference, "t", at=8)
