"""Abstract bases of the multi-task weighting methods.

A method turns the per-task losses of one batch into a backward pass. Two families:

* :class:`LossWeighting` backpropagates one scalar combination of the losses (EW, UW, RLW, DWA,
  GLS, FAMO): every parameter, shared or task-specific, receives the gradient of that scalar.
* :class:`GradientWeighting` combines the per-task gradients of the shared parameters (MGDA,
  PCGrad, CAGrad, Nash-MTL). The Jacobian of the present tasks' losses with respect to the shared
  parameters comes from torchjd's ``autojac``; the combined gradient ``weights @ J`` is added to
  the ``.grad`` of the shared parameters, while the task-specific parameters (heads) receive the
  ordinary gradient of the *summed* present losses, i.e. each head its own task's gradient, as in
  the papers, where only the shared parameters take the combined update.

Absent tasks (``present[t]`` False: no sample of the batch has a label for task ``t``) never take
part: their weight is 0 and no gradient flows from their loss.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn
from torchjd.autojac import backward as jac_backward
from torchjd.autojac import jac

logger = logging.getLogger(__name__)


class Weighting(nn.Module, ABC):
    """A multi-task weighting method: performs the backward pass of one training step.

    Subclasses implement :meth:`_backward`; this class checks the inputs, skips batches where no
    task is present and returns detached weights. State needed for an exact resume (loss
    histories, random generators, solver warm starts) lives in ``state_dict()``.
    """

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {num_tasks}")
        self.num_tasks = num_tasks

    def backward(
        self,
        losses: Tensor,
        present: Tensor,
        shared_params: Sequence[Tensor],
        representation: Tensor | None = None,
        extra: Tensor | None = None,
        scale: float = 1.0,
    ) -> Tensor:
        """Backpropagate the task losses of one batch and return the task weights applied.

        Args:
            losses: ``(T,)`` per-task mean loss over the batch's labelled samples.
            present: ``(T,)`` bool, False for a task with no label in the batch.
            shared_params: the trainable parameters shared by all tasks (the ones feeding
                ``representation``); used by the gradient methods.
            representation: the last shared tensor (features fed to the heads); MGDA's
                ``mode="representation"`` needs it, the other gradient methods use it to keep the
                heads out of the Jacobian.
            extra: a scalar outside the weighting (e.g. an auxiliary segmentation loss) whose
                gradient is added unweighted; a loss-weighting method backpropagates it in the
                same pass as the task losses.
            scale: this batch's share of the optimizer step (``1/grad_accum``). The method
                computes its weights from the batch's own ``losses`` and backpropagates
                ``scale`` times its whole objective, terms that are not task losses (UW's
                regulariser) and ``extra`` included, so ``k`` accumulated batches give the
                update of one; pass the losses unscaled.

        Returns:
            ``(T,)`` detached weights, 0 for absent tasks.
        """
        self._check_inputs(losses, present)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        present = present.to(device=losses.device, dtype=torch.bool)
        if not bool(present.any()):
            logger.debug("no task has a label in this batch: only the extra term backpropagates")
            if extra is not None:
                (extra * scale).backward()
            return losses.detach().new_zeros(self.num_tasks)
        weights = self._backward(losses, present, list(shared_params), representation, extra, scale)
        return weights.detach()

    @abstractmethod
    def _backward(
        self,
        losses: Tensor,
        present: Tensor,
        shared_params: list[Tensor],
        representation: Tensor | None,
        extra: Tensor | None,
        scale: float,
    ) -> Tensor:
        """Do the backward pass of ``scale`` x (objective + ``extra``) for a batch with at least
        one present task; return (T,) weights."""

    def epoch_end(self, mean_task_losses: Tensor) -> None:
        """Receive the mean training loss of each task over the epoch; no-op by default."""

    def _check_inputs(self, losses: Tensor, present: Tensor) -> None:
        expected = (self.num_tasks,)
        if tuple(losses.shape) != expected:
            raise ValueError(f"losses must have shape {expected}, got {tuple(losses.shape)}")
        if tuple(present.shape) != expected:
            raise ValueError(f"present must have shape {expected}, got {tuple(present.shape)}")
        if present.dtype != torch.bool:
            raise TypeError(f"present must be a bool tensor, got {present.dtype}")


def backward_extra(extra: Tensor | None, scale: float) -> None:
    """Backpropagate ``scale`` x a term outside the weighting on its own, keeping the graph for
    the tasks."""
    if extra is not None:
        (extra * scale).backward(retain_graph=True)


class LossWeighting(Weighting):
    """A method that backpropagates one scalar built from the present tasks' losses.

    Subclasses implement :meth:`combine`. Every parameter receives the gradient of that scalar,
    so a head receives its own task's gradient scaled by the task's weight.
    """

    def _backward(
        self,
        losses: Tensor,
        present: Tensor,
        shared_params: list[Tensor],
        representation: Tensor | None,
        extra: Tensor | None,
        scale: float,
    ) -> Tensor:
        total, weights = self.combine(losses, present)
        ((total if extra is None else total + extra) * scale).backward()
        return weights

    @abstractmethod
    def combine(self, losses: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """Return the scalar to backpropagate and the ``(T,)`` weights (0 where absent)."""


class GradientWeighting(Weighting):
    """A method that combines the per-task gradients of the shared parameters.

    Subclasses implement :meth:`task_weights` from the Gramian ``J J^T`` of the Jacobian ``J``
    (one row per present task); the shared parameters receive ``weights @ J``.
    ``parallel_chunk_size`` is torchjd's: how many rows of the Jacobian are backpropagated at once
    through ``torch.vmap`` (None: all; 1: one at a time, for models that vmap cannot handle).
    """

    def __init__(self, num_tasks: int, parallel_chunk_size: int | None = None) -> None:
        super().__init__(num_tasks)
        if parallel_chunk_size is not None and parallel_chunk_size < 1:
            raise ValueError(f"parallel_chunk_size must be None or >= 1, got {parallel_chunk_size}")
        self.parallel_chunk_size = parallel_chunk_size

    def _backward(
        self,
        losses: Tensor,
        present: Tensor,
        shared_params: list[Tensor],
        representation: Tensor | None,
        extra: Tensor | None,
        scale: float,
    ) -> Tensor:
        backward_extra(extra, scale)
        task_losses = present_losses(losses, present)
        jacobians = self._shared_jacobians(task_losses, shared_params, representation, scale)
        gramian = sum(j @ j.T for j in jacobians)
        weights = self.task_weights(gramian, present).to(device=gramian.device, dtype=gramian.dtype)
        for p, jacobian in zip(shared_params, jacobians, strict=True):
            grad = (scale * (weights @ jacobian)).reshape(p.shape).to(dtype=p.dtype)
            p.grad = grad if p.grad is None else p.grad + grad
        return scatter_weights(weights, present, self.num_tasks)

    @abstractmethod
    def task_weights(self, gramian: Tensor, present: Tensor) -> Tensor:
        """Weights ``(k,)`` of the ``k`` present tasks from the ``(k, k)`` Gramian ``J J^T``."""

    def _shared_jacobians(
        self,
        task_losses: list[Tensor],
        shared_params: list[Tensor],
        representation: Tensor | None,
        scale: float,
    ) -> list[Tensor]:
        """Per shared parameter, its ``(k, numel)`` Jacobian (of the unscaled losses); heads get
        ``scale`` x their ordinary gradient.

        With a representation, the task gradients w.r.t. it are taken first (through the heads
        only) and then carried through the trunk in one batched pass. The last pass frees the
        graph. The Jacobians stay per parameter: the Gramian is summed over them, so the
        ``k x n`` Jacobian is never copied into one matrix.
        """
        if not shared_params:
            raise ValueError("gradient weighting methods need the shared parameters")
        if representation is None:
            heads = leaf_tensors(task_losses, exclude=shared_params)
            if heads:
                torch.autograd.backward(
                    torch.stack(task_losses).sum() * scale, inputs=heads, retain_graph=True
                )
            jac_backward(
                task_losses, inputs=shared_params, parallel_chunk_size=self.parallel_chunk_size
            )
        else:
            if representation.grad_fn is None:
                raise ValueError("representation must be computed from the shared parameters")
            (rep_jacobian,) = jac(
                task_losses,
                [representation],
                retain_graph=True,
                parallel_chunk_size=self.parallel_chunk_size,
            )
            heads = leaf_tensors(task_losses, exclude=shared_params, stop_at=representation)
            if heads:
                torch.autograd.backward(
                    torch.stack(task_losses).sum() * scale, inputs=heads, retain_graph=True
                )
            jac_backward(
                [representation],
                jac_tensors=[rep_jacobian],
                inputs=shared_params,
                parallel_chunk_size=self.parallel_chunk_size,
            )
        rows = len(task_losses)
        jacobians = []
        for p in shared_params:
            jacobians.append(p.jac.reshape(rows, -1))
            del p.jac
        return jacobians


def present_losses(losses: Tensor, present: Tensor) -> list[Tensor]:
    """The scalar losses of the present tasks, in task order."""
    return [losses[i] for i in present.nonzero().flatten().tolist()]


def scatter_weights(weights: Tensor, present: Tensor, num_tasks: int) -> Tensor:
    """Place the ``(k,)`` weights of the present tasks into a ``(T,)`` vector, 0 elsewhere."""
    full = weights.new_zeros(num_tasks)
    full[present.to(weights.device)] = weights
    return full


def leaf_tensors(
    roots: Iterable[Tensor], exclude: Iterable[Tensor], stop_at: Tensor | None = None
) -> list[Tensor]:
    """Leaf tensors requiring grad in the autograd graph of ``roots``, except ``exclude``.

    The walk does not go past ``stop_at`` (the shared representation): what lies behind it is
    the trunk.
    """
    excluded = {id(t) for t in exclude}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen: set[object] = set() if stop_at is None else {stop_at.grad_fn}
    leaves: list[Tensor] = []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            if id(variable) not in excluded:
                leaves.append(variable)
            continue
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves
