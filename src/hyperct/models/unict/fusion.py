"""The multi-task fusion module: the tasks' summary tokens attend to each other.

Each task's summary is the mean of its latent tokens plus a learned task embedding; one
multi-head self-attention over the ``T`` summaries mixes them, and each task's latents receive
its mixed summary as a residual update (broadcast over its tokens). The attention weights
``(B, heads, T, T)`` are returned so they can be averaged and plotted as in the paper. Switched
off (:class:`NoFusion`), the latents pass unchanged: no task reads another.
"""

from __future__ import annotations

import torch
from torch import nn


class TaskFusion(nn.Module):
    """Cross-task attention over ``tasks`` task latents of width ``dim``."""

    def __init__(self, dim: int, heads: int, tasks: int, dropout: float) -> None:
        super().__init__()
        self.task_embedding = nn.Parameter(0.02 * torch.randn(tasks, dim))
        self.norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(
        self, latents: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Task latents ``[(B, L_t, D)]`` -> fused latents and attention ``(B, heads, T, T)``."""
        summaries = torch.stack([x.mean(dim=1) for x in latents], dim=1) + self.task_embedding
        summaries = self.norm(summaries)
        mixed, weights = self.attention(
            summaries, summaries, summaries, need_weights=True, average_attn_weights=False
        )
        return [x + mixed[:, t, None] for t, x in enumerate(latents)], weights


class NoFusion(nn.Module):
    """Fusion switched off: latents unchanged, no attention matrix."""

    def forward(
        self, latents: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        return latents, None
