"""Conflict-averse gradient descent (CAGrad) of Liu et al. (2021)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torchjd.aggregation import CAGradWeighting

from hyperct.mtl.base import GradientWeighting


@dataclass(frozen=True)
class CAGradConfig:
    """Hyperparameters of CAGrad.

    Attributes:
        c: radius of the ball around the mean gradient, relative to its norm (paper: 0.4).
        rescale: divide the update by ``1 + c**2``, as the official code and LibMTL do by
            default (their ``rescale=1``); False leaves it unscaled (their ``rescale=0``).
        norm_eps: torchjd's floor on ``||g_w||``; the Gramian reaches it normalised by its trace,
            so the floor is relative to the gradients' size (below it: a Pareto-stationary point,
            where the weights are 0).
        parallel_chunk_size: Jacobian rows backpropagated at once (torchjd; None: all).
    """

    c: float = 0.4
    rescale: bool = True
    norm_eps: float = 1e-4
    parallel_chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.c < 0:
            raise ValueError(f"c must be non-negative, got {self.c}")


class CAGrad(GradientWeighting):
    """The update in a ball around the mean gradient that maximises the worst task's decrease.

    Liu, Liu, Jin, Stone & Liu, "Conflict-averse gradient descent for multi-task learning",
    NeurIPS 2021. The direction is ``g0 + (c ||g0|| / ||g_w||) g_w`` with ``g0`` the mean of the
    present tasks' gradients and ``g_w`` solving the dual over the simplex; solved by torchjd's
    ``CAGradWeighting`` (cvxpy, Clarabel), then divided by ``1 + c**2`` as in the official code
    (``rescale``). Only present tasks enter (``g0`` is their mean); an absent task has weight 0.

    The weights do not depend on the gradients' scale: the Gramian is divided by its trace
    before the solver, whose own normalisation would otherwise give up (weights 0, no update)
    whenever the summed squared gradient norm is below ``norm_eps``, as it easily is with
    gradient accumulation's ``1/grad_accum``.
    """

    def __init__(self, num_tasks: int, config: CAGradConfig | None = None) -> None:
        self.config = config or CAGradConfig()
        super().__init__(num_tasks, self.config.parallel_chunk_size)
        self.solver = CAGradWeighting(c=self.config.c, norm_eps=self.config.norm_eps)

    def task_weights(self, gramian: Tensor, present: Tensor) -> Tensor:
        gramian64 = gramian.double()
        trace = gramian64.diagonal().sum()
        if not bool(trace > 0):
            return gramian.new_zeros(gramian.shape[0])
        weights = self.solver(gramian64 / trace)
        if self.config.rescale:
            weights = weights / (1 + self.config.c**2)
        return weights.to(dtype=gramian.dtype)
