"""Every speed path gives the logits of a plain reference: transformers' own block, out-of-place
LoRA under autograd, float32 weights, one task at a time."""

from __future__ import annotations

import pytest
import torch

from hyperct.models.backbones import create_backbone
from hyperct.models.lora import GeneratedLoRA, LoRALinear, StaticLoRA
from model_helpers import scan_batch, tiny_hyperct


def _backbone_with_layer_scale(dtype: torch.dtype):
    torch.manual_seed(0)
    backbone = create_backbone("dinov3-tiny")
    with torch.no_grad():
        for block in backbone.blocks:
            block.layer_scale1.lambda1.uniform_(0.2, 1.5)
            block.layer_scale2.lambda1.uniform_(0.2, 1.5)
    backbone.cast(dtype)
    return backbone


@pytest.mark.parametrize("recorded", [False, True], ids=["sdpa", "autograd"])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_run_block_equals_the_transformers_layer(
    dtype: torch.dtype, tolerance: float, recorded: bool
) -> None:
    backbone = _backbone_with_layer_scale(dtype)
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        hidden, rope = backbone.embed(pixels)
    for index in range(backbone.num_blocks):
        with torch.no_grad():
            reference = backbone.blocks[index](hidden, position_embeddings=rope)
        with torch.set_grad_enabled(recorded):
            fast = backbone.run_block(index, hidden.clone().requires_grad_(recorded), rope)
        assert fast.dtype == dtype
        assert fast.requires_grad == recorded
        torch.testing.assert_close(fast.detach(), reference, rtol=tolerance, atol=tolerance)
        hidden = reference


def test_in_place_lora_update_equals_the_recorded_one() -> None:
    torch.manual_seed(0)
    source = GeneratedLoRA(8, 6, rank=2)
    source.bind(torch.randn(2, 2, 8), torch.randn(2, 6, 2))
    x = torch.randn(4, 5, 8)
    base = torch.randn(4, 5, 6)
    with torch.no_grad():
        in_place = source.add_update(x, base.clone(), 0.5)
    recorded = source.add_update(x.requires_grad_(True), base.clone(), 0.5)
    lora_a, lora_b = source.lora_A, source.lora_B
    expected = base + 0.5 * torch.cat(
        [x[g * 2 : g * 2 + 2].detach() @ lora_a[g].T @ lora_b[g].T for g in range(2)]
    )
    torch.testing.assert_close(in_place, expected)
    torch.testing.assert_close(recorded, expected)


@pytest.mark.parametrize("recorded", [False, True], ids=["in_place", "autograd"])
@pytest.mark.parametrize("kind", ["generated", "static"])
def test_the_frozen_bias_added_in_the_lora_product_equals_the_plain_layer(
    kind: str, recorded: bool
) -> None:
    torch.manual_seed(0)
    base = torch.nn.Linear(8, 6)
    source = GeneratedLoRA(8, 6, rank=2) if kind == "generated" else StaticLoRA(8, 6, rank=2)
    if kind == "generated":
        source.bind(torch.randn(2, 2, 8), torch.randn(2, 6, 2))
    else:
        torch.nn.init.normal_(source.lora_B)
    layer = LoRALinear(base, source, alpha=1.0, dropout=0.0)  # scale 0.5: moved into B
    x = torch.randn(4, 5, 8)
    with torch.set_grad_enabled(recorded):
        out = layer(x.requires_grad_(recorded))
    lora_a, lora_b = source.lora_A, source.lora_B
    if kind == "generated":
        update = torch.cat([x[g * 2 : g * 2 + 2] @ lora_a[g].T @ lora_b[g].T for g in range(2)])
    else:
        update = x @ lora_a.T @ lora_b.T
    expected = torch.nn.functional.linear(x, base.weight, base.bias) + 0.5 * update
    torch.testing.assert_close(out.detach(), expected.detach())
    if recorded:
        out.sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bf16_predict_all_matches_the_float32_reference_task_by_task() -> None:
    reference = tiny_hyperct(seed=3, backbone_dtype="float32", num_tasks=4)
    fast = tiny_hyperct(seed=3, backbone_dtype="bfloat16", num_tasks=4)
    pixels, mask = scan_batch(batch=2, images=3)
    expected = torch.stack(
        [reference(pixels, mask, torch.full((2,), task)) for task in range(4)], dim=1
    ).detach()
    with torch.inference_mode():
        logits = fast.predict_all(pixels, mask)
    assert logits.shape == (2, 4)
    spread = expected.std().item()
    torch.testing.assert_close(logits.float(), expected, rtol=0.0, atol=0.05 * spread + 1e-3)


