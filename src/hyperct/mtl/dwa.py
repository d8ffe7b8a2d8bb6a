"""Dynamic weight average (DWA) of Liu, Johns and Davison (2019)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from hyperct.mtl.base import LossWeighting

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DWAConfig:
    """Hyperparameters of DWA.

    Attributes:
        temperature: ``tau`` of the softmax over loss ratios; larger is closer to equal weights.
    """

    temperature: float = 2.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


class DWA(LossWeighting):
    """Weights from the rate of change of each task's loss over the last two epochs.

    Liu, Johns & Davison, "End-to-end multi-task learning with attention", CVPR 2019:
    ``w_t = k * exp(r_t / tau) / sum_j exp(r_j / tau)`` with ``r_t = L_t(e-1) / L_t(e-2)``, the
    epoch-mean training losses passed to :meth:`epoch_end`; ``w_t = 1`` until two epochs have
    ended. Weights sum to ``k``, the number of present tasks (the paper's ``K``): the softmax runs
    over the present tasks only and an absent task has weight 0. A task whose ratio is undefined
    (no loss recorded in one of the two epochs, NaN or a zero denominator) gets ``r_t = 1``.
    """

    def __init__(self, num_tasks: int, config: DWAConfig | None = None) -> None:
        super().__init__(num_tasks)
        self.config = config or DWAConfig()
        self.register_buffer("loss_history", torch.full((2, num_tasks), float("nan")))
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))

    def epoch_end(self, mean_task_losses: Tensor) -> None:
        """Record the epoch's mean loss per task (NaN for a task without labels that epoch)."""
        if tuple(mean_task_losses.shape) != (self.num_tasks,):
            raise ValueError(
                f"mean_task_losses must have shape ({self.num_tasks},), "
                f"got {tuple(mean_task_losses.shape)}"
            )
        history = self.loss_history
        history[0] = history[1].clone()
        history[1] = mean_task_losses.detach().to(history.device, history.dtype)
        self.epochs_seen += 1

    def current_weights(self, present: Tensor) -> Tensor:
        """``(T,)`` weights for this epoch given the present tasks (no gradient)."""
        present = present.to(self.loss_history.device)
        weights = torch.zeros(self.num_tasks, device=present.device)
        if int(self.epochs_seen) < 2:
            weights[present] = 1.0
            return weights
        ratios = self.loss_history[1] / self.loss_history[0]
        undefined = ~torch.isfinite(ratios)
        if bool((undefined & present).any()):
            logger.debug(
                "DWA: undefined loss ratio for tasks %s, using 1", undefined.nonzero().tolist()
            )
        ratios = torch.where(undefined, torch.ones_like(ratios), ratios)
        k = int(present.sum())
        weights[present] = k * torch.softmax(ratios[present] / self.config.temperature, dim=0)
        return weights

    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        weights = self.current_weights(present).to(losses.device, losses.dtype)
        total = (weights[present] * losses[present]).sum()
        return total, weights
