"""LoRA layers: zero start, grouped per-sample update, merge/unmerge, target subsets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperct.models.backbones import create_backbone
from hyperct.models.lora import (
    GeneratedLoRA,
    LoRALinear,
    LoRATargets,
    StaticLoRA,
    find_targets,
    inject_lora,
)


def _linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(12, 10)


def test_static_lora_starts_as_the_frozen_layer() -> None:
    base = _linear()
    layer = LoRALinear(base, StaticLoRA(12, 10, rank=4), alpha=8.0, dropout=0.0)
    x = torch.randn(3, 5, 12)
    torch.testing.assert_close(layer(x), base(x), rtol=0, atol=0)
    assert layer.scaling == 2.0


def test_merge_equals_unmerged_and_unmerge_restores_the_weight() -> None:
    base = _linear()
    original = base.weight.detach().clone()
    layer = LoRALinear(base, StaticLoRA(12, 10, rank=4), alpha=8.0, dropout=0.0)
    nn.init.normal_(layer.source.lora_B)
    x = torch.randn(3, 5, 12)
    unmerged = layer(x)
    expected = x @ (original + 2.0 * layer.source.lora_B @ layer.source.lora_A).T + base.bias
    torch.testing.assert_close(unmerged, expected, rtol=1e-5, atol=1e-5)
    layer.merge()
    torch.testing.assert_close(layer(x), unmerged, rtol=1e-5, atol=1e-5)
    layer.unmerge()
    torch.testing.assert_close(layer.weight, original, rtol=1e-6, atol=1e-6)


def test_merge_refuses_non_finite_updates() -> None:
    layer = LoRALinear(_linear(), StaticLoRA(12, 10, rank=4), alpha=8.0, dropout=0.0)
    with torch.no_grad():
        layer.source.lora_B.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        layer.merge()
    assert not layer.merged


def test_generated_lora_applies_each_groups_own_update() -> None:
    base = _linear()
    source = GeneratedLoRA(12, 10, rank=3)
    layer = LoRALinear(base, source, alpha=6.0, dropout=0.0)
    lora_a, lora_b = torch.randn(2, 3, 12), torch.randn(2, 10, 3)
    x = torch.randn(4, 5, 12)  # 2 groups of 2 images
    source.bind(lora_a, lora_b)
    batched = layer(x)
    source.unbind()
    for g in range(2):
        weight = base.weight + 2.0 * lora_b[g] @ lora_a[g]
        expected = x[2 * g : 2 * g + 2] @ weight.T + base.bias
        torch.testing.assert_close(batched[2 * g : 2 * g + 2], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer(x), base(x), rtol=0, atol=0)


def test_generated_lora_cannot_be_merged() -> None:
    layer = LoRALinear(_linear(), GeneratedLoRA(12, 10, rank=3), alpha=3.0, dropout=0.0)
    with pytest.raises(TypeError, match="generate_lora"):
        layer.merge()


def test_shape_mismatch_between_source_and_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        LoRALinear(_linear(), StaticLoRA(10, 12, rank=2), alpha=2.0, dropout=0.0)


@pytest.mark.parametrize(
    ("targets", "count"),
    [
        (LoRATargets(), 18),
        (LoRATargets(modules="attention"), 12),
        (LoRATargets(modules="mlp"), 6),
        (LoRATargets(last_k=2), 12),
        (LoRATargets(modules=("q_proj", "v_proj"), blocks=(0, 2)), 4),
    ],
)
def test_target_subsets(targets: LoRATargets, count: int) -> None:
    backbone = create_backbone("dinov3-tiny")
    found = find_targets(backbone.blocks, targets)
    assert len(found) == count
    assert all(isinstance(m, nn.Linear) for m in found.values())


def test_injection_wraps_in_place_and_keeps_weight_names() -> None:
    backbone = create_backbone("dinov3-tiny")
    keys = set(backbone.vit.state_dict())
    wrapped = inject_lora(
        backbone.blocks,
        LoRATargets(),
        lambda n, lin: StaticLoRA(lin.in_features, lin.out_features, 2),
        2.0,
        0.0,
    )
    assert len(wrapped) == 18
    assert isinstance(backbone.blocks[1].attention.q_proj, LoRALinear)
    assert keys <= set(backbone.vit.state_dict())
    assert all(p.requires_grad for layer in wrapped.values() for p in layer.source.parameters())


@pytest.mark.parametrize(
    "kwargs",
    [{"modules": "conv"}, {"modules": ("qkv",)}, {"blocks": (0,), "last_k": 1}, {"last_k": 0}],
)
def test_invalid_targets_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="LoRATargets"):
        LoRATargets(**kwargs)


def test_targets_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        LoRATargets(blocks=(7,)).block_indices(3)
    with pytest.raises(ValueError, match="exceeds"):
        LoRATargets(last_k=4).block_indices(3)


def test_input_dropout_drops_each_element_independently_at_p() -> None:
    from hyperct.models.lora.dropout import InputDropout

    dropout = InputDropout(0.05)
    x = torch.ones(400, 1000)
    assert dropout.eval()(x.numel(), x.device) is None and dropout.rescale == 1.0
    dropout.train()
    torch.manual_seed(0)
    drops = dropout(x.numel(), x.device)
    assert drops.dtype == torch.int32 and bool((drops.diff() > 0).all())
    assert 0 <= int(drops[0]) and int(drops[-1]) < x.numel()
    assert abs(drops.numel() / x.numel() - 0.05) < 0.002
    assert abs(dropout.rescale - 1 / 0.95) < 1e-12
    # Geometric gaps: mean 1 / p and variance (1 - p) / p^2, as for independent drops.
    gaps = drops.diff().double()
    assert abs(gaps.mean().item() - 20.0) < 0.3
    assert abs(gaps.var().item() / 380.0 - 1.0) < 0.05
    with pytest.raises(ValueError, match="dropout"):
        InputDropout(1.0)


def test_input_dropout_positions_cover_every_element_alike() -> None:
    """Every position of a small input drops at p, the first and last alike (no edge effects)."""
    from hyperct.models.lora.dropout import InputDropout

    dropout = InputDropout(0.3).train()
    torch.manual_seed(1)
    counts = torch.zeros(7)
    for _ in range(20_000):
        counts[dropout(7, torch.device("cpu")).long()] += 1
    assert (counts / 20_000 - 0.3).abs().max().item() < 0.015
    cpu = torch.device("cpu")
    assert not torch.equal(dropout(1000, cpu), dropout(1000, cpu))


@pytest.mark.parametrize("groups", [1, 3])
def test_dropped_low_product_and_its_gradients_equal_the_masked_reference(groups: int) -> None:
    from hyperct.models.lora.dropout import InputDropout
    from hyperct.models.lora.sources import grouped_low

    torch.manual_seed(2)
    x = torch.randn(6, 5, 12, dtype=torch.float64, requires_grad=True)
    lora_a = torch.randn(groups, 4, 12, dtype=torch.float64, requires_grad=True)
    drops = InputDropout(0.2).train()(x.numel(), x.device)
    keep = torch.ones(x.numel(), dtype=torch.float64).index_fill(0, drops.long(), 0).view(x.shape)
    reference = torch.bmm((x * keep).reshape(groups, -1, 12), lora_a.transpose(1, 2))
    low = grouped_low(x, lora_a, drops)
    torch.testing.assert_close(low, reference)
    weights = torch.randn_like(low)
    grads = torch.autograd.grad((low * weights).sum(), (x, lora_a))
    expected = torch.autograd.grad((reference * weights).sum(), (x, lora_a))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want)
    assert bool((grads[0].reshape(-1)[drops.long()] == 0).all())
    assert torch.autograd.gradcheck(lambda t, a: grouped_low(t, a, drops), (x, lora_a))


@pytest.mark.parametrize("kind", ["generated", "static"])
def test_one_update_is_merged_on_the_fly_for_inference_and_equals_the_added_one(kind: str) -> None:
    base = _linear()
    source = GeneratedLoRA(12, 10, rank=3) if kind == "generated" else StaticLoRA(12, 10, rank=3)
    if kind == "generated":
        source.bind(torch.randn(1, 3, 12), torch.randn(1, 10, 3))
    else:
        nn.init.normal_(source.lora_B)
    layer = LoRALinear(base, source, alpha=6.0, dropout=0.0)
    x = torch.randn(4, 5, 12)
    with torch.no_grad():
        assert layer.low_rank(x) is None
        merged = layer(x)
        assert not torch.equal(layer.applied_weight(), base.weight)
    added = layer(x)
    assert layer.low_rank(x) is not None
    torch.testing.assert_close(merged, added.detach(), rtol=1e-5, atol=1e-5)
    assert torch.equal(layer.applied_weight(), base.weight)


def test_no_merge_on_the_fly_for_several_groups_or_with_dropout() -> None:
    source = GeneratedLoRA(12, 10, rank=3)
    layer = LoRALinear(_linear(), source, alpha=6.0, dropout=0.1)
    x = torch.randn(4, 5, 12)
    source.bind(torch.randn(2, 3, 12), torch.randn(2, 10, 3))
    with torch.no_grad():
        assert layer.low_rank(x) is not None
        source.bind(torch.randn(1, 3, 12), torch.randn(1, 10, 3))
        layer.train()
        assert layer.low_rank(x) is not None
        layer.eval()
        assert layer.low_rank(x) is None
        source.unbind()
        assert layer.applied_weight() is layer.weight
