"""Nash-MTL (multi-task learning as a bargaining game) of Navon et al. (2022)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torchjd.aggregation import NashMTL as TorchJDNashMTL

from hyperct.mtl.base import GradientWeighting


@dataclass(frozen=True)
class NashMTLConfig:
    """Hyperparameters of Nash-MTL (torchjd's defaults).

    Attributes:
        max_norm: the combined gradient is rescaled to at most this norm (0: no clipping).
        optim_niter: iterations of the sequence of convex problems per step.
        parallel_chunk_size: Jacobian rows backpropagated at once (torchjd; None: all).
    """

    max_norm: float = 1.0
    optim_niter: int = 20
    parallel_chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_norm < 0 or self.optim_niter < 1:
            raise ValueError(f"invalid Nash-MTL config {self}")


class NashMTL(GradientWeighting):
    """The Nash bargaining solution between task gradients: ``alpha_t (G alpha)_t = 1``.

    Navon et al., "Multi-task learning as a bargaining game", ICML 2022 (Algorithm 1): ``alpha``
    solves ``G alpha = 1 / alpha`` for the Gramian ``G`` of the task gradients, so each task's
    share ``alpha_t g_t`` of the update ``d`` has the same inner product (1) with ``d``. Solved
    by torchjd's ``NashMTL`` (a sequence of convex problems, cvxpy with ECOS) warm-started from
    the previous step's ``alpha``; the update is then rescaled to norm at most ``max_norm``.
    Only present tasks enter: the solver for ``k`` present tasks starts from the stored
    ``alpha`` of those tasks and only their entries are updated; an absent task has weight 0.
    The buffer ``alpha`` is the whole state needed for an exact resume.
    """

    def __init__(self, num_tasks: int, config: NashMTLConfig | None = None) -> None:
        self.config = config or NashMTLConfig()
        super().__init__(num_tasks, self.config.parallel_chunk_size)
        self.register_buffer("alpha", torch.ones(num_tasks, dtype=torch.float64))
        self._solvers: dict[int, TorchJDNashMTL] = {}

    def task_weights(self, gramian: Tensor, present: Tensor) -> Tensor:
        index = present.nonzero().flatten().to(self.alpha.device)
        solver = self._solver(len(index))
        solver.weighting.prvs_alpha = self.alpha[index].cpu().numpy()
        # torchjd's solver takes the Jacobian but only uses it through J J^T and ||alpha J||:
        # a (k, k) factor M with M M^T = G gives the same weights without the (k, n) matrix.
        eigenvalues, eigenvectors = torch.linalg.eigh(gramian)
        factor = eigenvectors * eigenvalues.clamp_min(0).sqrt()
        with warnings.catch_warnings():
            # torchjd's problem is not DPP-compliant: cvxpy warns that re-solves are not faster.
            warnings.filterwarnings("ignore", message=".*not DPP.*", category=UserWarning)
            weights = solver.weighting(factor)
        alpha = torch.as_tensor(solver.weighting.prvs_alpha, dtype=torch.float64)
        self.alpha[index] = alpha.to(self.alpha.device)
        return weights

    def _solver(self, num_present: int) -> TorchJDNashMTL:
        """torchjd's solver for ``num_present`` tasks, built once per size."""
        if num_present not in self._solvers:
            self._solvers[num_present] = TorchJDNashMTL(
                n_tasks=num_present,
                max_norm=self.config.max_norm,
                update_weights_every=1,
                optim_niter=self.config.optim_niter,
            )
        return self._solvers[num_present]
