"""3D CNN and Swin transformer backbones from MONAI, returning the lowest-resolution feature map.

The 3D baselines of "Scaling Supervision for Free" (MIDL 2025) are a 3D ResNet-18 and a 3D Swin
transformer encoder on single-channel CT crops. Both are built from ``monai.networks.nets`` (no
torchvision, no timm) and expose one interface: ``forward(x (B, 1, D, H, W)) -> (B, C, d, h, w)``,
with ``out_channels`` = C, the map that the pooled classifier and the auxiliary segmentation head
read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from monai.networks.nets.resnet import ResNet
from monai.networks.nets.swin_unetr import SwinTransformer
from torch import nn

logger = logging.getLogger(__name__)

#: ResNet depth -> (block type, blocks per stage, channel expansion of the block).
_RESNET_LAYOUTS: dict[int, tuple[str, list[int], int]] = {
    10: ("basic", [1, 1, 1, 1], 1),
    18: ("basic", [2, 2, 2, 2], 1),
    34: ("basic", [3, 4, 6, 3], 1),
    50: ("bottleneck", [3, 4, 6, 3], 4),
}


@dataclass(frozen=True)
class ResNet3DConfig:
    """A 3D ResNet (Hara et al., CVPR 2018; MONAI's implementation) with a one-channel stem.

    Attributes:
        depth: 10, 18, 34 or 50.
        in_channels: input channels (1 for CT).
        width: channels of the first stage (64 in the standard network; small for tests).
        stem_stride: stride of the 7x7x7 stem convolution along every axis.
    """

    depth: int = 18
    in_channels: int = 1
    width: int = 64
    stem_stride: int = 2

    def __post_init__(self) -> None:
        if self.depth not in _RESNET_LAYOUTS:
            raise ValueError(f"ResNet3DConfig.depth must be one of {sorted(_RESNET_LAYOUTS)}, got {self.depth}")
        if self.in_channels < 1 or self.width < 1 or self.stem_stride < 1:
            raise ValueError(f"ResNet3DConfig: in_channels, width and stem_stride must be >= 1, got {self}")


class ResNet3DBackbone(nn.Module):
    """MONAI 3D ResNet without its pooling and classifier; returns the layer-4 feature map."""

    def __init__(self, config: ResNet3DConfig = ResNet3DConfig()) -> None:
        super().__init__()
        block, layers, expansion = _RESNET_LAYOUTS[config.depth]
        widths = [config.width * m for m in (1, 2, 4, 8)]
        self.config = config
        self.net = ResNet(
            block=block,
            layers=layers,
            block_inplanes=widths,
            spatial_dims=3,
            n_input_channels=config.in_channels,
            conv1_t_size=7,
            conv1_t_stride=config.stem_stride,
            feed_forward=False,
        )
        self.out_channels = widths[-1] * expansion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net.act(net.bn1(net.conv1(x)))
        if not net.no_max_pool:
            x = net.maxpool(x)
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))


@dataclass(frozen=True)
class Swin3DConfig:
    """A 3D Swin transformer encoder (Liu et al., ICCV 2021), as in SwinUNETR (Hatamizadeh et al.,
    2022). The defaults are SwinUNETR's (feature size 48); the output has 16 x ``embed_dim``
    channels at 1/32 of the input size.

    Attributes:
        in_channels: input channels (1 for CT).
        embed_dim: channels after the patch embedding.
        depths: transformer blocks per stage (4 stages).
        num_heads: attention heads per stage.
        window_size: attention window (voxels of the stage's grid) along each axis.
        patch_size: patch embedding size along each axis.
    """

    in_channels: int = 1
    embed_dim: int = 48
    depths: tuple[int, int, int, int] = (2, 2, 2, 2)
    num_heads: tuple[int, int, int, int] = (3, 6, 12, 24)
    window_size: int = 7
    patch_size: int = 2

    def __post_init__(self) -> None:
        if len(self.depths) != 4 or len(self.num_heads) != 4:
            raise ValueError(f"Swin3DConfig: depths and num_heads need 4 stages, got {self.depths}, {self.num_heads}")
        for stage, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2**stage) % heads:
                raise ValueError(
                    f"Swin3DConfig: stage {stage} width {self.embed_dim * 2**stage} is not divisible "
                    f"by its {heads} heads"
                )
        if min(self.in_channels, self.window_size, self.patch_size, *self.depths) < 1:
            raise ValueError(f"Swin3DConfig: sizes must be >= 1, got {self}")


class Swin3DBackbone(nn.Module):
    """MONAI's Swin transformer encoder (SwinUNETR's ``swinViT``); returns its last stage."""

    def __init__(self, config: Swin3DConfig = Swin3DConfig()) -> None:
        super().__init__()
        self.config = config
        self.net = SwinTransformer(
            in_chans=config.in_channels,
            embed_dim=config.embed_dim,
            window_size=(config.window_size,) * 3,
            patch_size=(config.patch_size,) * 3,
            depths=config.depths,
            num_heads=config.num_heads,
            spatial_dims=3,
        )
        self.out_channels = config.embed_dim * 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, normalize=True)[-1]


_BACKBONES_3D: dict[str, Callable[..., nn.Module]] = {
    "resnet10_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=10, **kw)),
    "resnet18_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=18, **kw)),
    "resnet34_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=34, **kw)),
    "resnet50_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=50, **kw)),
    "swin_3d": lambda **kw: Swin3DBackbone(Swin3DConfig(**kw)),
}


def available_backbones3d() -> list[str]:
    """Names accepted by :func:`create_backbone3d`."""
    return sorted(_BACKBONES_3D)


def create_backbone3d(name: str, **kwargs: object) -> nn.Module:
    """Build a 3D backbone by name; ``kwargs`` fill its config (e.g. ``width=8`` for tests).

    The module has ``out_channels`` and maps ``(B, C_in, D, H, W)`` to ``(B, out_channels, d, h, w)``.
    """
    if name not in _BACKBONES_3D:
        raise ValueError(f"unknown 3D backbone {name!r}; choose one of {available_backbones3d()}")
    model = _BACKBONES_3D[name](**kwargs)
    logger.debug("built 3D backbone %s (%d parameters)", name, sum(p.numel() for p in model.parameters()))
    return model
