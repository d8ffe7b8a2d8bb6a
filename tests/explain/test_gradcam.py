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


class BrightVolumeModel(nn.Module):
    """Feature map = 4x4x4-pooled voxels; the logit grows with brightness everywhere."""

    capabilities = frozenset({Capability.FEATURE_MAP})
    task_names = list(TASK_NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def feature_map_logits(self, images, image_mask=None):  # noqa: ANN001, ANN201
        feature_map = F.avg_pool3d(images, 4) * self.scale
        return feature_map, feature_map.mean(dim=(2, 3, 4)).expand(-1, len(TASK_NAMES))


def test_feature_map_saliency_lands_on_the_blob_through_crop_and_resampling() -> None:
    from hyperct.preprocess.spec import SpacingCropSpec

    hu = np.full((30, 48, 48), -1000, dtype=np.int16)
    hu[4:10, 30:40, 6:16] = 400  # off-centre: outside the middle the crop keeps would be lost
    hu[:, :4, :] = -150  # a band of fat, so the volume passes as plausible CT
    volume = Volume(hu, (2.0, 1.0, 1.0), np.eye(4), source="blob")
    spec = SpacingCropSpec(spacing_zyx=(2.0, 2.0, 2.0), pad_shape_zyx=(32, 32, 32),
                           crop_shape_zyx=(32, 32, 32))
    result = explain_volume(BrightVolumeModel(), volume, spec, TASK_NAMES[0])
    saliency = result.saliency.array
    assert result.block is None
    assert saliency.shape == hu.shape and saliency.max() == pytest.approx(1.0)
    peak = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 4 <= peak[0] < 10 and 30 <= peak[1] < 40 and 6 <= peak[2] < 16
    assert saliency_overlap(saliency, hu > 0).pointing_hit


@pytest.mark.parametrize("encoder", ["volume3d", "ctscroll"])
def test_unict_classification_head_gets_a_feature_map_cam(encoder: str) -> None:
    from hyperct.explain.gradcam import feature_map_gradcam
    from hyperct.models.unict import UniCT, UniCTConfig

    torch.manual_seed(0)
    tiny = ({"backbone3d": "resnet10_3d", "backbone3d_kwargs": {"width": 4}}
            if encoder == "volume3d" else {"cnn_depth": 10, "cnn_width": 4})
    model = UniCT(UniCTConfig(encoder=encoder, dim=16, heads=2, slice_window=3,
                              seg_classes=("1c",), cls_latents=2, seg_embed=4, seg_upsample=1,
                              supervise_report=False, **tiny)).eval()
    if encoder == "volume3d":
        images, image_mask = torch.randn(1, 1, 32, 64, 64), None
    else:
        images, image_mask = torch.randn(1, 4, 3, 32, 32), torch.tensor([[True] * 3 + [False]])
    with torch.no_grad():
        feature_map, logits = model.feature_map_logits(images, image_mask)
    result = feature_map_gradcam(model, images, image_mask, task_id=2)
    assert tuple(result.cam.shape) == tuple(feature_map.shape[2:]) and result.cam.numel() >= 4
    assert result.logit == pytest.approx(float(logits[0, 2]), abs=1e-5)
    assert (result.cam >= 0).all() and result.cam.std() > 0  # a map, not a constant
    if image_mask is not None:
        assert not result.cam[3].any()  # the padding image gets no saliency
