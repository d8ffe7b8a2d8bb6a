"""Classification-guided report generation: finding prompts in the decoder's memory.

A decoder trained only by token cross-entropy on reports dominated by boilerplate learns to
write the common report and never mentions a finding it cannot tell apart (the idea of
PromptMRG-style guidance). :class:`FindingGuidance` gives it that decision explicitly:

- a multi-label head on the mean of the visual tokens predicts each finding, trained by BCE on
  the scan's labels where it has them (a missing label, ``-1``, contributes nothing);
- one prompt token per finding, a learned embedding per (finding, state present/absent), is
  appended to the visual tokens, so every cross-attention layer reads the decision
  (:class:`FindingPrompts`, also usable with another model's classifier, e.g. UniCT's).

Choices, and why:

- **Hard states, not probabilities.** A prompt is the finding's *present* or *absent*
  embedding, so the decoder learns a crisp rule ("present prompt -> write the finding's
  sentence"), and the report says what the classifier decided. Soft mixtures by probability
  leave a rare finding at p ~ 0.2 looking like "absent" to a greedy decoder.
- **Training prompts are the labels where known** (the model's own detached decision where a
  label is missing); at inference they are the model's decisions. The decoder is trained to
  be a faithful verbaliser of its prompts; the classifier, trained by its own loss, is what is
  tested at inference. The token loss never reaches the head through the (discrete) states.
- **Threshold 0.5 of a head trained with positives weighted by negatives/positives**
  (counts of the labels seen in training, kept in the state dict, weight clamped to [1, 10]).
  For a calibrated head that says a finding whenever it is more likely than its prevalence,
  which is where CRG (the report metric of the VLM3D challenge) is decided: a true positive
  gains r = (X - A) / 2A, a false negative loses as much and a false positive costs 1, so
  saying a finding pays when p * 2r > 1 - p, i.e. when p > A / X. The F1-optimal threshold of
  a weak classifier is near there too. No threshold to fit after training, nothing outside the
  checkpoint. (A square-root weighting was the first choice. On the report benchmark the two
  gave text scores within a run's noise of each other, the square root ahead in the one pair
  measured: CE-F1 0.317 vs 0.292, CRG 0.406 vs 0.395 with a 2-layer decoder; moving the
  head's decisions toward more positives raised its own CRG a little, 0.433 to 0.442. So the
  weighting follows the metric's argument, not a measured win.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: A label the scan does not have (the manifest's -1).
MISSING = -1
#: Most weight given to a finding's positives.
MAX_POS_WEIGHT = 10.0


@dataclass(frozen=True)
class FindingGuidanceConfig:
    """``findings``: how many findings the head predicts (one prompt each); ``visual_dim``: the
    width of the visual tokens (the prompts have the same width)."""

    findings: int
    visual_dim: int

    def __post_init__(self) -> None:
        if self.findings < 1 or self.visual_dim < 1:
            raise ValueError(f"findings and visual_dim must be >= 1: {self}")


def decisions(logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Present (True) or absent per finding ``(B, F)``: the label where known (``labels``, -1
    missing), else logit > 0 (detached: the token loss never reaches the classifier)."""
    predicted = logits.detach() > 0
    if labels is None:
        return predicted
    _check_labels(labels, logits)
    return torch.where(labels != MISSING, labels > 0, predicted)


def count_labels(positives: torch.Tensor, known: torch.Tensor, labels: torch.Tensor) -> None:
    """Add the positives and the known labels of ``labels`` ``(B, F)`` (-1 missing) to the
    per-finding running counts ``positives`` and ``known`` ``(F,)``, in place."""
    seen = labels != MISSING
    positives += ((labels > 0) & seen).sum(0).to(positives)
    known += seen.sum(0).to(known)


def negatives_per_positive(positives: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Per finding, negatives / positives of the counted labels; 1 where either is 0."""
    negatives = known - positives
    usable = (positives > 0) & (negatives > 0)
    return torch.where(usable, negatives / positives.clamp(min=1), torch.ones_like(positives))


class PrevalenceDecisions(nn.Module):
    """Present where the head's probability exceeds the finding's prevalence among the labels
    seen in training (counts in the state dict; 0.5 before any): the decision a plain-BCE head
    (UniCT's) needs to say what CRG rewards, as :class:`FindingGuidance`'s weighted head does at
    0.5. Known labels override it, as in :func:`decisions`."""

    def __init__(self, findings: int) -> None:
        super().__init__()
        self.register_buffer("positives", torch.zeros(findings))
        self.register_buffer("known", torch.zeros(findings))

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None and self.training:
            _check_labels(labels, logits)
            count_labels(self.positives, self.known, labels)
        odds = negatives_per_positive(self.positives, self.known)
        return decisions(logits + odds.log().to(logits), labels)


class FindingPrompts(nn.Module):
    """Memory ``(B, N, D)`` + decisions ``(B, F)`` -> ``(B, N + F, D)``: one learned prompt per
    (finding, state) appended; ``embeddings[0]`` absent, ``embeddings[1]`` present."""

    def __init__(self, findings: int, dim: int) -> None:
        super().__init__()
        if findings < 1 or dim < 1:
            raise ValueError(f"findings and dim must be >= 1, got {findings} and {dim}")
        self.embeddings = nn.Parameter(0.02 * torch.randn(2, findings, dim))

    def forward(self, memory: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        if present.shape != (memory.shape[0], self.embeddings.shape[1]):
            raise ValueError(f"decisions of shape {tuple(present.shape)}, expected "
                             f"({memory.shape[0]}, {self.embeddings.shape[1]})")
        prompts = torch.where(present[..., None], self.embeddings[1], self.embeddings[0])
        return torch.cat([memory, prompts.to(memory.dtype)], dim=1)


class FindingGuidance(nn.Module):
    """Visual tokens ``(B, N, D)`` -> finding logits ``(B, F)`` and memory ``(B, N + F, D)``."""

    def __init__(self, config: FindingGuidanceConfig) -> None:
        super().__init__()
        self.config = config
        self.head = nn.Sequential(nn.LayerNorm(config.visual_dim),
                                  nn.Linear(config.visual_dim, config.findings))
        self.prompts = FindingPrompts(config.findings, config.visual_dim)
        self.register_buffer("positives", torch.zeros(config.findings))
        self.register_buffer("known", torch.zeros(config.findings))

    def logits(self, visual: torch.Tensor) -> torch.Tensor:
        """Finding logits ``(B, F)`` from the mean visual token."""
        return self.head(visual.mean(dim=1))

    def memory(
        self, visual: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(visual tokens + one prompt per finding, logits)``; ``labels`` (training) set the
        prompts where known."""
        logits = self.logits(visual)
        return self.prompts(visual, decisions(logits, labels)), logits

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """BCE over the known labels, positives weighted by negatives / positives of the
        labels seen so far (counted in training mode); 0 when none is known."""
        _check_labels(labels, logits)
        known = labels != MISSING
        if self.training:
            count_labels(self.positives, self.known, labels)
        if not known.any():
            return logits.sum() * 0.0
        weight = negatives_per_positive(self.positives, self.known).clamp(1.0, MAX_POS_WEIGHT)
        target = (labels > 0).float()
        per = F.binary_cross_entropy_with_logits(
            logits.float(), target, pos_weight=weight.to(logits.device), reduction="none"
        )
        return per[known].mean()


def _check_labels(labels: torch.Tensor, logits: torch.Tensor) -> None:
    if labels.shape != logits.shape:
        raise ValueError(
            f"finding labels of shape {tuple(labels.shape)}, expected {tuple(logits.shape)}"
        )
