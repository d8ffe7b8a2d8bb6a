"""Task sampling for HyperCT: each sample gets one task drawn among its available labels.

Uniform sampling is the paper's; inverse-prevalence weights a task by 1 / (fraction of training
scans where it is labelled), so rarely labelled tasks (e.g. the echo-defined ones) are seen more.

>>> labels = torch.tensor([[1., -1., 0.], [-1., -1., -1.]])
>>> tasks, keep = sample_tasks(labels, torch.Generator().manual_seed(0))
>>> keep.tolist(), tasks[0].item() in (0, 2)
([True, False], True)
"""

from __future__ import annotations

import torch

from hyperct.tasks import LABEL_MISSING


def sample_tasks(
    labels: torch.Tensor, generator: torch.Generator, task_weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one task per row of ``labels`` (B, T) among the entries that are not -1.

    Returns ``(task_ids (B,), keep (B,))``: rows with no label at all are not kept and their
    task id is 0. ``task_weights`` (T,) scales each task's chance (None: uniform).
    """
    available = (labels != LABEL_MISSING).to(torch.float64)
    weights = available if task_weights is None else available * task_weights.to(torch.float64)
    keep = weights.sum(dim=1) > 0
    task_ids = torch.zeros(labels.shape[0], dtype=torch.long)
    if keep.any():
        task_ids[keep] = torch.multinomial(weights[keep], 1, generator=generator).squeeze(1)
    return task_ids, keep


def inverse_prevalence_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-task weight 1 / (fraction of rows of ``labels`` (N, T) with that task labelled).

    A task labelled nowhere gets weight 0 (it can never be drawn anyway).
    """
    counts = (labels != LABEL_MISSING).sum(dim=0).to(torch.float64)
    weights = torch.zeros_like(counts)
    seen = counts > 0
    weights[seen] = labels.shape[0] / counts[seen]
    return weights
