"""3D backbones and the 3D classifier on tiny volumes; export drops the segmentation head."""

import subprocess
import sys

import pytest
import torch

from hyperct.models.backbones3d import create_backbone3d
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig

TINY = {
    "resnet18_3d": {"width": 4},
    "swin_3d": {
        "embed_dim": 6,
        "depths": (1, 1, 1, 1),
        "num_heads": (1, 1, 2, 2),
        "window_size": 2,
    },
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_backbone_returns_lowest_resolution_map(name: str) -> None:
    backbone = create_backbone3d(name, **TINY[name])
    out = backbone(torch.randn(2, 1, 32, 32, 32))
    assert out.shape == (2, backbone.out_channels, 1, 1, 1)
    assert torch.isfinite(out).all()


def test_resnet_stem_takes_one_channel() -> None:
    backbone = create_backbone3d("resnet18_3d", width=4)
    assert backbone.net.conv1.in_channels == 1
    assert backbone.out_channels == 32


@pytest.mark.parametrize("name", sorted(TINY))
def test_classifier_logits_and_feature_map_shapes(name: str) -> None:
    model = Classifier3D(
        Classifier3DConfig(backbone=name, backbone_kwargs=TINY[name], num_tasks=18)
    )
    image = torch.randn(2, 1, 32, 32, 32)
    features = model.forward_features(image)
    assert features.shape[:2] == (2, model.backbone.out_channels) and features.ndim == 5
    assert max(features.shape[2:]) < 32, "the lowest-resolution map is coarser than the input"
    assert torch.allclose(model.forward_head(features), model(image))
    assert model(image).shape == (2, 18)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="backbone"):
        Classifier3DConfig(backbone="resnet7_3d")
    with pytest.raises(ValueError, match="unknown 3D backbone"):
        create_backbone3d("vit_3d")


def test_no_torchvision_or_timm_imported() -> None:
    code = (
        "import sys, hyperct.models.classifier3d, hyperct.anatomy.supervision, hyperct.training.objectives,"
        " hyperct.anatomy.segment, hyperct.anatomy.masks;"
        "assert 'torchvision' not in sys.modules and 'timm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_merlin_weights_with_wrong_digest_are_refused(tmp_path) -> None:
    from hyperct.models.backbones3d import merlin_i3resnet152

    fake = tmp_path / "astra_encoder.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, fake)
    with pytest.raises(ValueError, match="SHA-256"):
        merlin_i3resnet152("astra", weights=fake)
    with pytest.raises(ValueError, match="source"):
        merlin_i3resnet152("imagenet", weights=fake)


def test_merlin_layout_reorders_canonical_input() -> None:
    from hyperct.models.backbones3d import ResNet3DBackbone, ResNet3DConfig

    backbone = ResNet3DBackbone(ResNet3DConfig(depth=10, width=2, merlin_layout=True)).eval()
    seen = []
    backbone.net.conv1.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 1, 2, 3, 4)
    backbone(x)
    # (z, y, x) with y anterior->posterior and x right->left becomes (z, x left->right, y posterior->anterior)
    assert torch.equal(seen[0], x.transpose(-1, -2).flip(-2, -1))
    assert seen[0].shape == (1, 1, 2, 4, 3)


@pytest.mark.skipif(
    not __import__("os").environ.get("HYPERCT_MERLIN_WEIGHTS"),
    reason="set HYPERCT_MERLIN_WEIGHTS to the astra encoder file (235 MB) to run",
)
def test_merlin_astra_weights_load_strictly() -> None:
    import os

    from hyperct.models.backbones3d import merlin_i3resnet152

    backbone = merlin_i3resnet152("astra", weights=os.environ["HYPERCT_MERLIN_WEIGHTS"]).eval()
    with torch.no_grad():
        out = backbone(torch.rand(1, 1, 32, 48, 64))
    assert out.shape == (1, 2048, 2, 2, 2) and torch.isfinite(out).all()
