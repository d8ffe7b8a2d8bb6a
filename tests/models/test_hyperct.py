"""HyperCT: per-sample LoRA equals merged weights, zero start, predict_all, shared trunk, state."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import torch
from model_helpers import TINY, randomise_lora, scan_batch, tiny_hyperct

from hyperct.models.backbones import create_backbone
from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.models.trunk import masked_mean


def _frozen_logits(
    model: HyperCT,
    backbone: torch.nn.Module,
    images: torch.Tensor,
    mask: torch.Tensor,
    task_ids: torch.Tensor,
) -> torch.Tensor:
    """Logits computed with a plain backbone (no generated LoRA bound) and the model's head."""
    cls = backbone(images.flatten(0, 1)).unflatten(0, images.shape[:2])
    return model.head(masked_mean(cls, mask), task_ids)


def test_forward_shapes_and_features() -> None:
    model = tiny_hyperct()
    images, mask = scan_batch()
    task_ids = torch.tensor([0, 3, 3])
    assert model(images, mask, task_ids).shape == (3,)
    features = model.forward_features(images, mask, task_ids, return_patch_tokens=True, block=1)
    assert features.cls.shape == (3, 4, 64)
    assert features.patch_tokens.shape == (3, 4, 2, 2, 64)


def test_zero_delta_at_init_gives_exactly_the_frozen_backbone() -> None:
    torch.manual_seed(0)
    model = HyperCT(TINY).eval()
    images, mask = scan_batch()
    task_ids = torch.tensor([0, 4, 2])
    with torch.no_grad():
        expected = _frozen_logits(model, model.backbone, images, mask, task_ids)
        torch.testing.assert_close(model(images, mask, task_ids), expected, rtol=0, atol=0)


