"""Classification heads on a pooled scan feature, created by name (``create_head``).

``shared``: the HyperCT paper's task-agnostic classifier (LayerNorm + Linear -> 1 logit); task
specificity comes from the generated LoRA. ``per_task``: LayerNorm + one linear row per task.
Every head maps features (..., C) and task ids (...) to logits (...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class SharedHead(nn.Module):
    """One task-agnostic classifier: LayerNorm + Linear -> 1 logit (task ids are ignored)."""

    def __init__(self, dim: int, num_tasks: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(features)).squeeze(-1)


class PerTaskHead(nn.Module):
    """LayerNorm + a linear classifier per task (one weight row and bias per task)."""

    def __init__(self, dim: int, num_tasks: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, num_tasks)

    def forward(self, features: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        normed = self.norm(features)
        weight = self.linear.weight[task_ids]
        return (normed * weight).sum(-1) + self.linear.bias[task_ids]

    def all_tasks(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of every task: (..., C) -> (..., T)."""
        return self.linear(self.norm(features))


HEADS: dict[str, Callable[[int, int], nn.Module]] = {"shared": SharedHead, "per_task": PerTaskHead}


def create_head(name: str, dim: int, num_tasks: int) -> nn.Module:
    """Build head ``name`` (``"shared"`` or ``"per_task"``) for features of width ``dim``."""
    if name not in HEADS:
        raise KeyError(f"unknown head {name!r}; available: {', '.join(HEADS)}")
    return HEADS[name](dim, num_tasks)
