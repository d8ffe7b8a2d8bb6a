"""Decoding strategies over any :class:`ReportDecoder`: batched greedy and beam search.

Both feed bos first and stop a row at eos or after ``max_tokens`` generated tokens (eos counts;
never more than the decoder's ``max_len``). They return token ids without bos and eos.
Beam search finishes a report once ``beam_width`` hypotheses have ended in eos among the best
``beam_width`` candidates of a step (fairseq's rule, HF's ``early_stopping=True``), so width 1
is exactly greedy; hypotheses are ranked by ``sum log p / length ** length_penalty``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hyperct.models.report.base import ReportDecoder
from hyperct.models.report.tokenizer import ReportTokenizer


@dataclass(frozen=True)
class GenerationConfig:
    """How to write a report.

    max_tokens: most generated tokens per report (eos included).
    beam_width: 1 decodes greedily.
    length_penalty: exponent of the length normalisation; > 0 favours longer reports.
    """

    max_tokens: int = 512
    beam_width: int = 1
    length_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.max_tokens < 1 or self.beam_width < 1:
            raise ValueError(f"max_tokens and beam_width must be >= 1: {self}")


def _budget(decoder: ReportDecoder, max_tokens: int) -> int:
    return min(max_tokens, decoder.max_len)


def _until_eos(row: list[int], eos_id: int) -> list[int]:
    return row[: row.index(eos_id)] if eos_id in row else row


@torch.no_grad()
def greedy(
    decoder: ReportDecoder, visual: torch.Tensor, bos_id: int, eos_id: int, max_tokens: int
) -> list[list[int]]:
    """The most likely next token at every step, one sequence per row of ``visual``."""
    state = decoder.start(visual)
    tokens = torch.full((visual.shape[0],), bos_id, dtype=torch.long, device=visual.device)
    done = torch.zeros_like(tokens, dtype=torch.bool)
    out = []
    for _ in range(_budget(decoder, max_tokens)):
        logits, state = decoder.step(tokens, state)
        tokens = logits.argmax(-1).masked_fill(done, eos_id)
        out.append(tokens)
        done |= tokens == eos_id
        if done.all():
            break
    rows = torch.stack(out, dim=1).tolist()
    return [_until_eos(row, eos_id) for row in rows]


@dataclass
class _Beams:
    """Live hypotheses of a batch, ``K`` per report, flattened to ``B * K`` rows."""

    scores: torch.Tensor  # (B, K) summed log-probabilities
    sequences: torch.Tensor  # (B * K, t)
    finished: list[list[tuple[float, list[int]]]]

    def finish(
        self, b: int, score: float, sequence: list[int], length: int, penalty: float
    ) -> None:
        self.finished[b].append((score / length**penalty, sequence))


@torch.no_grad()
def beam_search(
    decoder: ReportDecoder, visual: torch.Tensor, bos_id: int, eos_id: int, config: GenerationConfig
) -> list[list[int]]:
    """Beam search of width ``config.beam_width``; the best finished hypothesis per row."""
    batch, width, device = visual.shape[0], config.beam_width, visual.device
    state = decoder.select(
        decoder.start(visual), torch.arange(batch, device=device).repeat_interleave(width)
    )
    scores = torch.full((batch, width), float("-inf"), device=device)
    scores[:, 0] = 0.0
    beams = _Beams(
        scores,
        torch.empty(batch * width, 0, dtype=torch.long, device=device),
        [[] for _ in range(batch)],
    )
    tokens = torch.full((batch * width,), bos_id, dtype=torch.long, device=device)
    done = [False] * batch
    steps = _budget(decoder, config.max_tokens)
    for t in range(steps):
        logits, state = decoder.step(tokens, state)
        logp = torch.log_softmax(logits.float(), dim=-1).view(batch, width, -1)
        rows, tokens = _advance(beams, logp, eos_id, done, t + 1, config)
        state = decoder.select(state, rows)
        if all(done):
            break
    for b in range(batch):
        if not done[b]:
            for k in range(width):
                score = beams.scores[b, k].item()
                if score > float("-inf"):
                    beams.finish(
                        b,
                        score,
                        beams.sequences[b * width + k].tolist(),
                        steps,
                        config.length_penalty,
                    )
    return [max(hyps, key=lambda h: h[0])[1] for hyps in beams.finished]


def _advance(
    beams: _Beams,
    logp: torch.Tensor,
    eos_id: int,
    done: list[bool],
    length: int,
    config: GenerationConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One beam step: move eos endings into ``finished``, keep the best ``K`` others alive.

    Returns the state rows to keep (``B * K``) and the next tokens to feed.
    """
    batch, width, vocab = logp.shape
    candidates = (beams.scores[..., None] + logp).view(batch, width * vocab)
    top, index = candidates.topk(min(2 * width, width * vocab), dim=-1)
    source, token = index // vocab, index % vocab
    is_eos = token == eos_id
    for b in range(batch):
        for j in range(width):
            if not done[b] and is_eos[b, j] and top[b, j] > float("-inf"):
                sequence = beams.sequences[b * width + source[b, j]].tolist()
                beams.finish(b, top[b, j].item(), sequence, length, config.length_penalty)
        done[b] = done[b] or len(beams.finished[b]) >= width
    alive, pick = top.masked_fill(is_eos, float("-inf")).topk(width, dim=-1)
    offsets = torch.arange(batch, device=logp.device)[:, None] * width
    rows = (source.gather(1, pick) + offsets).flatten()
    next_tokens = token.gather(1, pick).flatten()
    beams.scores = alive
    beams.sequences = torch.cat([beams.sequences[rows], next_tokens[:, None]], dim=1)
    return rows, next_tokens


def generate(
    decoder: ReportDecoder,
    visual: torch.Tensor,
    tokenizer: ReportTokenizer,
    config: GenerationConfig,
) -> list[str]:
    """Report text per row of ``visual``: greedy for width 1, else beam search."""
    bos, eos = tokenizer.bos_id, tokenizer.eos_id
    if config.beam_width == 1:
        ids = greedy(decoder, visual, bos, eos, config.max_tokens)
    else:
        ids = beam_search(decoder, visual, bos, eos, config)
    return tokenizer.decode(ids)
