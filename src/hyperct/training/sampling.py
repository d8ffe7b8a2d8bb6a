"""Task sampling for HyperCT: each sample gets one task (or ``k`` distinct tasks) drawn among its
available labels.

Uniform sampling is the paper's; inverse-prevalence weights a task by 1 / (fraction of training
scans where it is labelled), so rarely labelled tasks (e.g. the echo-defined ones) are seen more.
Drawing ``k`` distinct tasks per sample (``sampling.tasks_per_sample``) trains HyperCT on ``k``
labels of a scan per step, to compare it with the all-task baselines at equal label exposure.

>>> labels = torch.tensor([[1., -1., 0.], [-1., -1., -1.]])
>>> tasks, keep = sample_tasks(labels, torch.Generator().manual_seed(0))
>>> keep.tolist(), tasks[0].item() in (0, 2)
([True, False], True)
>>> rows, tasks = sample_task_sets(labels, torch.Generator().manual_seed(0), 2)
>>> rows.tolist(), sorted(tasks.tolist())
([0, 0], [0, 2])
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
    rows, drawn = sample_task_sets(labels, generator, 1, task_weights)
    task_ids = torch.zeros(labels.shape[0], dtype=torch.long)
    task_ids[rows] = drawn
    keep = torch.zeros(labels.shape[0], dtype=torch.bool)
    keep[rows] = True
    return task_ids, keep


def sample_task_sets(
    labels: torch.Tensor,
    generator: torch.Generator,
    tasks_per_sample: int,
    task_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``tasks_per_sample`` distinct tasks per row of ``labels`` (B, T), without replacement,
    among the entries that are not -1 (and have a positive ``task_weights`` entry); a row with
    fewer such tasks gets all of them, a row with none gets nothing.

    Returns ``(rows (M,), task_ids (M,))``, one entry per (sample, task) pair, grouped by row in
    row order. With ``tasks_per_sample=1`` the draws are those of :func:`sample_tasks` for the
    same generator state.
    """
    if tasks_per_sample < 1:
        raise ValueError(f"tasks_per_sample must be at least 1, got {tasks_per_sample}")
    available = (labels != LABEL_MISSING).to(torch.float64)
    weights = available if task_weights is None else available * task_weights.to(torch.float64)
    drawable = weights > 0
    count = drawable.sum(dim=1)
    task_ids = torch.full((labels.shape[0], tasks_per_sample), -1, dtype=torch.long)
    enough = count >= tasks_per_sample
    if enough.any():
        task_ids[enough] = torch.multinomial(weights[enough], tasks_per_sample, generator=generator)
    few = (count > 0) & ~enough
    if few.any():  # nothing to draw: all of the row's tasks, in task order
        first = torch.argsort(drawable[few].to(torch.int8), dim=1, descending=True, stable=True)
        first = first[:, :tasks_per_sample]
        slots = torch.arange(tasks_per_sample)
        task_ids[few] = torch.where(slots < count[few, None], first, -1)
    rows, slot = (task_ids >= 0).nonzero(as_tuple=True)
    return rows, task_ids[rows, slot]


def inverse_prevalence_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-task weight 1 / (fraction of rows of ``labels`` (N, T) with that task labelled).

    A task labelled nowhere gets weight 0 (it can never be drawn anyway).
    """
    counts = (labels != LABEL_MISSING).sum(dim=0).to(torch.float64)
    weights = torch.zeros_like(counts)
    seen = counts > 0
    weights[seen] = labels.shape[0] / counts[seen]
    return weights
