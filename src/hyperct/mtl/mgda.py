"""Multiple-gradient descent (MGDA, MGDA-UB) of Sener and Koltun (2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torchjd.aggregation import MGDAWeighting
from torchjd.autojac import jac

from hyperct.mtl.base import GradientWeighting, backward_extra, present_losses, scatter_weights


@dataclass(frozen=True)
class MGDAConfig:
    """Hyperparameters of MGDA.

    Attributes:
        mode: ``"params"``: per-task gradients w.r.t. the shared parameters (one backward per
            present task); ``"representation"``: MGDA-UB, per-task gradients w.r.t. the shared
            representation (one backward through the shared trunk in all).
        epsilon: Frank-Wolfe stops when its step size falls below this.
        max_iters: Frank-Wolfe iteration limit.
        parallel_chunk_size: Jacobian rows backpropagated at once (torchjd; None: all).
    """

    mode: Literal["params", "representation"] = "params"
    epsilon: float = 1e-3
    max_iters: int = 100
    parallel_chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("params", "representation"):
            raise ValueError(f"mode must be 'params' or 'representation', got {self.mode!r}")


class MGDA(GradientWeighting):
    """The min-norm point of the convex hull of the present tasks' gradients.

    Sener & Koltun, "Multi-task learning as multi-objective optimization", NeurIPS 2018. The
    weights ``alpha`` (``alpha >= 0``, summing to 1) minimise ``||sum_t alpha_t g_t||`` and are
    found by torchjd's Frank-Wolfe solver (the paper's Algorithm 2) on the Gramian of the
    gradients; gradients are not normalised. ``mode="params"`` uses the gradients of the shared
    parameters; ``mode="representation"`` (MGDA-UB, the paper's upper bound) uses the gradients of
    the shared representation ``Z`` and then backpropagates the summed losses once, with the
    gradient arriving at ``Z`` replaced by ``sum_t alpha_t dL_t/dZ``: the shared parameters get
    ``sum_t alpha_t grad L_t`` and each head its own task's gradient. Only present tasks enter the
    hull; an absent task has weight 0.
    """

    def __init__(self, num_tasks: int, config: MGDAConfig | None = None) -> None:
        self.config = config or MGDAConfig()
        super().__init__(num_tasks, self.config.parallel_chunk_size)
        self.solver = MGDAWeighting(epsilon=self.config.epsilon, max_iters=self.config.max_iters)

    def task_weights(self, gramian: Tensor, present: Tensor) -> Tensor:
        return self.solver(gramian)

    def _backward(
        self,
        losses: Tensor,
        present: Tensor,
        shared_params: list[Tensor],
        representation: Tensor | None,
        extra: Tensor | None,
        scale: float,
    ) -> Tensor:
        if self.config.mode == "params":
            return super()._backward(losses, present, shared_params, representation, extra, scale)
        if representation is None:
            raise ValueError("MGDA with mode='representation' needs the shared representation")
        backward_extra(extra, scale)
        task_losses = present_losses(losses, present)
        (rep_jacobian,) = jac(
            task_losses,
            [representation],
            retain_graph=True,
            parallel_chunk_size=self.config.parallel_chunk_size,
        )
        rep_jacobian = rep_jacobian.reshape(len(task_losses), -1)
        weights = self.task_weights(rep_jacobian @ rep_jacobian.T, present)
        combined = (scale * (weights @ rep_jacobian)).reshape(representation.shape)
        handle = representation.register_hook(lambda _grad: combined)
        try:
            (torch.stack(task_losses).sum() * scale).backward()
        finally:
            handle.remove()
        return scatter_weights(weights, present, self.num_tasks)
