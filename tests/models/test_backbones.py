"""The frozen DINOv3 backbone: presets, frozen/eval invariants, weight loading round-trips."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from hyperct.models.backbones import available_backbones, create_backbone
from hyperct.models.backbones.dinov3 import DINOv3Backbone
from hyperct.models.backbones.weights import convert_meta_state_dict


def _backbone(seed: int = 0) -> DINOv3Backbone:
    torch.manual_seed(seed)
    return create_backbone("dinov3-tiny")


def _images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _to_meta(state: dict[str, torch.Tensor], hidden: int) -> dict[str, torch.Tensor]:
    """Write a transformers DINOv3 state dict in Meta's original layout (the inverse mapping)."""
    meta: dict[str, torch.Tensor] = {"rope_embed.periods": torch.ones(4)}
    simple = {
        "embeddings.cls_token": "cls_token",
        "embeddings.mask_token": "mask_token",
        "embeddings.register_tokens": "storage_tokens",
        "embeddings.patch_embeddings.weight": "patch_embed.proj.weight",
        "embeddings.patch_embeddings.bias": "patch_embed.proj.bias",
        "norm.weight": "norm.weight",
        "norm.bias": "norm.bias",
    }
    for key, value in state.items():
        if key in simple:
            meta[simple[key]] = value.reshape(1, -1) if key.endswith("mask_token") else value
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("model.layer.")}
    for i in blocks:
        p = f"model.layer.{i}."
        att = p + "attention."
        meta[f"blocks.{i}.attn.qkv.weight"] = torch.cat(
            [
                state[att + "q_proj.weight"],
                state[att + "k_proj.weight"],
                state[att + "v_proj.weight"],
            ]
        )
        meta[f"blocks.{i}.attn.qkv.bias"] = torch.cat(
            [state[att + "q_proj.bias"], torch.full((hidden,), 5.0), state[att + "v_proj.bias"]]
        )
        meta[f"blocks.{i}.attn.qkv.bias_mask"] = torch.cat(
            [torch.ones(hidden), torch.zeros(hidden), torch.ones(hidden)]
        )
        for kind in ("weight", "bias"):
            meta[f"blocks.{i}.attn.proj.{kind}"] = state[att + f"o_proj.{kind}"]
            meta[f"blocks.{i}.mlp.fc1.{kind}"] = state[p + f"mlp.up_proj.{kind}"]
            meta[f"blocks.{i}.mlp.fc2.{kind}"] = state[p + f"mlp.down_proj.{kind}"]
            meta[f"blocks.{i}.norm1.{kind}"] = state[p + f"norm1.{kind}"]
            meta[f"blocks.{i}.norm2.{kind}"] = state[p + f"norm2.{kind}"]
        meta[f"blocks.{i}.ls1.gamma"] = state[p + "layer_scale1.lambda1"]
        meta[f"blocks.{i}.ls2.gamma"] = state[p + "layer_scale2.lambda1"]
    return meta


def test_presets_are_registered_with_the_papers_vitb16() -> None:
    assert {"dinov3-vitb16", "dinov3-vits16", "dinov3-tiny"} <= set(available_backbones())
    from hyperct.models.backbones.dinov3 import PRESETS

    vitb = PRESETS["dinov3-vitb16"]
    assert (vitb["hidden_size"], vitb["num_hidden_layers"], vitb["num_attention_heads"]) == (
        768,
        12,
        12,
    )
    assert (vitb["num_register_tokens"], vitb["patch_size"]) == (4, 16)


def test_unknown_backbone_names_the_choices() -> None:
    with pytest.raises(KeyError, match="dinov3-vitb16"):
        create_backbone("resnet-50")


def test_random_init_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _backbone()
    assert any("RANDOM weights" in r.message and "meaningless" in r.message for r in caplog.records)


def test_backbone_is_frozen_and_stays_in_eval_mode() -> None:
    backbone = _backbone()
    parent = torch.nn.Sequential(backbone)
    parent.train()
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not any(m.training for m in backbone.modules())
    images = _images()
    with torch.no_grad():
        torch.testing.assert_close(backbone(images), backbone(images), rtol=0, atol=0)


def test_hf_folder_round_trip(tmp_path: Path) -> None:
    source = _backbone(seed=1)
    source.vit.save_pretrained(tmp_path)
    loaded = create_backbone("dinov3-tiny", weights=tmp_path)
    images = _images()
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), source(images))
    assert loaded.identity() == source.identity().__class__(
        "dinov3-tiny", source.identity().sha256, True
    )


@pytest.mark.parametrize("hub_spelling", [False, True])
def test_safetensors_file_round_trip(tmp_path: Path, hub_spelling: bool) -> None:
    source = _backbone(seed=2)
    state = {k: v.contiguous() for k, v in source.vit.state_dict().items()}
    if hub_spelling:
        state = {k.removeprefix("model."): v for k, v in state.items()}
    save_file(state, str(tmp_path / "weights.safetensors"))
    loaded = create_backbone("dinov3-tiny", weights=tmp_path / "weights.safetensors")
    images = _images()
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), source(images))
    assert loaded.identity().sha256 == source.identity().sha256


def test_meta_pth_round_trip(tmp_path: Path) -> None:
    source = _backbone(seed=3)
    meta = _to_meta(source.vit.state_dict(), hidden=64)
    torch.save({"model": meta}, tmp_path / "dinov3_tiny.pth")
    loaded = create_backbone("dinov3-tiny", weights=tmp_path / "dinov3_tiny.pth")
    images = _images()
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), source(images))


def test_meta_checkpoint_with_an_unmasked_key_bias_is_refused() -> None:
    meta = _to_meta(_backbone().vit.state_dict(), hidden=64)
    del meta["blocks.0.attn.qkv.bias_mask"]
    with pytest.raises(ValueError, match="key bias"):
        convert_meta_state_dict(meta)


def test_meta_checkpoint_with_unknown_keys_is_refused() -> None:
    meta = _to_meta(_backbone().vit.state_dict(), hidden=64)
    meta["head.weight"] = torch.zeros(2)
    with pytest.raises(KeyError, match="head.weight"):
        convert_meta_state_dict(meta)


def test_hf_folder_with_another_architecture_is_refused(tmp_path: Path) -> None:
    _backbone().vit.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["hidden_size"] = 768
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="hidden_size"):
        create_backbone("dinov3-tiny", weights=tmp_path)


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        create_backbone("dinov3-tiny", weights=tmp_path / "nothing.pth")


def test_identity_hash_depends_on_the_weights() -> None:
    assert _backbone(seed=4).identity().sha256 != _backbone(seed=5).identity().sha256
    assert _backbone(seed=4).identity().sha256 == _backbone(seed=4).identity().sha256
