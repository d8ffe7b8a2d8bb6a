"""The 2.5D packing is pinned: image j = slices 3j, 3j+1, 3j+2 (not a strided view)."""

import pytest
import torch

from hyperct.preprocess.packing import pack_triplets, triplet_middle_labels, unpack_triplets


def _numbered(batch: int, n: int) -> torch.Tensor:
    """x[b, k] == 100 * b + k everywhere in the slice."""
    values = 100 * torch.arange(batch)[:, None] + torch.arange(n)[None, :]
    return values[:, :, None, None].expand(batch, n, 4, 5).float()


@pytest.mark.parametrize("n", [165, 9, 3])
def test_consecutive_triplets(n: int) -> None:
    images, mask = pack_triplets(_numbered(2, n))
    assert images.shape == (2, n // 3, 3, 4, 5) and mask.all()
    for b in range(2):
        for j in range(n // 3):
            for c in range(3):
                assert torch.all(images[b, j, c] == 100 * b + 3 * j + c)
    assert images[0, 0, :, 0, 0].tolist() == [0.0, 1.0, 2.0]  # not slices 0, 3, 6


@pytest.mark.parametrize("n, last_real", [(7, 1), (8, 2)])
def test_partial_last_image_is_padded_and_masked(n: int, last_real: int) -> None:
    images, mask = pack_triplets(_numbered(1, n), pad_value=-7.0)
    assert images.shape[1] == 3 and mask.tolist() == [[True, True, False]]
    assert images[0, 2, :last_real, 0, 0].tolist() == [6.0, 7.0][:last_real]
    assert torch.all(images[0, 2, last_real:] == -7.0)


def test_unpack_inverts_pack() -> None:
    x = torch.randn(2, 10, 3, 3)
    images, _ = pack_triplets(x)
    torch.testing.assert_close(unpack_triplets(images, 10), x)


def test_middle_slice_labels() -> None:
    labels = torch.arange(8)[:, None, None].expand(8, 2, 2)
    middle = triplet_middle_labels(labels)
    assert middle.dtype == labels.dtype and middle[:, 0, 0].tolist() == [1, 4, 7]


def test_too_few_dims_refused() -> None:
    with pytest.raises(ValueError, match="N, H, W"):
        pack_triplets(torch.zeros(3, 3))
