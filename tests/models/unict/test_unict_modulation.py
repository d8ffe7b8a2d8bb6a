import torch

from hyperct.models.unict.encoders import EncodedCT
from hyperct.models.unict.modulation import MaskFiLM, NoModulation, mask_pooled


def encoded(feature_map: torch.Tensor, slice_mask: torch.Tensor | None = None) -> EncodedCT:
    batch, _, slices = feature_map.shape[:3]
    if slice_mask is None:
        slice_mask = torch.ones(batch, slices, dtype=torch.bool)
    tokens = torch.zeros(batch, slices, 16)
    return EncodedCT(tokens, tokens[:, 0], slice_mask, feature_map, (3 * slices, 8, 8))


def test_mask_pooling_averages_the_features_inside_each_mask():
    features = torch.arange(2 * 1 * 2 * 2, dtype=torch.float32).reshape(1, 2, 1, 2, 2)
    logits = torch.full((1, 2, 1, 2, 2), -30.0)
    logits[0, 0, 0, 0, :] = 30.0  # category 0: the first row of the map
    logits[0, 1] = 30.0  # category 1: everywhere
    pooled, mass = mask_pooled(features, logits, torch.ones(1, 1, dtype=torch.bool))
    torch.testing.assert_close(pooled[0, 0], torch.tensor([0.5, 4.5]))
    torch.testing.assert_close(pooled[0, 1], torch.tensor([1.5, 5.5]))
    torch.testing.assert_close(mass[0], torch.tensor([0.5, 1.0]))


def test_padding_slices_are_left_out_of_the_pooling():
    features = torch.randn(1, 4, 3, 2, 2)
    logits = torch.full((1, 1, 3, 2, 2), 30.0)
    real = torch.tensor([[True, True, False]])
    pooled, mass = mask_pooled(features, logits, real)
    torch.testing.assert_close(pooled[0, 0], features[0, :, :2].mean(dim=(1, 2, 3)))
    torch.testing.assert_close(mass, torch.ones(1, 1))


def test_masks_are_pooled_to_the_feature_grid_and_detached():
    features = torch.randn(2, 8, 2, 4, 4)
    logits = torch.randn(2, 3, 6, 16, 16, requires_grad=True)
    pooled, mass = mask_pooled(features, logits, torch.ones(2, 2, dtype=torch.bool))
    assert pooled.shape == (2, 3, 8) and mass.shape == (2, 3)
    assert not pooled.requires_grad


def test_film_starts_as_the_identity_and_then_depends_on_the_masks():
    torch.manual_seed(0)
    film = MaskFiLM(channels=8, categories=3, dim=16, targets=2)
    latents = [torch.randn(2, 4, 16), torch.randn(2, 5, 16)]
    tokens = encoded(torch.randn(2, 8, 2, 4, 4))
    masks_a, masks_b = torch.randn(2, 3, 2, 4, 4), torch.randn(2, 3, 2, 4, 4)
    for out, x in zip(film(latents, tokens, masks_a), latents):
        torch.testing.assert_close(out, x)
    with torch.no_grad():
        for head in film.films:
            head[-1].weight.normal_()
    a, b = film(latents, tokens, masks_a), film(latents, tokens, masks_b)
    assert not torch.allclose(a[0], b[0]) and not torch.allclose(a[1], b[1])
    assert NoModulation()(latents, tokens, masks_a) is latents
