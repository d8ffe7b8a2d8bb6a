"""The one interface of a report decoder: text conditioned on visual tokens.

A report model is any visual encoder that yields visual tokens ``(B, N, D)`` plus a decoder of
this kind; the decoder owns the projection from ``D`` to its own width, so encoders need not
know about it. Subclasses write four methods: teacher-forced logits (:meth:`forward`), and the
three steps incremental decoding needs (:meth:`start`, :meth:`step`, :meth:`select`); the
training loss and the decoding strategies (``hyperct.models.report.generate``) are written once
on top of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Opaque per-batch decoding state (key/value caches); only the decoder that made it reads it.
#: A step may update it in place: callers use only the state a call returned.
DecodingState = Any


class ReportDecoder(nn.Module, ABC):
    """Base class: next-token logits for report tokens given visual tokens.

    ``ids``/``mask`` are ``(B, L)`` as :meth:`ReportTokenizer.encode` gives them (bos first,
    right-padded); ``visual`` is ``(B, N, visual_dim)``.
    """

    #: Most text tokens (bos included) the decoder can attend over.
    max_len: int

    @abstractmethod
    def forward(self, visual: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L, V)``: position ``t`` predicts token ``t + 1``."""

    @abstractmethod
    def start(self, visual: torch.Tensor) -> DecodingState:
        """State for decoding one sequence per row of ``visual``, no text token seen yet."""

    @abstractmethod
    def step(
        self, tokens: torch.Tensor, state: DecodingState
    ) -> tuple[torch.Tensor, DecodingState]:
        """Feed one token per row ``(B,)``; give next-token logits ``(B, V)`` and the new state."""

    @abstractmethod
    def select(self, state: DecodingState, rows: torch.Tensor) -> DecodingState:
        """Keep (and repeat) the state's rows ``rows`` (beam search reorders hypotheses)."""

    def loss(self, visual: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy (scalar), mean over the real next tokens of the batch.

        Targets are the ids shifted by one; padded targets are ignored through ``mask`` (not by
        id, so a pad id equal to eos, as in some pretrained LMs, still teaches to stop).
        """
        logits = self(visual, ids[:, :-1], mask[:, :-1])
        targets = ids[:, 1:].masked_fill(~mask[:, 1:].bool(), -100)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
