"""2.5D packing feeds the model the right slices: image j = slices 3j, 3j+1, 3j+2 (not 0, 3, 6)."""

from __future__ import annotations

import torch
from model_helpers import tiny_hyperct

from hyperct.preprocess.packing import pack_triplets


def _volume(slices: int = 9, size: int = 32) -> torch.Tensor:
    """A (z, y, x) volume whose slice k holds values around k, so every slice is recognisable."""
    ramp = torch.arange(slices, dtype=torch.float32)[:, None, None]
    texture = torch.randn(slices, size, size, generator=torch.Generator().manual_seed(0)) * 0.1
    return ramp + texture


def test_image_j_holds_consecutive_slices() -> None:
    volume = _volume(slices=9)
    images, mask = pack_triplets(volume)
    assert images.shape == (3, 3, 32, 32) and mask.tolist() == [True, True, True]
    for j in range(3):
        for c in range(3):
            torch.testing.assert_close(images[j, c], volume[3 * j + c], rtol=0, atol=0)


def test_model_sees_each_triplet_as_one_image() -> None:
    model = tiny_hyperct()
    volume = torch.stack([_volume(slices=9), _volume(slices=9) * -1.0])
    images, mask = pack_triplets(volume)
    task_ids = torch.tensor([1, 3])
    with torch.no_grad():
        features = model.forward_features(images, mask, task_ids)
        for b in range(2):
            for j in range(3):
                manual = volume[b, 3 * j : 3 * j + 3][None, None]
                alone = model.forward_features(
                    manual, torch.ones(1, 1, dtype=torch.bool), task_ids[b : b + 1]
                )
                torch.testing.assert_close(
                    features.cls[b, j], alone.cls[0, 0], rtol=1e-5, atol=1e-5
                )


def test_padded_last_image_is_left_out_of_the_scan_feature() -> None:
    model = tiny_hyperct()
    volume = _volume(slices=7)[None]
    images, mask = pack_triplets(volume)
    assert mask.tolist() == [[True, True, False]]
    with torch.no_grad():
        full = model(images, mask, torch.tensor([2]))
        real_only = model(images[:, :2], mask[:, :2], torch.tensor([2]))
    torch.testing.assert_close(full, real_only, rtol=1e-5, atol=1e-5)
