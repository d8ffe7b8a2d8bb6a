"""The frozen DINOv3 ViT backbone, built with transformers ``DINOv3ViTModel``.

The backbone is always frozen and always in eval mode: DINOv3's RoPE jitters patch coordinates in
train mode, which would make a frozen feature extractor stochastic. Only LoRA layers wrapped into
it later follow the parent model's train/eval mode (their dropout). It exposes the transformer in
pieces (``embed``, ``run_block``, ``final_norm``) so that models can run some blocks once and
others per task, checkpoint blocks, and read patch tokens of any block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import DINOv3ViTConfig, DINOv3ViTModel

from hyperct.models.autocast_state import AutocastState, replays_autocast
from hyperct.models.backbones.weights import (
    ARCHITECTURE_FIELDS,
    read_hf_config,
    read_state_dict,
    state_dict_sha256,
)
from hyperct.models.kernels import linear
from hyperct.models.lora.layer import LoRALinear
from hyperct.models.lora.low import Op, grouped_low, op_and_lows

logger = logging.getLogger(__name__)

_COMMON: dict[str, Any] = {
    "patch_size": 16,
    "num_register_tokens": 4,
    "layerscale_value": 1.0,
    "rope_theta": 100.0,
    "query_bias": True,
    "key_bias": False,
    "value_bias": True,
    "proj_bias": True,
    "mlp_bias": True,
    "use_gated_mlp": False,
    "layer_norm_eps": 1e-5,
    "image_size": 224,
}

#: Architecture presets by name. ``dinov3-vitb16`` is the HyperCT paper's backbone.
PRESETS: dict[str, dict[str, Any]] = {
    "dinov3-vitb16": {
        **_COMMON,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
    },
    "dinov3-vits16": {
        **_COMMON,
        "hidden_size": 384,
        "intermediate_size": 1536,
        "num_hidden_layers": 12,
        "num_attention_heads": 6,
    },
    "dinov3-tiny": {
        **_COMMON,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "image_size": 32,
    },
}

Rope = tuple[torch.Tensor, torch.Tensor]

#: How :meth:`DINOv3Backbone.run_block` runs the first half of its MLP (norm, first linear
#: layer, activation): ``segment(fn, *args)`` returns ``fn(*args)``, possibly checkpointed
#: (recomputed in backward from ``args``).
Segment = Callable[..., Any]


def run_segment(fn: Callable[..., Any], *args: Any) -> Any:
    """The default :data:`Segment`: call ``fn`` (nothing recomputed)."""
    return fn(*args)


@dataclass(frozen=True)
class BackboneIdentity:
    """What a checkpoint records about the frozen backbone: its name and a hash of its weights."""

    name: str
    sha256: str
    pretrained: bool


class DINOv3Backbone(nn.Module):
    """A frozen DINOv3 ViT with its blocks callable one at a time.

    Use :func:`hyperct.models.backbones.create_backbone` rather than this constructor.
    """

    def __init__(self, name: str, config: DINOv3ViTConfig, state: dict[str, torch.Tensor] | None):
        super().__init__()
        self.name = name
        self.config = config
        self.vit = DINOv3ViTModel(config)
        if state is not None:
            self.vit.load_state_dict(state, strict=True)
        self.pretrained = state is not None
        self.vit.requires_grad_(False)
        self.frozen_keys = frozenset(self.vit.state_dict())
        self._exact_gelu = config.hidden_act == "gelu"
        self._identity: BackboneIdentity | None = None
        self.train(False)

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    @property
    def num_blocks(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def num_prefix_tokens(self) -> int:
        """CLS token plus register tokens, ahead of the patch tokens."""
        return 1 + int(self.config.num_register_tokens)

    @property
    def patch_size(self) -> int:
        return int(self.config.patch_size)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.vit.model.layer

    def train(self, mode: bool = True) -> DINOv3Backbone:
        """Keep the transformer in eval mode; only LoRA layers inside follow ``mode``."""
        super().train(False)
        for module in self.modules():
            if getattr(module, "follows_parent_mode", False):
                module.train(mode)
        return self

    def embed(self, pixels: torch.Tensor) -> tuple[torch.Tensor, Rope]:
        """Patch-embed images (M, 3, H, W) -> tokens (M, prefix + h*w, C) and the RoPE (cos, sin)."""
        pixels = pixels.to(self.vit.embeddings.patch_embeddings.weight.dtype)
        return self.vit.embeddings(pixels), self.vit.rope_embeddings(pixels)

    @property
    def dtype(self) -> torch.dtype:
        """Storage dtype of the frozen weights (the activations' dtype too)."""
        return self.vit.embeddings.patch_embeddings.weight.dtype

    def run_block(
        self, index: int, hidden: torch.Tensor, rope: Rope, segment: Segment = run_segment
    ) -> torch.Tensor:
        """Run transformer block ``index`` on tokens (M, L, C).

        The same arithmetic as transformers' ``DINOv3ViTLayer`` (the backbone is always in eval
        mode: no drop path, no attention dropout) in fewer passes over the tokens: RoPE in two
        passes (:class:`_Rotation`) with the attention scale folded into the query's tables,
        layer scale and residual in one ``addcmul`` each, and where autograd does not record
        the MLP's GELU inside its first matmul (:func:`hyperct.models.kernels.linear`).
        Attention is SDPA when autograd does not record (its float32 scores are the more exact)
        and two matmuls and a softmax when it does (:class:`_Attention`): on CPU their backward
        is 2-3x faster than SDPA's.

        Under autograd, each norm or activation and the LoRA products of its output keep only its
        input for backward (:func:`_prepare`). The first half of the MLP (its norm, first linear
        layer and GELU, whose 3,072-wide input is the largest tensor a block keeps) runs through
        ``segment``, which may checkpoint it: then backward keeps the MLP's input and recomputes
        the rest.
        """
        block = self.blocks[index]
        attention = block.attention
        mlp = block.mlp
        qkv = (attention.q_proj, attention.k_proj, attention.v_proj)
        normed, lows = _prepare(block.norm1, qkv, hidden)
        batch, length, width = normed.shape
        heads = attention.num_heads

        def split_heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, length, heads, -1).transpose(1, 2)

        query, key, value = (_project(m, normed, low) for m, low in zip(qkv, lows))
        cos, sin = _full_rope(rope, length, heads)
        scale = attention.scaling
        query = split_heads(_Rotation.apply(query, cos * scale, sin * scale))
        key = split_heads(_Rotation.apply(key, cos, sin))
        value = split_heads(value)
        if torch.is_grad_enabled():
            mixed = _Attention.apply(query, key, value)
        else:
            mixed = nn.functional.scaled_dot_product_attention(query, key, value, scale=1.0)
        mixed = mixed.transpose(1, 2).reshape(batch, length, width)
        _, (low,) = _prepare(None, (attention.o_proj,), mixed)
        mixed = _project(attention.o_proj, mixed, low)
        hidden = torch.addcmul(hidden, mixed, block.layer_scale1.lambda1)
        if torch.is_grad_enabled() or not self._exact_gelu:
            activated, low = segment(_mlp_input, block.norm2, mlp, hidden)
        else:
            normed, (low,) = _prepare(block.norm2, (mlp.up_proj,), hidden)
            activated = _project(mlp.up_proj, normed, low, gelu=True)
            _, (low,) = _prepare(None, (mlp.down_proj,), activated)
        down = _project(mlp.down_proj, activated, low)
        return torch.addcmul(hidden, down, block.layer_scale2.lambda1)

    def final_norm(self, hidden: torch.Tensor) -> torch.Tensor:
        """The final LayerNorm that DINOv3 applies to the last block's tokens."""
        return self.vit.norm(hidden)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised CLS token per image: (M, 3, H, W) -> (M, C)."""
        hidden, rope = self.embed(pixels)
        for index in range(self.num_blocks):
            hidden = self.run_block(index, hidden, rope)
        return self.final_norm(hidden)[:, 0]

    def cast(self, dtype: torch.dtype) -> None:
        """Store the frozen weights in ``dtype`` (e.g. bfloat16: no per-call autocast casts).

        The identity hash is taken before casting, so it always names the loaded weights.
        """
        if self.vit.embeddings.patch_embeddings.weight.dtype == dtype:
            return
        self.identity()
        self.vit.to(dtype)

    def frozen_state_dict(self) -> dict[str, torch.Tensor]:
        """The backbone's own weights (transformers names), without any adapter parameters."""
        return {k: v for k, v in self.vit.state_dict().items() if k in self.frozen_keys}

    def identity(self) -> BackboneIdentity:
        """Name + SHA-256 of the weights, computed once (merging LoRA later does not change it)."""
        if self._identity is None:
            digest = state_dict_sha256(self.frozen_state_dict())
            self._identity = BackboneIdentity(self.name, digest, self.pretrained)
        return self._identity


