"""A small Transformer report decoder trained from scratch (the default).

Pre-norm blocks of causal self-attention, cross-attention to the visual tokens (projected from
the encoder's dimension to the decoder width) and an MLP; learned or sinusoidal positions; the
output layer shares the token embedding. Incremental decoding keeps a key/value cache: the
visual keys/values are computed once per report, each new token adds one row per layer.

With ``condition_tokens = K`` the last ``K`` memory rows (a guided model's finding prompts) also
reach every text position directly: flattened, mapped to one vector (normalised, at the scale of
the token embeddings) and added to each token's input embedding. Cross-attention alone has to
learn to find the right prompt at the right place in the report, which took longer: with oracle
prompts for the 18 findings on the phantom's reports (text only, one seed), CE macro-F1 after
15 / 20 epochs was 0.30 / 0.36 by cross-attention alone and 0.47 / 0.50 with the direct path;
in ``benchmarks.report_generation`` (30 epochs, the head's own decisions) 0.273 and 0.317.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.models.report.base import ReportDecoder

KV = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class TransformerDecoderConfig:
    """Shape of the from-scratch decoder.

    vocab_size: from the tokenizer (``ReportTokenizer.vocab_size``).
    visual_dim: width ``D`` of the encoder's visual tokens.
    max_len: most text tokens, bos included (CT-RATE reports: median ~300 BPE tokens at 2000).
    condition_tokens: how many trailing memory rows also condition every position directly
        (0: none; a guided model's number of finding prompts).
    """

    vocab_size: int
    visual_dim: int
    width: int = 256
    layers: int = 3
    heads: int = 4
    max_len: int = 512
    dropout: float = 0.1
    mlp_ratio: int = 4
    positions: Literal["learned", "sinusoidal"] = "learned"
    condition_tokens: int = 0

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if min(self.vocab_size, self.visual_dim, self.layers, self.max_len, self.mlp_ratio) < 1:
            raise ValueError(f"sizes must be positive: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {self.positions!r}")
        if self.condition_tokens < 0:
            raise ValueError(f"condition_tokens must be >= 0, got {self.condition_tokens}")


@dataclass
class TransformerState:
    """Per layer: visual keys/values (fixed) and text keys/values so far; ``length`` tokens seen;
    ``condition`` ``(B, width)`` added to every token's input (None without condition tokens)."""

    memory: list[KV]
    past: list[KV]
    length: int = 0
    condition: torch.Tensor | None = None


class _Attention(nn.Module):
    """Multi-head attention whose keys/values can be computed apart from the queries (caching)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.query, self.key, self.value = (nn.Linear(width, width) for _ in range(3))
        self.out = nn.Linear(width, width)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> KV:
        return self._split(self.key(x)), self._split(self.value(x))

    def forward(self, x: torch.Tensor, kv: KV, mask: torch.Tensor | None = None) -> torch.Tensor:
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            self._split(self.query(x)), *kv, attn_mask=mask, dropout_p=p
        )
        return self.out(y.transpose(1, 2).flatten(2))


class _Block(nn.Module):
    def __init__(self, config: TransformerDecoderConfig) -> None:
        super().__init__()
        w = config.width
        self.norm_self, self.norm_cross, self.norm_mlp = (
            nn.LayerNorm(w),
            nn.LayerNorm(w),
            nn.LayerNorm(w),
        )
        self.self_attn = _Attention(w, config.heads, config.dropout)
        self.cross_attn = _Attention(w, config.heads, config.dropout)
        self.mlp = nn.Sequential(
            nn.Linear(w, w * config.mlp_ratio), nn.GELU(), nn.Linear(w * config.mlp_ratio, w)
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, memory: KV, past: KV | None, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, KV]:
        """One block over new tokens ``x``; ``past`` holds earlier tokens' keys/values."""
        h = self.norm_self(x)
        k, v = self.self_attn.keys_values(h)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = x + self.drop(self.self_attn(h, (k, v), mask))
        x = x + self.drop(self.cross_attn(self.norm_cross(x), memory))
        return x + self.drop(self.mlp(self.norm_mlp(x))), (k, v)


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """``(length, width)`` fixed sine/cosine position codes (Vaswani et al., 2017)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    codes = torch.zeros(length, width)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate)[:, : width // 2]
    return codes


class TransformerReportDecoder(ReportDecoder):
    """Causal Transformer decoder with cross-attention to visual tokens, tied embeddings."""

    def __init__(self, config: TransformerDecoderConfig) -> None:
        super().__init__()
        self.config, self.max_len = config, config.max_len
        self.embed = nn.Embedding(config.vocab_size, config.width)
        if config.positions == "learned":
            self.positions = nn.Parameter(torch.randn(config.max_len, config.width) * 0.02)
        else:
            self.register_buffer(
                "positions", sinusoidal_positions(config.max_len, config.width), persistent=False
            )
        self.visual = nn.Sequential(
            nn.Linear(config.visual_dim, config.width), nn.LayerNorm(config.width)
        )
        self.condition = (
            nn.Sequential(nn.Linear(config.condition_tokens * config.visual_dim, config.width),
                          nn.LayerNorm(config.width))
            if config.condition_tokens else None
        )
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)
        self.drop = nn.Dropout(config.dropout)
        self.apply(_init)
        if self.condition is not None:
            # A linear map of K * visual_dim inputs moves by about that many learning rates per
            # Adam step and soon drowned the token embeddings (the loss stalled); normalised and
            # scaled like the embeddings, the condition grows only as fast as they do.
            nn.init.constant_(self.condition[1].weight, 0.02)

    def start(self, visual: torch.Tensor) -> TransformerState:
        """The state before the first token: cross-attention keys/values and the condition."""
        condition = None
        if self.condition is not None:
            k = self.config.condition_tokens
            if visual.shape[1] < k:
                raise ValueError(
                    f"memory of {visual.shape[1]} rows, fewer than condition_tokens {k}"
                )
            condition = self.condition(visual[:, -k:].flatten(1))
        memory = self.visual(visual)
        return TransformerState(
            [block.cross_attn.keys_values(memory) for block in self.blocks], [], 0, condition
        )

    def _run(
        self, ids: torch.Tensor, state: TransformerState, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[KV]]:
        start, end = state.length, state.length + ids.shape[1]
        if end > self.max_len:
            raise ValueError(f"{end} text tokens exceed the decoder's max_len {self.max_len}")
        x = self.embed(ids) + self.positions[start:end]
        if state.condition is not None:
            x = x + state.condition[:, None]
        x = self.drop(x)
        past = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, state.memory[i], state.past[i] if state.past else None, mask)
            past.append(kv)
        return self.norm(x) @ self.embed.weight.T, past

    def forward(self, visual: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).tril()
        attend = causal[None, None] & mask.bool()[:, None, None, :]
        logits, _ = self._run(ids, self.start(visual), attend)
        return logits

    def step(
        self, tokens: torch.Tensor, state: TransformerState
    ) -> tuple[torch.Tensor, TransformerState]:
        logits, past = self._run(tokens[:, None], state, None)
        return logits[:, -1], TransformerState(
            state.memory, past, state.length + 1, state.condition
        )

    def select(self, state: TransformerState, rows: torch.Tensor) -> TransformerState:
        def pick(kvs: list[KV]) -> list[KV]:
            return [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in kvs]

        condition = None if state.condition is None else state.condition.index_select(0, rows)
        return TransformerState(pick(state.memory), pick(state.past), state.length, condition)


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