def test_bf16_training_forward_matches_its_inference_forward() -> None:
    model = tiny_hyperct(seed=4, backbone_dtype="bfloat16")
    pixels, mask = scan_batch(batch=2, images=3)
    task_ids = torch.tensor([1, 3])
    recorded = model(pixels, mask, task_ids)
    recorded.sum().backward()
    with torch.inference_mode():
        inferred = model(pixels, mask, task_ids)
    torch.testing.assert_close(inferred, recorded.detach(), rtol=2e-2, atol=1e-2)
    grads = [p.grad for p in model.hypernetwork.heads.parameters()]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_hypernetwork_cast_once_equals_pairs_cast_after() -> None:
    model = tiny_hyperct(seed=5)
    ids = torch.tensor([0, 2])
    gather = torch.tensor([1, 0, 1])
    with torch.no_grad():
        plain = model.hypernetwork(ids, gather=gather)
        cast = model.hypernetwork(ids, gather=gather, dtype=torch.bfloat16)
    for (a, b), (a16, b16) in zip(plain, cast):
        assert a16.dtype == b16.dtype == torch.bfloat16
        assert torch.equal(a.to(torch.bfloat16), a16)
        assert torch.equal(b.to(torch.bfloat16), b16)


@pytest.mark.parametrize("checkpointing", ["light", "selective", "full"])
@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-5), ("bfloat16", 1e-2)])
def test_checkpointed_training_step_equals_the_stored_one(
    checkpointing: str, dtype: str, tolerance: float
) -> None:
    """Same logits and gradients with dropout active: the recomputation replays the same masks."""
    pixels, mask = scan_batch(batch=2, images=3)
    task_ids = torch.tensor([2, 0])
    results = []
    for kwargs in ({}, {"activation_checkpointing": True, "checkpointing": checkpointing}):
        model = tiny_hyperct(seed=6, backbone_dtype=dtype, dropout=0.3, **kwargs).train()
        torch.manual_seed(11)
        logits = model(pixels, mask, task_ids)
        logits.sum().backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        results.append((logits.detach(), grads))
    (ref_logits, ref_grads), (logits, grads) = results
    torch.testing.assert_close(logits, ref_logits, rtol=tolerance, atol=tolerance)
    assert grads.keys() == ref_grads.keys() and "hypernetwork.task_embedding.table" in grads
    for name, grad in grads.items():
        scale = ref_grads[name].abs().max().item()
        torch.testing.assert_close(grad, ref_grads[name], rtol=tolerance, atol=tolerance * scale)


def test_light_checkpointing_recomputes_with_its_own_pass_lora() -> None:
    """Backward of a first pass after a second forward pass (other tasks) still recomputes with
    the first pass's LoRA: the gradients equal those of the first pass alone."""
    pixels, mask = scan_batch(batch=2, images=3)
    results = []
    for second_pass in (False, True):
        model = tiny_hyperct(
            seed=7, dropout=0.3, activation_checkpointing=True, checkpointing="light"
        ).train()
        torch.manual_seed(12)
        logits = model(pixels, mask, torch.tensor([1, 2]))
        if second_pass:
            model(pixels, mask, torch.tensor([3, 0]))
        logits.sum().backward()
        results.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    alone, interleaved = results
    assert alone.keys() == interleaved.keys()
    for name, grad in alone.items():
        torch.testing.assert_close(interleaved[name], grad, rtol=1e-5, atol=1e-6)


