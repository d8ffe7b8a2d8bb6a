"""The shared-LoRA multi-task baseline: shapes, zero start, merge, shared parameters."""

from __future__ import annotations

import pytest
import torch
from model_helpers import scan_batch

from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.models.trunk import masked_mean

CONFIG = MultiTaskConfig(backbone="dinov3-tiny", dropout=0.0)


def _model(seed: int = 0, **changes: object) -> SharedLoRAMultiTask:
    torch.manual_seed(seed)
    values = {**CONFIG.to_dict(), **changes}
    return SharedLoRAMultiTask(MultiTaskConfig(**values)).eval()


def _randomise(model: SharedLoRAMultiTask) -> None:
    with torch.no_grad():
        for layer in model._lora_layers.values():
            layer.source.lora_B.normal_(0.0, 0.05)


def test_logits_for_every_task_and_zero_start() -> None:
    model = _model()
    images, mask = scan_batch()
    with torch.no_grad():
        logits = model(images, mask)
        cls = model.backbone(images.flatten(0, 1)).unflatten(0, images.shape[:2])
        expected = model.heads(model.norm(masked_mean(cls, mask)))
    assert logits.shape == (3, 25)
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)


def test_merged_lora_equals_unmerged() -> None:
    model = _model()
    _randomise(model)
    images, mask = scan_batch()
    with torch.no_grad():
        unmerged = model(images, mask)
        model.merge_lora()
        merged = model(images, mask)
        model.unmerge_lora()
        restored = model(images, mask)
    assert not torch.allclose(unmerged, model.heads(model.norm(torch.zeros(1, 64))))
    torch.testing.assert_close(merged, unmerged, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(restored, unmerged, rtol=1e-4, atol=1e-5)


def test_shared_parameters_are_the_lora_and_norm_and_get_gradients() -> None:
    model = _model(activation_checkpointing=True).train()
    shared = list(model.shared_parameters())
    assert len(shared) == 18 * 2 + 2
    images, mask = scan_batch()
    representation = model.forward_features(images, mask)
    assert representation.shape == (3, 64)
    model.forward_heads(representation).sum().backward()
    assert all(p.grad is not None for p in shared)
    frozen = [
        p for n, p in model.backbone.vit.named_parameters() if n in model.backbone.frozen_keys
    ]
    assert frozen and all(p.grad is None and not p.requires_grad for p in frozen)
    assert not model.backbone.vit.training


def test_trainable_state_excludes_the_backbone() -> None:
    model = _model()
    state = model.trainable_state_dict()
    assert any("lora_A" in k for k in state)
    assert not any(k.endswith("q_proj.weight") for k in state)
    other = _model(seed=0)
    other.load_trainable_state_dict(state)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="dropout"):
        MultiTaskConfig(dropout=1.5)
    with pytest.raises(ValueError, match="LoRATargets"):
        MultiTaskConfig(lora_modules="conv")
