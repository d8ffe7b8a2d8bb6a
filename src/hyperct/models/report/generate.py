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
    """Beam-search bookkeeping: ``K`` live hypotheses per report, flattened to ``B * K`` rows."""

    width: int
    penalty: float
    scores: torch.Tensor  # (B, K) summed log-probabilities of the live hypotheses
    sequences: torch.Tensor  # (B * K, t) their tokens so far
    finished: list[list[tuple[float, list[int]]]]  # per report: (normalised score, tokens)
    done: list[bool]

    @classmethod
    def empty(cls, batch: int, width: int, penalty: float, device: torch.device) -> _Beams:
        scores = torch.full((batch, width), float("-inf"), device=device)
        scores[:, 0] = 0.0  # all K rows start identical: only one may expand at first
        sequences = torch.empty(batch * width, 0, dtype=torch.long, device=device)
        return cls(width, penalty, scores, sequences, [[] for _ in range(batch)], [False] * batch)

    def _finish(self, b: int, score: float, row: int, length: int) -> None:
        self.finished[b].append((score / length**self.penalty, self.sequences[row].tolist()))

    def advance(
        self, logp: torch.Tensor, eos_id: int, length: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Move eos endings among the best K into ``finished``, keep the best K others alive.

        ``logp`` is ``(B * K, V)``; returns the state rows to keep and the next tokens to feed.
        """
        batch, width = self.scores.shape
        vocab = logp.shape[-1]
        candidates = (self.scores[..., None] + logp.view(batch, width, vocab)).flatten(1)
        top, index = candidates.topk(min(2 * width, width * vocab), dim=-1)
        source = index // vocab + torch.arange(batch, device=logp.device)[:, None] * width
        token = index % vocab
        is_eos = token == eos_id
        for b, j in (is_eos[:, :width] & (top[:, :width] > float("-inf"))).nonzero().tolist():
            if not self.done[b]:
                self._finish(b, top[b, j].item(), source[b, j].item(), length)
        self.done = [d or len(f) >= width for d, f in zip(self.done, self.finished)]
        self.scores, pick = top.masked_fill(is_eos, float("-inf")).topk(width, dim=-1)
        rows, tokens = source.gather(1, pick).flatten(), token.gather(1, pick).flatten()
        self.sequences = torch.cat([self.sequences[rows], tokens[:, None]], dim=1)
        return rows, tokens

    def close(self, length: int) -> list[list[int]]:
        """Reports still open at the length limit take their live hypotheses; the best of each."""
        open_rows = [
            b * self.width + k for b, d in enumerate(self.done) if not d for k in range(self.width)
        ]
        for row in open_rows:
            score = self.scores.view(-1)[row].item()
            if score > float("-inf"):
                self._finish(row // self.width, score, row, length)
        return [max(hyps, key=lambda h: h[0])[1] for hyps in self.finished]


@torch.no_grad()
def beam_search(
    decoder: ReportDecoder, visual: torch.Tensor, bos_id: int, eos_id: int, config: GenerationConfig
) -> list[list[int]]:
    """Beam search of width ``config.beam_width``; the best finished hypothesis per row."""
    batch, width, device = visual.shape[0], config.beam_width, visual.device
    rows = torch.arange(batch, device=device).repeat_interleave(width)
    state = decoder.select(decoder.start(visual), rows)
    beams = _Beams.empty(batch, width, config.length_penalty, device)
    tokens = torch.full((batch * width,), bos_id, dtype=torch.long, device=device)
    steps = _budget(decoder, config.max_tokens)
    for t in range(steps):
        logits, state = decoder.step(tokens, state)
        rows, tokens = beams.advance(torch.log_softmax(logits.float(), dim=-1), eos_id, t + 1)
        if all(beams.done):
            break
        state = decoder.select(state, rows)
    return beams.close(steps)


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