def _prepare(
    op: Op | None, layers: Sequence[nn.Module], x: torch.Tensor
) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
    """``op(x)`` (a norm or an activation; None: ``x`` itself, not returned) and each LoRA
    layer's ``low_rank`` of it (None for a plain linear layer), in one autograd node that keeps
    ``x`` for backward and recomputes the rest (:func:`hyperct.models.lora.low.op_and_lows`)."""
    factors = [m.low_factors(x) if isinstance(m, LoRALinear) else None for m in layers]
    present = [f for f in factors if f is not None]
    if op is None:
        lows = [grouped_low(x, *f) for f in present]
    else:
        x, lows = op_and_lows(op, x, present)
    computed = iter(lows)
    return (None if op is None else x), [None if f is None else next(computed) for f in factors]


def _mlp_input(
    norm: nn.Module, mlp: nn.Module, hidden: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The MLP's activation and its second layer's LoRA product: norm, first linear layer (with
    its LoRA update), activation."""
    normed, (low,) = _prepare(norm, (mlp.up_proj,), hidden)
    up = _project(mlp.up_proj, normed, low)
    activated, (low,) = _prepare(mlp.act_fn, (mlp.down_proj,), up)
    return activated, low


def _project(
    module: nn.Module, x: torch.Tensor, low: torch.Tensor | None, gelu: bool = False
) -> torch.Tensor:
    """A linear layer of the block on ``x``, with the LoRA update from ``low`` if it has one,
    and the exact GELU after it if ``gelu`` (fused into the matmul where that pays)."""
    if isinstance(module, LoRALinear):
        return module.project(x, low, gelu=gelu)
    return linear(x, module.weight, module.bias, gelu=gelu)


def _full_rope(rope: Rope, length: int, heads: int) -> Rope:
    """RoPE tables (length, heads, 2, head_dim / 2) over all ``length`` tokens for
    :class:`_Rotation`: identity (cos 1, sin 0) on the prefix tokens, the sine's first half
    negated, and repeated for each head, so that the rotation broadcasts over the images only."""
    cos, sin = rope
    prefix = length - cos.shape[0]
    half = sin.shape[-1] // 2
    cos = torch.cat([cos.new_ones(prefix, cos.shape[-1]), cos])
    sin = torch.cat(
        [sin.new_zeros(prefix, sin.shape[-1]), torch.cat([-sin[:, :half], sin[:, half:]], -1)]
    )
    return tuple(  # type: ignore[return-value]
        table.unflatten(-1, (2, half))[:, None].expand(length, heads, 2, half).contiguous()
        for table in (cos, sin)
    )


class _Rotation(torch.autograd.Function):
    """RoPE on tokens (M, L, heads * head_dim) with the tables of :func:`_full_rope`:
    ``x cos + rotate_half(x) sin`` in two passes over the tokens (the product with the cosine,
    then each half's multiply-add with the other half), where a swapped copy, a product and a
    multiply-add took three: 9.6 against 16.7 ms for the query of a 5-task ViT-B pass. The
    rotation is orthogonal, so its backward rotates by the negated sine, out of place: torchjd's
    Jacobians run backward under ``vmap``, which has no batching rule for the in-place halves."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(cos, sin)
        return _rotate(x, cos, sin)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        cos, sin = ctx.saved_tensors
        halves = _halves(grad, cos)
        swapped = halves.flip(-2)
        return torch.addcmul(halves * cos, swapped, sin, value=-1).view(grad.shape), None, None


class _Attention(torch.autograd.Function):
    """``softmax(q k^T) v`` over (M, heads, L, head_dim), keeping ``q``, ``k`` and ``v`` for
    backward and recomputing the probabilities there (a matmul and a softmax over L x L per
    head, a few percent of a block's time) rather than keeping them: 0.23 GB of a ViT-B
    training step at batch 2 x 55. The scale is folded into ``q``'s RoPE tables."""

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        ctx.autocast = AutocastState.of(query)
        ctx.save_for_backward(query, key, value)
        return torch.matmul(_probabilities(query, key), value)

    @staticmethod
    @replays_autocast
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        query, key, value = ctx.saved_tensors
        probs = _probabilities(query, key)
        grad_value = torch.matmul(probs.transpose(-1, -2), grad)
        grad_probs = torch.matmul(grad, value.transpose(-1, -2))
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)
        return (
            torch.matmul(grad_scores, key),
            torch.matmul(grad_scores.transpose(-1, -2), query),
            grad_value,
        )


def _probabilities(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    return torch.matmul(query, key.transpose(-1, -2)).softmax(-1)


def _halves(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Tokens (M, L, heads * head_dim) as (M, L, heads, 2, head_dim / 2), the RoPE tables' shape."""
    return x.reshape(*x.shape[:-1], *table.shape[1:])


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The forward rotation, in place on a fresh product (autograd does not record here)."""
    halves = _halves(x, cos)
    out = torch.mul(halves, cos)
    out[..., 0, :].addcmul_(halves[..., 1, :], sin[..., 0, :])
    out[..., 1, :].addcmul_(halves[..., 0, :], sin[..., 1, :])
    return out.view(x.shape)


def build_dinov3(name: str, weights: str | Path | None = None, **overrides: Any) -> DINOv3Backbone:
    """Build preset ``name`` with ``overrides`` and load ``weights`` (or warn loudly if none)."""
    if name not in PRESETS:
        raise KeyError(f"unknown DINOv3 preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    fields = {**PRESETS[name], **overrides}
    state = None
    if weights is not None:
        _check_folder_config(Path(weights), fields)
        state = read_state_dict(weights)
    config = DINOv3ViTConfig(**fields)
    backbone = DINOv3Backbone(name, config, state)
    if weights is None:
        logger.warning(
            "backbone %s has RANDOM weights (no weights given): its features are meaningless and "
            "so is any screening result from it; pass weights=<HF folder | .safetensors | Meta "
            ".pth> for real use",
            name,
        )
    else:
        logger.info(
            "backbone %s loaded from %s (sha256 %s)", name, weights, backbone.identity().sha256[:12]
        )
    return backbone


def _check_folder_config(path: Path, fields: dict[str, Any]) -> None:
    if not path.is_dir():
        return
    folder_config = read_hf_config(path)
    for field in ARCHITECTURE_FIELDS:
        if field in folder_config and folder_config[field] != fields.get(field):
            raise ValueError(
                f"{path / 'config.json'}: {field} = {folder_config[field]!r} does not match the "
                f"backbone preset ({fields.get(field)!r}); choose the matching preset"
            )
