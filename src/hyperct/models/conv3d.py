"""3D convolutions that run in float32 under CPU bf16 autocast.

CPU autocast runs ``conv3d`` in bf16 through oneDNN, and its bf16 backward gives non-finite
weight and input gradients for inputs two voxels deep (measured with torch 2.13 on an
AVX512-BF16 CPU: a ``(8, 64, 2, 2, 2)`` input gives NaN weight gradients in about 2 of 3
backward passes once the allocator hands back dirty memory; depths 1, 3 and more, 2D
convolutions and float32 are exact). A ResNet-3D at stride 16 on a 28-32 slice crop has exactly
such maps in its last stage and in every decoder reading it, so a bf16 training step turned
NaN. Every 3D convolution of the project's models is therefore a :class:`CPUFloat32Conv3d`:
under CPU autocast it leaves autocast and computes in float32 (what it returns is float32, which
the following norm reads anyway); on CUDA and without autocast it is a plain ``nn.Conv3d``.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


class CPUFloat32Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that computes in float32 when CPU autocast is on (see module doc)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(input.float())
        return super().forward(input)


def float32_conv3d_on_cpu(module: M) -> M:
    """``module`` with every ``nn.Conv3d`` in it made a :class:`CPUFloat32Conv3d` (in place: same
    parameters and state-dict keys, only the forward's precision under CPU autocast changes)."""
    for child in module.modules():
        if type(child) is nn.Conv3d:
            child.__class__ = CPUFloat32Conv3d
    return module
