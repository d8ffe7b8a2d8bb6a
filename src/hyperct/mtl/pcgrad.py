"""Projecting conflicting gradients (PCGrad) of Yu et al. (2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torchjd.aggregation import PCGradWeighting

from hyperct.mtl.base import GradientWeighting


@dataclass(frozen=True)
class PCGradConfig:
    """Hyperparameters of PCGrad.

    Attributes:
        seed: seed of the method's own generator for the random projection order.
        parallel_chunk_size: Jacobian rows backpropagated at once (torchjd; None: all).
    """

    seed: int = 0
    parallel_chunk_size: int | None = None


class PCGrad(GradientWeighting):
    """Gradient surgery: project each task gradient off the gradients it conflicts with.

    Yu et al., "Gradient surgery for multi-task learning", NeurIPS 2020 (Algorithm 1). For each
    present task ``i``, in a random order over the others ``j``: if ``g_i^PC . g_j < 0``,
    ``g_i^PC -= (g_i^PC . g_j) / ||g_j||^2 g_j``; the update is ``sum_i g_i^PC`` (the paper's sum,
    so weights sum to about ``k``, not 1). Non-conflicting pairs are left untouched. Computed by
    torchjd's ``PCGradWeighting`` on the Gramian; its random order is drawn from this method's
    own generator (state in ``state_dict()``), never from the global one. Only present tasks are
    projected; an absent task has weight 0.
    """

    def __init__(self, num_tasks: int, config: PCGradConfig | None = None) -> None:
        self.config = config or PCGradConfig()
        super().__init__(num_tasks, self.config.parallel_chunk_size)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.solver = PCGradWeighting()

    def task_weights(self, gramian: Tensor, present: Tensor) -> Tensor:
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            return self.solver(gramian)

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
