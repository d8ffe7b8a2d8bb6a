from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperct.explain.api import explain_volume
from hyperct.explain.gradcam import cam_to_grid, gradcam, grid_to_volume
from hyperct.explain.overlap import saliency_overlap
from hyperct.explain.overlay import axial_overlay_figure, pick_slices
from hyperct.io.volume import Volume
from hyperct.models.interface import Capability
from hyperct.preprocess import SliceStackSpec
from hyperct.tasks import TASK_NAMES


class BrightnessModel(nn.Module):
    """Patch tokens = 4x4-pooled pixels; the logit grows with brightness everywhere, so
    Grad-CAM must highlight the bright voxels and nothing else."""

    capabilities = frozenset({Capability.TASK_FEATURES})
    task_names = list(TASK_NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward_features(self, images, image_mask, task_ids, return_patch_tokens, block):  # noqa: ANN001, ANN201
        pooled = F.avg_pool2d(images.flatten(0, 1), 4) * self.scale
        tokens = pooled.permute(0, 2, 3, 1).unflatten(0, images.shape[:2])
        return SimpleNamespace(cls=tokens.mean(dim=(2, 3)), patch_tokens=tokens)

    def forward_head(self, cls, image_mask, task_ids):  # noqa: ANN001, ANN201
        return cls.sum(dim=(-1, -2))


def test_triplet_packing_is_undone() -> None:
    cam = torch.arange(4.0)[:, None, None].expand(4, 2, 2)  # image j has value j
    grid = cam_to_grid(cam, n_slices=11, size=(6, 6))  # 11 slices: last image padded
    assert grid.shape == (11, 6, 6)
    np.testing.assert_array_equal(grid[:, 0, 0], [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3])


def test_grid_to_volume_keeps_a_same_size_map() -> None:
    grid = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(grid_to_volume(grid, (5, 8, 8)), grid, atol=1e-6)
    assert grid_to_volume(grid, (11, 20, 17)).shape == (11, 20, 17)


def test_saliency_lands_on_the_bright_blob_in_the_original_grid() -> None:
    hu = np.full((30, 40, 40), -1000, dtype=np.int16)
    hu[17:23, 8:18, 22:34] = 400  # a blob off-centre in z, y and x
    hu[:, 36:, :] = -150  # a band of fat, so the volume passes as plausible CT
    volume = Volume(hu, (2.0, 1.0, 1.0), np.eye(4), source="blob")
    result = explain_volume(
        BrightnessModel(), volume, SliceStackSpec(slices=15, size=32), TASK_NAMES[0]
    )
    saliency = result.saliency.array
    assert saliency.shape == hu.shape and saliency.max() == pytest.approx(1.0)
    peak = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 17 <= peak[0] < 23 and 8 <= peak[1] < 18 and 22 <= peak[2] < 34
    overlap = saliency_overlap(saliency, hu > 0)
    assert overlap.pointing_hit and overlap.ratio > 5


def test_tiny_hyperct_last_block_is_refused_and_second_last_works() -> None:
    from hyperct.models.hyperct import HyperCT, HyperCTConfig

    torch.manual_seed(0)
    model = HyperCT(
        HyperCTConfig(
            backbone="dinov3-tiny",
            task_dim=8,
            module_dim=4,
            latent_dim=8,
            hyper_output_dim=8,
            rank=2,
        )
    ).eval()
    images, mask = torch.randn(3, 3, 32, 32), torch.tensor([True, True, False])
    with pytest.raises(ValueError, match="zero gradient"):
        gradcam(model, images, mask, task_id=7, block=-1)
    cam = gradcam(model, images, mask, task_id=7, block=-2).cam
    assert cam.shape == (3, 2, 2) and (cam >= 0).all() and (cam[2] == 0).all()


def test_overlap_and_overlay() -> None:
    saliency = np.zeros((10, 8, 8))
    saliency[4, 2, 2] = 1.0
    mask = np.zeros((10, 8, 8), dtype=bool)
    mask[4, :4, :4] = True
    overlap = saliency_overlap(saliency, mask)
    assert overlap.mass_in_mask == 1.0 and overlap.ratio == pytest.approx(1 / mask.mean())
    assert pick_slices(saliency, 3)[0] <= 4 <= pick_slices(saliency, 3)[-1]
    assert len(axial_overlay_figure(np.zeros((10, 8, 8)), saliency, "t", count=3).axes) == 3


def test_overlap_chance_within_a_region() -> None:
    saliency = np.zeros((4, 4, 4))
    body = np.zeros((4, 4, 4), dtype=bool)
    body[:, :2] = True  # half the volume
    saliency[body] = 1.0  # uniform over the body: exactly chance within it
    mask = np.zeros_like(body)
    mask[0, 0] = True
    assert saliency_overlap(saliency, mask).ratio == pytest.approx(2.0)  # flattered by the air
    assert saliency_overlap(saliency, mask, region=body).ratio == pytest.approx(1.0)
