"""Data-parallel training under ``torchrun``: process group, rank-0 gating, gradient averaging.

Gradients are averaged with one all-reduce per trainable tensor after the objective's backward
instead of wrapping the model in ``DistributedDataParallel``: gradient-weighting methods (MGDA,
PCGrad, ...) run their own backward passes, which DDP's hooks cannot follow, and the trainable
part (LoRA, hypernetwork, heads) is small. The 3D classifiers train all their weights the same
way; their batch-norm statistics are averaged once per epoch. gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job; a single process is rank 0 of world size 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    logger.info("distributed: rank %d of %d", info.rank, info.world_size)
    return info


def average_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """Average ``.grad`` across ranks; a rank without a gradient contributes zeros."""
    if not info.enabled:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(info.world_size)


def average_buffers(model: nn.Module, info: DistInfo) -> None:
    """Average the model's floating-point buffers (batch-norm running statistics) across ranks.

    Each rank updates them from its own batches; averaging once per epoch keeps the ranks'
    models identical, as DDP's buffer broadcast would, with statistics from every rank's data.
    """
    if not info.enabled:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(info.world_size)


def all_gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's ``obj``, in rank order (a one-element list without distribution)."""
    if not info.enabled:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op without distribution)."""
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Leave the process group."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
