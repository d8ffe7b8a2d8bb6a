"""UniCT's visual encoders: slice-level tokens ``(B, S, D)``, a global token ``(B, D)``, the
feature map the segmentation decoder and the modulation read, and the finer maps of the earlier
stages the segmentation decoder joins through skip connections.

Every encoder writes one method, :meth:`UniCTEncoder.extract` (per-slice features, a feature
map and the skip maps); the base class projects them to ``D`` and runs the slice attention of CT-Scroll (Di Piazza
et al., 2025): a global token that attends to every slice, and slice tokens that attend only to
the ``slice_window`` slices around them (and the global token).

Inputs follow :func:`hyperct.preprocess.pipeline.to_model_input`: 2.5D encoders read images
``(B, N, 3, H, W)`` of three consecutive slices with ``image_mask`` ``(B, N)`` (False = padding);
3D encoders read volumes ``(B, 1, D, H, W)``.

* ``ctscroll``: each triplet through a 2D MONAI ResNet (random init), the layer-4 map
  ``(B, C, N, h, w)``; slice features are its in-plane mean; skips: layers 3, 2, 1 (per image).
* ``volume3d``: a MONAI 3D backbone; its last map ``(B, C, d, h, w)``; slice features are its
  in-plane mean (one token per feature-map slice); skips: its earlier stages
  (:meth:`~hyperct.models.backbones3d.Backbone3D.pyramid`).
* ``dinov3``: the project's frozen DINOv3 with static LoRA in every block's linear layers
  (``dinov3_lora_rank``; 0 = no LoRA, no gradient through the backbone); the CLS token of each
  image is its slice feature, the patch tokens form the map; no skips (one resolution).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from hyperct.models.backbones import DINOv3Backbone, create_backbone
from hyperct.models.backbones3d import create_backbone3d
from hyperct.models.interface import NO_FROZEN_BACKBONE
from hyperct.models.lora import LoRATargets, StaticLoRA, inject_lora
from hyperct.models.unict.config import UniCTConfig

Kind = Literal["2.5d", "3d"]

#: The backbone identity of an encoder without a frozen backbone (every weight is trained).


@dataclass
class EncodedCT:
    """What an encoder gives the rest of UniCT.

    slice_tokens: ``(B, S, D)``; global_token: ``(B, D)``; slice_mask: ``(B, S)`` (False =
    padding); feature_map: ``(B, C, s, h, w)`` (2.5D: ``s`` = N triplets); grid: the model grid
    ``(depth, H, W)`` the masks are predicted on (2.5D: 3 slices per image); skips: the earlier
    stages' maps, coarsest first (channels :attr:`UniCTEncoder.skip_channels`), laid out like
    ``feature_map`` (2.5D: ``(B, C_i, N, h_i, w_i)``).
    """

    slice_tokens: torch.Tensor
    global_token: torch.Tensor
    slice_mask: torch.Tensor
    feature_map: torch.Tensor
    grid: tuple[int, int, int]
    skips: tuple[torch.Tensor, ...] = ()


class SliceAttention(nn.Module):
    """A global token over all slices plus sliding-window attention between slices."""

    def __init__(self, config: UniCTConfig) -> None:
        super().__init__()
        dim = config.dim
        self.window = config.slice_window
        self.heads = config.heads
        self.global_query = nn.Parameter(0.02 * torch.randn(dim))
        self.positions = nn.Parameter(0.02 * torch.randn(config.max_slices, dim))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, config.heads, 4 * dim, config.dropout, batch_first=True, norm_first=True
            )
            for _ in range(config.slice_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def blocked(self, slices: int, device: torch.device) -> torch.Tensor:
        """``(1 + S, 1 + S)`` bool, True where attention is forbidden (global token first)."""
        index = torch.arange(slices, device=device)
        outside = (index[:, None] - index[None, :]).abs() > self.window // 2
        blocked = torch.zeros(slices + 1, slices + 1, dtype=torch.bool, device=device)
        blocked[1:, 1:] = outside
        return blocked

    def forward(
        self, slices: torch.Tensor, slice_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S, D)`` slice features -> slice tokens ``(B, S, D)`` and global token ``(B, D)``."""
        batch, count, dim = slices.shape
        if count > self.positions.shape[0]:
            raise ValueError(
                f"{count} slice tokens exceed UniCTConfig.max_slices {self.positions.shape[0]}"
            )
        tokens = torch.cat(
            [self.global_query.expand(batch, 1, dim), slices + self.positions[:count]], dim=1
        )
        padding = torch.cat([slice_mask.new_ones(batch, 1), slice_mask], dim=1).logical_not()
        blocked = self.blocked(count, slices.device)
        for layer in self.layers:
            tokens = layer(tokens, src_mask=blocked, src_key_padding_mask=padding)
        tokens = self.norm(tokens)
        return tokens[:, 1:], tokens[:, 0]


class UniCTEncoder(nn.Module, ABC):
    """Base class: a subclass writes :meth:`extract`; projection and slice attention are shared."""

    kind: ClassVar[Kind]

    def __init__(
        self, config: UniCTConfig, channels: int, skip_channels: tuple[int, ...] = ()
    ) -> None:
        super().__init__()
        self.channels = channels
        self.skip_channels = skip_channels
        self.project = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, config.dim))
        self.slice_attention = SliceAttention(config)

    @abstractmethod
    def extract(
        self, images: torch.Tensor, image_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Slice features ``(B, S, C)``, the feature map ``(B, C, s, h, w)`` and the skip maps
        (coarsest first, see :class:`EncodedCT`)."""

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor | None = None) -> EncodedCT:
        image_mask = self.check_input(images, image_mask)
        slices, feature_map, skips = self.extract(images, image_mask)
        slice_mask = image_mask if self.kind == "2.5d" else image_mask.new_ones(slices.shape[:2])
        slice_tokens, global_token = self.slice_attention(self.project(slices), slice_mask)
        return EncodedCT(
            slice_tokens, global_token, slice_mask, feature_map, self.grid(images), skips
        )

    def frozen_keys(self, prefix: str) -> frozenset[str]:
        """State-dict keys (under ``prefix``) of frozen weights, which checkpoints leave out."""
        return frozenset()

    def identity(self) -> dict[str, str]:
        """``{"name", "sha256"}`` of the frozen backbone a checkpoint must be used with."""
        return {"name": type(self).__name__, "sha256": NO_FROZEN_BACKBONE}

    def check_input(self, images: torch.Tensor, image_mask: torch.Tensor | None) -> torch.Tensor:
        """The image mask (all True if None); a clear error for a wrongly shaped input."""
        if self.kind == "3d":
            if images.ndim != 5 or images.shape[1] != 1:
                raise ValueError(
                    f"a 3D UniCT encoder reads volumes (B, 1, D, H, W), got {tuple(images.shape)}"
                )
            return torch.ones(images.shape[0], 1, dtype=torch.bool, device=images.device)
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(
                f"a 2.5D UniCT encoder reads images (B, N, 3, H, W), got {tuple(images.shape)}"
            )
        if image_mask is None:
            return torch.ones(images.shape[:2], dtype=torch.bool, device=images.device)
        if tuple(image_mask.shape) != tuple(images.shape[:2]):
            raise ValueError(
                f"image_mask {tuple(image_mask.shape)} does not match images {tuple(images.shape[:2])}"
            )
        if not image_mask.any(dim=1).all():
            raise ValueError("image_mask: every scan needs at least one real image")
        return image_mask.bool()

    def grid(self, images: torch.Tensor) -> tuple[int, int, int]:
        """The model grid ``(depth, H, W)`` of the masks."""
        if self.kind == "3d":
            return (images.shape[2], images.shape[3], images.shape[4])
        return (3 * images.shape[1], images.shape[3], images.shape[4])


def _real_images(
    net: Callable[[torch.Tensor], list[torch.Tensor]],
    images: torch.Tensor,
    image_mask: torch.Tensor,
) -> list[torch.Tensor]:
    """``net``'s outputs on the real images of ``(B, N, 3, H, W)`` only (padding never reaches
    batch statistics nor costs compute); padding images get zeros. Each is ``(B * N, ...)``."""
    real = image_mask.flatten()
    fulls = []
    for out in net(images.flatten(0, 1)[real]):
        full = out.new_zeros((real.numel(), *out.shape[1:]))
        full[real] = out
        fulls.append(full)
    return fulls


def _triplet_map(per_image: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B * N, C, h, w)`` -> ``(B, C, N, h, w)``."""
    return per_image.unflatten(0, (batch, -1)).transpose(1, 2)


