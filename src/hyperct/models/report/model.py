"""A report model assembled from parts: visual encoder + report decoder + tokenizer.

Any module that maps images to visual tokens ``(B, N, D)`` is an encoder; a CNN backbone that
returns a feature map ``(B, C, *spatial)`` becomes one through :class:`FeatureMapTokens`.
Cross-attention and a visual prefix both treat the tokens as a set, so the encoder adds
positions where location matters (``FeatureMapTokens(..., tokens=N)`` learns one per token).

Example::

    encoder = FeatureMapTokens(backbone, channels=512, tokens=4 * 4 * 4)
    config = TransformerDecoderConfig(tokenizer.vocab_size, visual_dim=512)
    decoder = TransformerReportDecoder(config)
    model = ReportModel(encoder, decoder, tokenizer)
    model.loss(volumes, reports).backward()
    model.generate(volumes, GenerationConfig(beam_width=3))

The tokenizer is not a module: save ``model.tokenizer.to_state()`` beside the state dict.
With a :class:`~hyperct.models.report.guidance.FindingGuidance` the decoder's memory is the
visual tokens plus one finding prompt each, and the loss adds the finding classification's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hyperct.models.report.base import ReportDecoder
from hyperct.models.report.generate import GenerationConfig, generate
from hyperct.models.report.guidance import FindingGuidance
from hyperct.models.report.tokenizer import ReportTokenizer


class FeatureMapTokens(nn.Module):
    """Wrap a backbone giving ``(B, C, *spatial)``: one visual token per location, ``(B, N, C)``."""

    def __init__(self, backbone: nn.Module, channels: int, tokens: int | None = None) -> None:
        super().__init__()
        self.backbone, self.channels = backbone, channels
        self.positions = (
            None if tokens is None else nn.Parameter(0.02 * torch.randn(tokens, channels))
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(images)
        if features.ndim < 3 or features.shape[1] != self.channels:
            raise ValueError(
                f"backbone gave {tuple(features.shape)}, expected (B, {self.channels}, *spatial)"
            )
        tokens = features.flatten(2).transpose(1, 2)
        if self.positions is None:
            return tokens
        if tokens.shape[1] != self.positions.shape[0]:
            raise ValueError(
                f"backbone gave {tokens.shape[1]} locations, "
                f"positions are for {self.positions.shape[0]}"
            )
        return tokens + self.positions


class ReportModel(nn.Module):
    """Images to text: ``encoder`` gives visual tokens, ``decoder`` writes, ``tokenizer`` spells;
    an optional ``guidance`` adds finding prompts to the memory (its loss weighted by
    ``guidance_weight``)."""

    def __init__(
        self, encoder: nn.Module, decoder: ReportDecoder, tokenizer: ReportTokenizer,
        guidance: FindingGuidance | None = None, guidance_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder, self.tokenizer = encoder, decoder, tokenizer
        self.guidance, self.guidance_weight = guidance, guidance_weight

    def visual_tokens(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(images)
        if tokens.ndim != 3 or tokens.shape[0] != images.shape[0]:
            raise ValueError(
                f"encoder gave {tuple(tokens.shape)}, expected visual tokens (B, N, D)"
            )
        return tokens

    def memory(
        self, images: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the decoder reads ``(B, M, D)`` and the finding logits (None without guidance);
        ``labels`` ``(B, F)`` (-1 missing) set the training prompts where known."""
        visual = self.visual_tokens(images)
        if self.guidance is None:
            return visual, None
        return self.guidance.memory(visual, labels)

    def loss(
        self, images: torch.Tensor, reports: Sequence[str], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Teacher-forced cross-entropy of ``reports`` (cut to the decoder's ``max_len``), plus
        the weighted finding classification loss when guided and ``labels`` are given."""
        batch = self.tokenizer.encode(reports, self.decoder.max_len)
        device = images.device
        memory, logits = self.memory(images, labels)
        loss = self.decoder.loss(memory, batch.ids.to(device), batch.mask.to(device))
        if self.guidance is None or logits is None or labels is None:
            return loss
        return loss + self.guidance_weight * self.guidance.loss(logits, labels)

    @torch.no_grad()
    def generate(
        self, images: torch.Tensor, config: GenerationConfig = GenerationConfig()
    ) -> list[str]:
        """One report per image."""
        return generate(self.decoder, self.memory(images)[0], self.tokenizer, config)
