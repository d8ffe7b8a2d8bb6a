"""Helpers for the report-generation tests: tiny decoders and fixed visual tokens."""

import torch

from hyperct.models.report.decoder import TransformerDecoderConfig, TransformerReportDecoder


def tiny_decoder(
    vocab_size: int, visual_dim: int = 16, **overrides: object
) -> TransformerReportDecoder:
    """A seeded, dropout-free decoder small enough to overfit a few reports in seconds."""
    torch.manual_seed(0)
    fields = dict(width=32, layers=2, heads=4, max_len=64, dropout=0.0) | overrides
    config = TransformerDecoderConfig(vocab_size=vocab_size, visual_dim=visual_dim, **fields)
    return TransformerReportDecoder(config)


def visual_tokens(batch: int, seed: int = 1, tokens: int = 5, dim: int = 16) -> torch.Tensor:
    """Fixed random visual tokens ``(batch, tokens, dim)``."""
    return torch.randn(batch, tokens, dim, generator=torch.Generator().manual_seed(seed))