class CTScrollEncoder(UniCTEncoder):
    """Triplets of consecutive axial slices as 3-channel images through a 2D MONAI ResNet."""

    kind = "2.5d"
    _LAYERS: ClassVar[dict[int, list[int]]] = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}

    def __init__(self, config: UniCTConfig) -> None:
        widths = [config.cnn_width * m for m in (1, 2, 4, 8)]
        super().__init__(config, widths[-1], tuple(reversed(widths[:-1])))
        from monai.networks.nets.resnet import ResNet  # MONAI imports slowly: only when built

        self.cnn = ResNet(
            block="basic",
            layers=self._LAYERS[config.cnn_depth],
            block_inplanes=widths,
            spatial_dims=2,
            n_input_channels=3,
            feed_forward=False,
        )

    def cnn_maps(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """The ResNet's layer-4, 3, 2 and 1 maps of images ``(M, 3, H, W)``."""
        net = self.cnn
        x = net.maxpool(net.act(net.bn1(net.conv1(pixels))))
        maps = []
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            x = layer(x)
            maps.append(x)
        return maps[::-1]

    def extract(
        self, images: torch.Tensor, image_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        batch = images.shape[0]
        feature_map, *skips = (
            _triplet_map(m, batch) for m in _real_images(self.cnn_maps, images, image_mask)
        )
        return feature_map.mean(dim=(3, 4)).transpose(1, 2), feature_map, tuple(skips)


class Volume3DEncoder(UniCTEncoder):
    """A MONAI 3D backbone; one slice token per slice of its last feature map."""

    kind = "3d"

    def __init__(self, config: UniCTConfig) -> None:
        backbone = create_backbone3d(config.backbone3d, **config.backbone3d_kwargs)
        skip_channels = tuple(reversed(backbone.pyramid_channels[:-1]))
        super().__init__(config, backbone.out_channels, skip_channels)
        self.backbone = backbone

    def extract(
        self, images: torch.Tensor, image_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        *skips, feature_map = self.backbone.pyramid(images)
        return feature_map.mean(dim=(3, 4)).transpose(1, 2), feature_map, tuple(skips[::-1])


class DINOv3Encoder(UniCTEncoder):
    """The frozen DINOv3 ViT (+ LoRA) per triplet: CLS tokens as slice features, patch tokens as
    the map."""

    kind = "2.5d"

    def __init__(self, config: UniCTConfig) -> None:
        backbone = create_backbone(config.dinov3, weights=config.dinov3_weights)
        super().__init__(config, backbone.hidden_size)
        self.backbone: DINOv3Backbone = backbone
        self.adapted = config.dinov3_lora_rank > 0
        if self.adapted:
            rank = config.dinov3_lora_rank
            inject_lora(
                backbone.blocks,
                LoRATargets(),
                lambda _, linear: StaticLoRA(linear.in_features, linear.out_features, rank),
                alpha=config.dinov3_lora_alpha,
                dropout=config.dropout,
            )

    def frozen_keys(self, prefix: str) -> frozenset[str]:
        return frozenset(f"{prefix}backbone.vit.{key}" for key in self.backbone.frozen_keys)

    def identity(self) -> dict[str, str]:
        identity = self.backbone.identity()
        return {"name": identity.name, "sha256": identity.sha256}

    def _tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        with contextlib.nullcontext() if self.adapted else torch.no_grad():
            hidden, rope = self.backbone.embed(pixels)
            for index in range(self.backbone.num_blocks):
                hidden = self.backbone.run_block(index, hidden, rope)
            return self.backbone.final_norm(hidden).float()

    def extract(
        self, images: torch.Tensor, image_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        height, width = (s // self.backbone.patch_size for s in images.shape[3:])
        (tokens,) = _real_images(lambda pixels: [self._tokens(pixels)], images, image_mask)
        patches = tokens[:, self.backbone.num_prefix_tokens :].unflatten(1, (height, width))
        feature_map = _triplet_map(patches.permute(0, 3, 1, 2), images.shape[0])
        return tokens[:, 0].unflatten(0, (images.shape[0], -1)), feature_map, ()


ENCODERS: dict[str, Callable[[UniCTConfig], UniCTEncoder]] = {
    "ctscroll": CTScrollEncoder,
    "volume3d": Volume3DEncoder,
    "dinov3": DINOv3Encoder,
}


def create_encoder(config: UniCTConfig) -> UniCTEncoder:
    """The encoder ``config.encoder`` names (``ctscroll``, ``volume3d`` or ``dinov3``)."""
    return ENCODERS[config.encoder](config)
