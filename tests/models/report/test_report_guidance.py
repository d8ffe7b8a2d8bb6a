"""Classification-guided reports: finding prompts join the decoder's memory."""

import pytest
import torch
from report_helpers import visual_tokens

from hyperct.models.report.guidance import (
    FindingGuidance,
    FindingGuidanceConfig,
    FindingPrompts,
    decisions,
)


def _guidance(findings: int = 3, dim: int = 16) -> FindingGuidance:
    torch.manual_seed(0)
    return FindingGuidance(FindingGuidanceConfig(findings=findings, visual_dim=dim))


def test_memory_is_the_visual_tokens_then_one_prompt_per_finding_by_state() -> None:
    guidance = _guidance()
    visual = visual_tokens(2)
    labels = torch.tensor([[1, 0, -1], [0, 1, -1]])
    memory, logits = guidance.memory(visual, labels)
    assert memory.shape == (2, 5 + 3, 16) and logits.shape == (2, 3)
    assert torch.equal(memory[:, :5], visual)  # the visual tokens are kept as they are
    present, absent = guidance.prompts.embeddings[1], guidance.prompts.embeddings[0]
    assert torch.equal(memory[0, 5], present[0]) and torch.equal(memory[0, 6], absent[1])
    assert torch.equal(memory[1, 5], absent[0]) and torch.equal(memory[1, 6], present[1])
    predicted = logits[:, 2] > 0  # a missing label: the model's own decision
    for row in range(2):
        expected = present[2] if predicted[row] else absent[2]
        assert torch.equal(memory[row, 7], expected)
    inferred, _ = guidance.memory(visual)
    assert torch.equal(decisions(logits), logits > 0)
    assert torch.equal(inferred[:, 5:], torch.where((logits > 0)[..., None], present, absent))


def test_missing_labels_add_no_loss_and_no_counts() -> None:
    guidance = _guidance().train()
    visual = visual_tokens(2)
    logits = guidance.logits(visual)
    loss = guidance.loss(logits, torch.full((2, 3), -1))
    assert loss.item() == 0.0
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in guidance.parameters())
    assert not guidance.known.any() and not guidance.positives.any()


def test_loss_is_bce_over_known_labels_with_positives_weighted_by_the_counts() -> None:
    guidance = _guidance(findings=1).train()
    logits = torch.zeros(4, 1)
    labels = torch.tensor([[1], [0], [0], [-1]])
    loss = guidance.loss(logits, labels)
    assert guidance.positives.tolist() == [1.0] and guidance.known.tolist() == [3.0]
    weight = 2.0  # 2 negatives / 1 positive
    log2 = torch.log(torch.tensor(2.0)).item()
    assert loss.item() == pytest.approx((weight * log2 + 2 * log2) / 3, rel=1e-5)
    guidance.eval()
    guidance.loss(logits, labels)
    assert guidance.known.tolist() == [3.0]  # evaluation counts nothing


def test_the_classification_loss_trains_the_head_and_the_prompts_follow() -> None:
    guidance = _guidance(findings=2)
    visual = visual_tokens(8, seed=3)
    labels = (visual[:, :, :2].mean(1) > 0).long()
    opt = torch.optim.Adam(guidance.parameters(), lr=5e-2)
    for _ in range(60):
        loss = guidance.loss(guidance.logits(visual), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    guidance.eval()
    assert torch.equal(decisions(guidance.logits(visual)), labels.bool())


def test_bad_shapes_and_sizes_are_named() -> None:
    guidance = _guidance()
    with pytest.raises(ValueError, match=r"finding labels of shape \(2, 2\)"):
        guidance.memory(visual_tokens(2), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="findings and visual_dim"):
        FindingGuidanceConfig(findings=0, visual_dim=4)


def test_prompts_read_any_classifier_decisions_and_check_their_shape() -> None:
    torch.manual_seed(0)
    prompts = FindingPrompts(findings=2, dim=4)
    memory = torch.randn(3, 5, 4)
    present = torch.tensor([[True, False], [False, False], [True, True]])
    out = prompts(memory, present)
    assert out.shape == (3, 7, 4) and torch.equal(out[:, :5], memory)
    assert torch.equal(out[2, 5:], prompts.embeddings[1])
    assert torch.equal(out[1, 5:], prompts.embeddings[0])
    with pytest.raises(ValueError, match=r"decisions of shape \(3, 3\)"):
        prompts(memory, torch.zeros(3, 3, dtype=torch.bool))
