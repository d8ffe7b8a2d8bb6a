"""Uncertainty weighting (UW) of Kendall, Gal and Cipolla (2018)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hyperct.mtl.base import LossWeighting


@dataclass(frozen=True)
class UWConfig:
    """Hyperparameters of UW.

    Attributes:
        init_log_var: initial value of every ``s_t = log sigma_t^2``; 0 starts at weight 1.
    """

    init_log_var: float = 0.0


class UW(LossWeighting):
    """Homoscedastic-uncertainty weighting with learnable log variances.

    Kendall, Gal & Cipolla, "Multi-task learning using uncertainty to weigh losses for scene
    geometry and semantics", CVPR 2018. With ``s_t = log sigma_t^2`` this implements

        ``L = sum_t exp(-s_t) * L_t + s_t``  over the present tasks,

    i.e. the paper's classification bound ``(1/sigma^2) L_t + log sigma`` with the regulariser
    taken as ``log sigma^2`` (the widely used form; its minimum in ``s_t`` is at
    ``exp(s_t) = L_t``). The weights returned are ``exp(-s_t)``. The ``s_t`` are parameters: put
    ``weighting.parameters()`` into the optimizer. An absent task contributes neither term, so
    its ``s_t`` receives no gradient in that batch and its weight is reported as 0.
    """

    def __init__(self, num_tasks: int, config: UWConfig | None = None) -> None:
        super().__init__(num_tasks)
        self.config = config or UWConfig()
        self.log_vars = nn.Parameter(torch.full((num_tasks,), float(self.config.init_log_var)))

    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        log_vars = self.log_vars.to(losses.device)[present]
        precision = torch.exp(-log_vars)
        total = (precision * losses[present] + log_vars).sum()
        weights = losses.new_zeros(self.num_tasks)
        weights[present] = precision.detach().to(losses.dtype)
        return total, weights