def test_rope_rotation_backward_is_its_transpose() -> None:
    from hyperct.models.backbones.dinov3 import _full_rope, _Rotation

    torch.manual_seed(0)
    length, heads, head_dim = 7, 2, 8
    angles = torch.rand(length - 2, head_dim // 2, dtype=torch.float64) * 6
    angles = torch.cat([angles, angles], -1)
    cos, sin = _full_rope((angles.cos(), angles.sin()), length, heads)
    x = torch.randn(3, length, heads * head_dim, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_Rotation.apply, (x, cos, sin))
    halves = x.detach().view(3, length, heads, 2, head_dim // 2)
    rotate_half = torch.cat([-halves[..., 1, :], halves[..., 0, :]], -1).flatten(-2)
    full_cos = torch.cat([torch.ones(2, head_dim, dtype=torch.float64), angles.cos()])
    full_sin = torch.cat([torch.zeros(2, head_dim, dtype=torch.float64), angles.sin()])
    expected = x.detach() * full_cos.repeat(1, heads) + rotate_half * full_sin.repeat(1, heads)
    torch.testing.assert_close(_Rotation.apply(x.detach(), cos, sin), expected)


def _backbone_with_generated_lora(groups: int) -> tuple[object, dict[str, LoRALinear]]:
    """The tiny float32 backbone with a generated LoRA (dropout 0.2) on every linear layer, each
    bound to random A and B for ``groups`` groups, in training mode."""
    from hyperct.models.lora import LoRATargets, inject_lora

    backbone = _backbone_with_layer_scale(torch.float32)
    layers = inject_lora(
        backbone.blocks,
        LoRATargets(),
        lambda _name, linear: GeneratedLoRA(linear.in_features, linear.out_features, rank=3),
        alpha=3.0,
        dropout=0.2,
    )
    for layer in layers.values():
        source = layer.source
        a = (0.3 * torch.randn(groups, 3, source.in_features)).requires_grad_(True)
        b = (0.3 * torch.randn(groups, source.out_features, 3)).requires_grad_(True)
        source.bind(a, b)
    backbone.train()
    return backbone, layers


def _three_blocks(
    backbone, layers: dict[str, LoRALinear], fused: bool, autocast: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Tokens after the tiny backbone's blocks, by ``run_block`` or transformers' layer, and the
    gradients of a fixed random projection of them for the input tokens and every A and B."""
    with torch.no_grad():
        tokens, rope = backbone.embed(torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4)))
    hidden = tokens.clone().requires_grad_(True)
    out = hidden
    torch.manual_seed(21)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        for index, block in enumerate(backbone.blocks):
            out = backbone.run_block(index, out, rope) if fused else block(out, position_embeddings=rope)
    out = out.float()
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    factors = [t for layer in layers.values() for t in (layer.source.lora_A, layer.source.lora_B)]
    return out.detach(), list(torch.autograd.grad((out * weights).sum(), [hidden, *factors]))


def test_run_block_gradients_equal_the_transformers_layer_with_lora_and_dropout() -> None:
    """The fused nodes (norm or GELU with the LoRA products, attention, RoPE) give the values and
    gradients of transformers' layer calling the LoRA layers one by one: the same dropout
    positions (drawn in the same order from the same seed) and the same arithmetic."""
    backbone, layers = _backbone_with_generated_lora(groups=3)
    reference, ref_grads = _three_blocks(backbone, layers, fused=False, autocast=False)
    fast, grads = _three_blocks(backbone, layers, fused=True, autocast=False)
    scale = reference.abs().max().item()
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5 * scale)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


def test_run_block_under_bf16_autocast_is_as_accurate_as_the_transformers_layer() -> None:
    """Under autocast the fused nodes recompute in backward in the forward's autocast state: their
    values and gradients are as close to the float32 ones as op-by-op autograd's (bf16 rounding
    of this ill-conditioned random model puts both some percent off)."""
    backbone, layers = _backbone_with_generated_lora(groups=3)
    exact, exact_grads = _three_blocks(backbone, layers, fused=False, autocast=False)
    reference, ref_grads = _three_blocks(backbone, layers, fused=False, autocast=True)
    fast, grads = _three_blocks(backbone, layers, fused=True, autocast=True)

    def error(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).norm() / b.norm()).item()

    assert error(fast, exact) <= 2 * error(reference, exact) + 1e-6
    for grad, ref, want in zip(grads, ref_grads, exact_grads):
        assert grad.dtype == torch.float32
        assert 0 < error(grad, want) <= 2 * error(ref, want) + 1e-6


def test_attention_backward_recomputes_the_probabilities_exactly() -> None:
    from hyperct.models.backbones.dinov3 import _Attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(_Attention.apply, (q, k, v))
    expected = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
    torch.testing.assert_close(_Attention.apply(q, k, v), expected)


def test_a_training_forward_keeps_no_dropout_masks_or_dropped_copies() -> None:
    """What backward keeps of a block, with dropout on: the inputs of the norms and of the GELU,
    q, k, v, the attention output, the drop positions, A and B; no mask, no dropped copy, no
    norm output, no attention probabilities."""
    backbone, _ = _backbone_with_generated_lora(groups=2)
    tokens, rope = backbone.embed(torch.randn(4, 3, 32, 32))
    tokens = tokens.detach().requires_grad_(True)
    kept: dict[int, torch.Tensor] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        kept.setdefault(tensor.untyped_storage().data_ptr(), tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        backbone.run_block(0, tokens, rope)
    tokens_count = tokens.shape[0] * tokens.shape[1]
    activations = [
        t for t in kept.values() if t.is_floating_point() and t.shape[0] == tokens.shape[0]
    ]
    assert not any(t.dtype == torch.bool for t in kept.values())
    widths = sorted(t.numel() // tokens_count for t in activations)
    hidden = backbone.hidden_size
    # norm1 and norm2 inputs, q, k, v, the attention output: C each; the GELU input: 2C here.
    assert widths == [hidden] * 6 + [backbone.config.intermediate_size]
    positions = [t for t in kept.values() if t.dtype == torch.int32]
    assert len(positions) == 6
