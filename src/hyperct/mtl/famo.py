"""Fast adaptive multitask optimization (FAMO) of Liu et al. (2023)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hyperct.mtl.base import LossWeighting


@dataclass(frozen=True)
class FAMOConfig:
    """Hyperparameters of FAMO (defaults of the paper's Algorithm 2).

    Attributes:
        lr: step size ``beta`` of the Adam update of the task logits.
        weight_decay: ``gamma``, L2 decay of the task logits.
        eps: added to each loss before the logarithm.
        betas: Adam's moment decay rates.
        adam_eps: Adam's denominator floor.
    """

    lr: float = 0.025
    weight_decay: float = 1e-3
    eps: float = 1e-8
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.eps <= 0 or self.adam_eps <= 0:
            raise ValueError(f"invalid FAMO config {self}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")


class FAMO(LossWeighting):
    """Loss weighting that balances the rate at which each task's log loss decreases.

    Liu, Feng, Stone & Liu, "FAMO: Fast adaptive multitask optimization", NeurIPS 2023. Task
    logits ``xi`` give ``z = softmax(xi)``; the step backpropagates ``sum_t z_t log L_t / c`` with
    ``c = sum_t z_t / L_t``, i.e. the losses with weights ``w_t = (z_t / L_t) / sum_j z_j / L_j``
    (they sum to 1). ``xi`` is then moved by Adam (decay ``gamma``) along the gradient of ``z``
    contracted with ``delta_t = log L_t(before) - log L_t(after)``: tasks whose loss fell less
    gain weight. Cost is one backward pass, whatever the number of tasks.

    ``delta`` needs the losses after the update. Call :meth:`observe` with the losses of the same
    batch recomputed after ``optimizer.step()`` to follow the paper exactly (one extra forward);
    without it, the next call to :meth:`backward` uses the next batch's losses as "after" (no
    extra cost, noisier). Absent tasks: the softmax runs over the present tasks, an absent task has
    weight 0, and a logit moves only on a step where its task was present both before and after.
    """

    def __init__(self, num_tasks: int, config: FAMOConfig | None = None) -> None:
        super().__init__(num_tasks)
        self.config = config or FAMOConfig()
        self.register_buffer("logits", torch.zeros(num_tasks))
        self.register_buffer("adam_m", torch.zeros(num_tasks))
        self.register_buffer("adam_v", torch.zeros(num_tasks))
        self.register_buffer("adam_steps", torch.zeros(num_tasks))
        self.register_buffer("last_log_losses", torch.zeros(num_tasks))
        self.register_buffer("last_present", torch.zeros(num_tasks, dtype=torch.bool))

    def _backward(
        self,
        losses: Tensor,
        present: Tensor,
        shared_params: list[Tensor],
        representation: Tensor | None,
        extra: Tensor | None,
        scale: float,
    ) -> Tensor:
        self.observe(losses, present)
        weights = super()._backward(losses, present, shared_params, representation, extra, scale)
        self.last_log_losses[present] = self._log(losses.detach())[present]
        self.last_present.copy_(present)
        return weights

    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.softmax(self.logits[present], dim=0).to(losses.dtype)
        scaled = z / (losses[present].detach() + self.config.eps)
        weights = losses.new_zeros(self.num_tasks)
        weights[present] = scaled / scaled.sum()
        total = (weights[present] * losses[present]).sum()
        return total, weights

    def observe(self, losses_after: Tensor, present: Tensor) -> None:
        """Update the task logits from the loss change since the last :meth:`backward`."""
        both = present.to(self.last_present.device) & self.last_present
        if bool(both.any()):
            delta = self.last_log_losses[both] - self._log(losses_after.detach())[both]
            z = torch.softmax(self.logits[both], dim=0)
            grad = z * (delta - (z * delta).sum())
            self._adam_step(grad, both)
        self.last_present.zero_()

    def _log(self, losses: Tensor) -> Tensor:
        return torch.log(losses.to(self.logits.device, self.logits.dtype) + self.config.eps)

    def _adam_step(self, grad: Tensor, mask: Tensor) -> None:
        """Adam with L2 decay on the masked logits, each with its own step count."""
        beta1, beta2 = self.config.betas
        logits = self.logits[mask]
        grad = grad + self.config.weight_decay * logits
        steps = self.adam_steps[mask] + 1
        m = beta1 * self.adam_m[mask] + (1 - beta1) * grad
        v = beta2 * self.adam_v[mask] + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**steps)
        v_hat = v / (1 - beta2**steps)
        self.logits[mask] = logits - self.config.lr * m_hat / (v_hat.sqrt() + self.config.adam_eps)
        self.adam_m[mask] = m
        self.adam_v[mask] = v
        self.adam_steps[mask] = steps
