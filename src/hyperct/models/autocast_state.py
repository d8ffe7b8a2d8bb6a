"""The autocast state of a custom autograd node's forward pass, replayed in its backward.

Autograd runs backward outside any ``torch.autocast`` region, so a node that recomputes part of
its forward pass there would compute it in other dtypes than the forward did (float32 weights
and inputs, a bf16 incoming gradient) unless it enters the forward's autocast state again, as
``torch.amp.custom_bwd`` does for one device type.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class AutocastState:
    """Whether autocast was on for ``device_type``, and in which dtype."""

    device_type: str
    enabled: bool
    dtype: torch.dtype

    @classmethod
    def of(cls, tensor: torch.Tensor) -> AutocastState:
        """The autocast state now, for ``tensor``'s device type."""
        device_type = tensor.device.type
        return cls(
            device_type,
            torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type),
        )

    def replay(self) -> contextlib.AbstractContextManager[None]:
        """Enter this state (a no-op where autocast was off)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def replays_autocast(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Run a custom Function's ``backward`` in the state its forward saved as ``ctx.autocast``
    (:meth:`AutocastState.of`)."""

    @functools.wraps(backward)
    def wrapped(ctx: Any, *grads: Any) -> Any:
        with ctx.autocast.replay():
            return backward(ctx, *grads)

    return wrapped
