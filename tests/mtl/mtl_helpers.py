"""Test helpers: a tiny shared-trunk model with one head per task, and one training step."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyperct.mtl import Weighting


class TinyMultiTask(nn.Module):
    """Shared trunk (Linear + Tanh) and one Linear head per task."""

    def __init__(self, num_tasks: int = 3, d_in: int = 4, width: int = 5, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(width, 1) for _ in range(num_tasks))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.trunk(x)
        return z, torch.cat([head(z) for head in self.heads], dim=1)


def masked_losses(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per-task mean BCE over labelled samples (label -1 masked), as the training loop does."""
    mask = labels >= 0
    per_sample = nn.functional.binary_cross_entropy_with_logits(
        logits, labels.clamp_min(0), reduction="none"
    )
    counts = mask.sum(0)
    losses = (per_sample * mask).sum(0) / counts.clamp_min(1)
    return losses, counts > 0


def batch(num_tasks: int = 3, seed: int = 1) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, generator=generator)
    labels = torch.randint(0, 2, (6, num_tasks), generator=generator).float()
    return x, labels


def step(
    weighting: Weighting,
    model: TinyMultiTask,
    x: Tensor,
    labels: Tensor,
    present: Tensor | None = None,
    use_representation: bool = True,
) -> Tensor:
    """One backward through ``weighting`` (grads zeroed first); ``present`` overrides the mask."""
    model.zero_grad(set_to_none=True)
    z, logits = model(x)
    losses, labelled = masked_losses(logits, labels)
    present = labelled if present is None else present
    return weighting.backward(
        losses, present, list(model.trunk.parameters()), z if use_representation else None
    )


def grads(model: nn.Module) -> dict[str, Tensor | None]:
    return {
        name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()
    }