def test_a_samples_output_does_not_depend_on_the_other_samples_tasks() -> None:
    model = tiny_hyperct()
    images, mask = scan_batch()
    with torch.no_grad():
        first = model(images, mask, torch.tensor([1, 2, 2]))
        second = model(images, mask, torch.tensor([1, 4, 0]))
    torch.testing.assert_close(first[0], second[0], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(first[1:], second[1:])


def test_batched_per_sample_lora_equals_each_tasks_merged_weights() -> None:
    model = tiny_hyperct()
    images, mask = scan_batch()
    task_ids = torch.tensor([2, 0, 2])
    with torch.no_grad():
        batched = model(images, mask, task_ids)
        for b, task in enumerate(task_ids.tolist()):
            merged = copy.deepcopy(model.backbone)
            for name, (lora_a, lora_b) in model.generate_lora([task]).items():
                layer = merged.blocks.get_submodule(name)
                layer.weight.add_(model.lora_scaling * lora_b[0] @ lora_a[0])
            alone = _frozen_logits(
                model, merged, images[b : b + 1], mask[b : b + 1], task_ids[b : b + 1]
            )
            torch.testing.assert_close(batched[b : b + 1], alone, rtol=1e-5, atol=1e-5)


def test_predict_all_equals_forward_over_each_task() -> None:
    model = tiny_hyperct()
    images, mask = scan_batch()
    with torch.no_grad():
        all_tasks = model.predict_all(images, mask)
        looped = torch.stack([model(images, mask, torch.full((3,), t)) for t in range(5)], dim=1)
        subset = model.predict_all(images, mask, tasks=[4, 1])
    assert all_tasks.shape == (3, 5)
    torch.testing.assert_close(all_tasks, looped, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(subset, looped[:, [4, 1]], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("per_pass", [2, None])
def test_predict_all_under_autograd_in_batched_passes_equals_the_merged_one(
    per_pass: int | None,
) -> None:
    model = tiny_hyperct()
    images, mask = scan_batch()
    model.config = dataclasses.replace(model.config, predict_tasks_per_pass=per_pass)
    with torch.no_grad():
        merged = model.predict_all(images, mask)
    batched = model.predict_all(images, mask)
    assert batched.requires_grad
    torch.testing.assert_close(batched.detach(), merged, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("last_k", [1, 2])
def test_shared_trunk_runs_early_blocks_once_and_equals_the_full_computation(last_k: int) -> None:
    model = tiny_hyperct(adapt_last_k=last_k)
    images, mask = scan_batch()
    calls: list[tuple[int, int]] = []
    original = model.backbone.run_block

    def counting(index: int, hidden: torch.Tensor, rope: tuple, *rest: Any) -> torch.Tensor:
        calls.append((index, hidden.shape[0]))
        return original(index, hidden, rope, *rest)

    model.backbone.run_block = counting  # type: ignore[method-assign]
    with torch.no_grad():
        shared = model.predict_all(images, mask)
        looped = torch.stack([model(images, mask, torch.full((3,), t)) for t in range(5)], dim=1)
    torch.testing.assert_close(shared, looped, rtol=1e-5, atol=1e-5)
    trunk = 3 - last_k
    # 3 scans x 4 images: the trunk once for all 5 tasks, then each task in a pass of its own
    assert calls[:trunk] == [(index, 12) for index in range(trunk)]
    adapted = [(index, 12) for _ in range(5) for index in range(trunk, 3)]
    assert calls[trunk : trunk + 5 * last_k] == adapted
    assert len(model.module_names) == 6 * last_k


def test_backbone_stays_frozen_and_in_eval_mode_while_training() -> None:
    model = tiny_hyperct(dropout=0.1)
    model.train()
    assert not model.backbone.vit.training
    assert not model.backbone.vit.rope_embeddings.training
    assert all(model.backbone.blocks.get_submodule(n).training for n in model.module_names)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.hypernetwork.parameters())


def test_gradients_reach_the_hypernetwork_and_checkpointing_gives_the_same_ones() -> None:
    images, mask = scan_batch()
    task_ids = torch.tensor([1, 3, 1])
    grads = []
    for checkpointing in (False, True):
        model = tiny_hyperct(activation_checkpointing=checkpointing).train()
        model(images, mask, task_ids).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        assert all(p.grad is None for p in model.backbone.parameters())
    assert grads[0].keys() == grads[1].keys()
    assert "hypernetwork.task_embedding.table" in grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


def test_patch_tokens_carry_gradients_for_grad_cam_even_in_the_shared_trunk() -> None:
    model = tiny_hyperct(adapt_last_k=1)
    images, mask = scan_batch()
    task_ids = torch.tensor([0, 1, 2])
    features = model.forward_features(images, mask, task_ids, return_patch_tokens=True, block=0)
    logits = model.forward_head(features.cls, mask, task_ids)
    (grad,) = torch.autograd.grad(logits.sum(), features.patch_tokens)
    assert grad.shape == (3, 4, 2, 2, 64)
    assert grad.abs().sum() > 0


def test_bf16_autocast_probabilities_agree_with_fp32() -> None:
    model = tiny_hyperct()
    randomise_lora(model, scale=0.5)
    images, mask = scan_batch()
    with torch.no_grad():
        fp32 = torch.sigmoid(model.predict_all(images, mask))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = torch.sigmoid(model.predict_all(images, mask)).float()
            bf16_forward = torch.sigmoid(model(images, mask, torch.tensor([0, 1, 2]))).float()
    assert (bf16 - fp32).abs().max() < 0.01
    assert (bf16_forward - fp32[[0, 1, 2], [0, 1, 2]]).abs().max() < 0.01


def test_trainable_state_round_trips_without_the_backbone() -> None:
    model = tiny_hyperct(seed=0)
    state = model.trainable_state_dict()
    assert not any(k.startswith("backbone.") for k in state)
    torch.manual_seed(0)
    other = HyperCT(TINY, backbone=create_backbone("dinov3-tiny")).eval()
    randomise_lora(other, scale=1.0)
    other.load_trainable_state_dict(state)
    images, mask = scan_batch()
    with torch.no_grad():
        torch.testing.assert_close(other.predict_all(images, mask), model.predict_all(images, mask))
    with pytest.raises(KeyError, match="missing"):
        other.load_trainable_state_dict({k: v for k, v in state.items() if "heads" not in k})


def test_adding_a_task_trains_only_its_embedding() -> None:
    model = tiny_hyperct()
    new_id = model.add_task("Aortic dilatation")
    assert new_id == 5 and model.task_names[-1] == "Aortic dilatation"
    assert model.config.extra_tasks == ("Aortic dilatation",)
    trainable = model.train_only_added_tasks()
    images, mask = scan_batch()
    model(images, mask, torch.tensor([new_id, 0, new_id])).sum().backward()
    with_grad = [n for n, p in model.named_parameters() if p.grad is not None]
    assert with_grad == ["hypernetwork.task_embedding.added.0"]
    assert len(trainable) == 1
    rebuilt = HyperCT(model.config)
    assert rebuilt.num_tasks == 6
    rebuilt.load_trainable_state_dict(model.trainable_state_dict())
    with pytest.raises(ValueError, match="already carries LoRA"):
        HyperCT(model.config, backbone=model.backbone)


def test_generate_lora_gives_every_modules_pair() -> None:
    model = tiny_hyperct()
    lora = model.generate_lora([0, 4])
    assert len(lora) == 18
    lora_a, lora_b = lora["2.mlp.up_proj"]
    assert lora_a.shape == (2, 16, 64) and lora_b.shape == (2, 128, 16)


def test_per_task_head() -> None:
    model = tiny_hyperct(head="per_task")
    images, mask = scan_batch()
    with torch.no_grad():
        torch.testing.assert_close(
            model.predict_all(images, mask),
            torch.stack([model(images, mask, torch.full((3,), t)) for t in range(5)], dim=1),
            rtol=1e-5,
            atol=1e-5,
        )
    with pytest.raises(ValueError, match="shared"):
        model.add_task("new")


def test_bad_inputs_and_config_are_named() -> None:
    model = tiny_hyperct()
    images, mask = scan_batch()
    with pytest.raises(ValueError, match="image_mask"):
        model(images, mask.float(), torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match=r"\(B, N, 3, H, W\)"):
        model(images[:, :, :2], mask, torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match="head"):
        HyperCTConfig(head="mlp")
    with pytest.raises(ValueError, match="LoRATargets"):
        HyperCTConfig(lora_blocks=(0,), adapt_last_k=2)
    with pytest.raises(ValueError, match="checkpointing: 'some'"):
        HyperCTConfig(checkpointing="some")  # type: ignore[arg-type]
    assert HyperCTConfig.from_dict(TINY.to_dict()) == TINY


def test_bf16_backbone_probabilities_agree_with_fp32() -> None:
    model = tiny_hyperct()
    randomise_lora(model, scale=0.5)
    torch.manual_seed(0)
    bf16_model = HyperCT(
        dataclasses.replace(model.config, backbone_dtype="bfloat16"),
        backbone=create_backbone("dinov3-tiny"),
    )
    bf16_model.load_trainable_state_dict(model.trainable_state_dict())
    bf16_model.eval()
    images, mask = scan_batch()
    with torch.no_grad():
        fp32 = torch.sigmoid(model.predict_all(images, mask))
        bf16 = torch.sigmoid(bf16_model.predict_all(images, mask))
    assert bf16_model.backbone.identity() == model.backbone.identity()
    assert (bf16 - fp32).abs().max() < 0.01


def test_checkpointing_recomputes_the_same_dropout_masks() -> None:
    images, mask = scan_batch()
    task_ids = torch.tensor([1, 3, 1])
    grads = []
    for checkpointing in (False, True):
        model = tiny_hyperct(activation_checkpointing=checkpointing, dropout=0.3).train()
        torch.manual_seed(7)
        model(images, mask, task_ids).sum().backward()
        grads.append(model.hypernetwork.task_embedding.table.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)
