"""Random loss weighting (RLW) of Lin et al. (2022)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hyperct.mtl.base import LossWeighting


@dataclass(frozen=True)
class RLWConfig:
    """Hyperparameters of RLW.

    Attributes:
        seed: seed of the method's own random generator (the global RNG is never touched).
    """

    seed: int = 0


class RLW(LossWeighting):
    """Random weights each step: ``w = softmax(z)``, ``z ~ N(0, I)``, over the present tasks.

    Lin et al., "Reasonable effectiveness of random weighting: a litmus test for multi-task
    learning", TMLR 2022. The weights of the present tasks sum to 1. ``T`` normal samples are
    drawn every step whatever the batch holds, so the random stream does not depend on which tasks
    are present; an absent task's sample is dropped before the softmax and its weight is 0. The
    generator's state is in ``state_dict()`` for an exact resume.
    """

    def __init__(self, num_tasks: int, config: RLWConfig | None = None) -> None:
        super().__init__(num_tasks)
        self.config = config or RLWConfig()
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """Draw this step's weights (advances the generator) and combine the losses."""
        logits = torch.randn(self.num_tasks, generator=self.generator).to(
            losses.device, losses.dtype
        )
        weights = losses.new_zeros(self.num_tasks)
        weights[present] = torch.softmax(logits[present], dim=0)
        total = (weights[present] * losses[present]).sum()
        return total, weights

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
