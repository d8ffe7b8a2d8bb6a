"""Geometric loss strategy (GLS) of Chennupati et al. (2019)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hyperct.mtl.base import LossWeighting


@dataclass(frozen=True)
class GLSConfig:
    """Hyperparameters of GLS.

    Attributes:
        eps: floor on each loss before the logarithm, so a zero loss gives a finite gradient.
    """

    eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.eps <= 0:
            raise ValueError(f"eps must be positive, got {self.eps}")


class GLS(LossWeighting):
    """Geometric mean of the present tasks' losses: ``L = (prod_t L_t) ** (1/k)``.

    Chennupati et al., "MultiNet++: Multi-stream feature aggregation and geometric loss strategy
    for multi-task learning", CVPR Workshops 2019. Computed as ``exp(mean_t log L_t)``. Its
    gradient is ``sum_t G / (k L_t) * grad L_t``, so the weights returned are ``G / (k L_t)``.
    The mean runs over the ``k`` present tasks only: an absent task (loss 0) would make the
    product 0, so it is left out and its weight is 0.
    """

    def __init__(self, num_tasks: int, config: GLSConfig | None = None) -> None:
        super().__init__(num_tasks)
        self.config = config or GLSConfig()

    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        task_losses = losses[present].clamp_min(self.config.eps)
        total = torch.exp(torch.log(task_losses).mean())
        weights = losses.new_zeros(self.num_tasks)
        weights[present] = (total / (task_losses.numel() * task_losses)).detach()
        return total, weights
