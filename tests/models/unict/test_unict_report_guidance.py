"""UniCT's report branch guided by its own classification head (``report_guidance``)."""

import pytest
import torch
from unict_helpers import REPORTS, inputs

from hyperct.models.report.generate import GenerationConfig


def test_off_by_default_and_the_model_is_the_unguided_one(make_model):
    plain = make_model()
    assert plain.config.report_guidance is False and plain.report_prompts is None
    guided = make_model(report_guidance=True)
    extra = set(guided.state_dict()) - set(plain.state_dict())
    assert extra == {"report_prompts.embeddings", "report_decisions.positives",
                     "report_decisions.known", "report_decoder.condition.0.weight",
                     "report_decoder.condition.0.bias", "report_decoder.condition.1.weight",
                     "report_decoder.condition.1.bias"}
    assert guided.report_decoder.config.condition_tokens == guided.config.num_classes
    assert set(guided.state_dict()) - extra == set(plain.state_dict())


def test_the_decoder_reads_one_prompt_per_class_set_by_the_heads_decisions(make_model):
    model = make_model(report_guidance=True)
    images, _ = inputs("volume3d")
    output, latents = model._outputs(model.forward_features(images))
    memory = model._report_memory(output, latents)
    classes = model.config.num_classes
    assert memory.shape == (2, model.config.report_latents + classes, model.config.dim)
    assert torch.equal(memory[:, : model.config.report_latents], latents.report)
    present = output.class_logits > 0
    embeddings = model.report_prompts.embeddings
    assert torch.equal(memory[:, -classes:], torch.where(present[..., None], embeddings[1],
                                                         embeddings[0]))
    # Flipping the head's decisions changes the report logits.
    encoded = model.encode_reports(REPORTS[:2])
    with torch.no_grad():
        before = model(images, reports=encoded).report_logits
        flip = torch.where(present.any(0), -100.0, 100.0)  # every class to the other side
        model.class_head.linear.bias.add_(flip)
        after = model(images, reports=encoded).report_logits
    assert not torch.allclose(before, after)
    assert len(model.generate_reports(images, None, GenerationConfig(max_tokens=4))) == 2


def test_the_prompts_train_through_the_report_loss_but_not_the_head(make_model):
    model = make_model(report_guidance=True).train()
    images, _ = inputs("volume3d")
    model.report_loss(images, REPORTS[:2]).backward()
    assert model.report_prompts.embeddings.grad is not None
    assert model.report_prompts.embeddings.grad.abs().sum() > 0
    head = [p.grad for p in model.class_head.parameters()]
    assert all(g is None or not g.any() for g in head)  # decisions are detached


def test_guidance_without_a_report_head_or_a_trained_classifier_is_refused(make_model):
    with pytest.raises(ValueError, match="report_guidance needs a report head"):
        make_model(report=False, report_guidance=True)
    with pytest.raises(ValueError, match="report_guidance needs supervise_classification"):
        make_model(report_guidance=True, supervise_classification=False)


def test_after_training_counts_the_head_decides_at_each_class_prevalence(make_model):
    model = make_model(report_guidance=True)
    images, _ = inputs("volume3d")
    output, _ = model._outputs(model.forward_features(images))
    untrained = model.report_decisions(output.class_logits)
    assert torch.equal(untrained, output.class_logits > 0)  # no counts yet: 0.5
    first = torch.full_like(output.class_logits, -1, dtype=torch.long)
    first[:, :2] = torch.tensor([[1, 1], [0, 0]])
    second = torch.full_like(first, -1)
    second[:, 1] = 0  # class 0: 1 positive of 2 known; class 1: 1 of 4
    model.report_decisions.train()
    for labels in (first, second):
        model.report_decisions(output.class_logits, labels)
    model.report_decisions.eval()
    assert model.report_decisions.known[:2].tolist() == [2.0, 4.0]
    assert model.report_decisions.positives[:2].tolist() == [1.0, 1.0]
    decided = model.report_decisions(output.class_logits)
    probability = output.class_logits.sigmoid()
    assert torch.equal(decided[:, 0], probability[:, 0] > 0.5)
    assert torch.equal(decided[:, 1], probability[:, 1] > 0.25)
    assert torch.equal(decided[:, 2:], output.class_logits[:, 2:] > 0)  # never counted


def test_known_labels_set_the_training_prompts_and_the_head_fills_the_rest(make_model):
    model = make_model(report_guidance=True)
    images, _ = inputs("volume3d")
    output, latents = model._outputs(model.forward_features(images))
    present = output.class_logits > 0
    labels = torch.full_like(output.class_logits, -1, dtype=torch.long)
    labels[0, 0], labels[1, 1] = int(not present[0, 0]), int(not present[1, 1])
    memory = model._report_memory(output, latents, labels)
    expected = present.clone()
    expected[0, 0], expected[1, 1] = ~present[0, 0], ~present[1, 1]
    embeddings = model.report_prompts.embeddings
    classes = model.config.num_classes
    assert torch.equal(memory[:, -classes:], torch.where(expected[..., None], embeddings[1],
                                                         embeddings[0]))
