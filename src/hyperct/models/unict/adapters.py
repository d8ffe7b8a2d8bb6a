"""Task adapters: each task's latent tokens ``(B, L, D)`` read from the encoder's tokens.

An adapter is a small Perceiver-style stack: ``L`` learned queries cross-attend to the global
and slice tokens (padding slices masked), then an MLP, pre-norm and residual. The segmentation
adapter has one latent per category: the decoder uses them as the categories' mask embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from hyperct.models.unict.encoders import EncodedCT


class _CrossBlock(nn.Module):
    """Pre-norm cross-attention of the latents to the encoder tokens, then an MLP."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_query, self.norm_memory, self.norm_mlp = (nn.LayerNorm(dim) for _ in range(3))
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim)
        )

    def forward(
        self, latents: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor
    ) -> torch.Tensor:
        memory = self.norm_memory(memory)
        attended, _ = self.attention(
            self.norm_query(latents), memory, memory, key_padding_mask=padding, need_weights=False
        )
        latents = latents + attended
        return latents + self.mlp(self.norm_mlp(latents))


class TaskAdapter(nn.Module):
    """``L`` learned queries -> the task's latent ``(B, L, D)`` from an :class:`EncodedCT`."""

    def __init__(self, dim: int, latents: int, heads: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.queries = nn.Parameter(0.02 * torch.randn(latents, dim))
        self.blocks = nn.ModuleList(_CrossBlock(dim, heads, dropout) for _ in range(layers))

    def forward(self, encoded: EncodedCT) -> torch.Tensor:
        memory = torch.cat([encoded.global_token[:, None], encoded.slice_tokens], dim=1)
        valid = torch.cat([encoded.slice_mask.new_ones(len(memory), 1), encoded.slice_mask], 1)
        latents = self.queries.expand(len(memory), -1, -1)
        for block in self.blocks:
            latents = block(latents, memory, valid.logical_not())
        return latents
