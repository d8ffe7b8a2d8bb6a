"""Device choice and bf16 autocast where the hardware supports it."""

from __future__ import annotations

import contextlib
import functools
import logging
import typing
from collections.abc import Iterator

import torch

from hyperct.config.run import ConfigError

logger = logging.getLogger(__name__)

ModelT = typing.TypeVar("ModelT")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA (this rank's GPU) when available, else CPU.

    A CUDA device this torch cannot use (a CPU-only build, no GPU, or an index past the last
    GPU) is refused here in one line, before anything is built or written.
    """
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device; use auto, cpu, cuda[:N] or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "without a usable GPU"
            raise ConfigError(
                f"device {name!r} was asked for, but this torch {torch.__version__} is {build}; "
                "use device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r} was asked for, but MPS is not available here; use cpu or auto")
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic in hardware (AVX512-BF16 or AMX); without it,
    CPU autocast emulates bf16 through float32, slower than float32 itself."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def bf16_supported(device: torch.device) -> bool:
    """CUDA with bf16 support, or a CPU with bf16 arithmetic (:func:`cpu_has_bf16`)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


@functools.cache
def _log_float32_fallback(device_type: str, setting: str, consequence: str) -> None:
    """Warn once per (device type, setting) that a bf16 choice runs in float32 here."""
    reason = "needs AVX512-BF16 or AMX" if device_type == "cpu" else "torch reports no bf16 support"
    logger.warning("%s, but this %s has no bf16 arithmetic (%s); %s", setting, device_type, reason,
                   consequence)


def on_device(model: ModelT, device: torch.device) -> ModelT:
    """``model`` moved to ``device``. Weights stored in bfloat16 (a ``backbone_dtype`` choice)
    go back to float32 where the device has no bf16 arithmetic, logged once: the choice is a
    speed option, and emulated bf16 would make it the slowest one (1 GFLOP/s against 120 in
    float32, measured on an AVX2 CPU)."""
    module = typing.cast(torch.nn.Module, model)
    if not bf16_supported(device) and any(p.dtype == torch.bfloat16 for p in module.parameters()):
        _log_float32_fallback(
            device.type, "backbone_dtype is bfloat16",
            "the frozen weights run in float32 (emulated bf16 matmuls are about 100x slower than "
            "float32 on such a CPU)",
        )
        module.float()
    return typing.cast(ModelT, module.to(device))


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool) -> Iterator[None]:
    """bf16 autocast when ``enabled`` and supported; otherwise full precision (a requested but
    unsupported bf16 is logged once per device type)."""
    if enabled and bf16_supported(device):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        if enabled:
            _log_float32_fallback(device.type, "runtime.bf16 is on", "running in float32")
        yield
