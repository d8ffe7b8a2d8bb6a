"""Read DINOv3 ViT weights from disk into a transformers ``DINOv3ViTModel`` state dict.

Three layouts are accepted, all local (the official weights are gated; nothing is downloaded):
a Hugging Face model folder (``config.json`` + ``*.safetensors``), a single ``.safetensors``
file, and Meta's original ``.pth`` checkpoint, whose keys (``blocks.3.attn.qkv.weight``, ...)
are mapped onto the transformers names (``model.layer.3.attention.q_proj.weight``, ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]

#: Architecture fields that must agree between a preset and a Hugging Face folder's config.json.
ARCHITECTURE_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "patch_size",
    "num_register_tokens",
    "use_gated_mlp",
)

#: Meta key pattern -> transformers key; applied in order to one key at a time.
_META_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^cls_token$", "embeddings.cls_token"),
    (r"^mask_token$", "embeddings.mask_token"),
    (r"^storage_tokens$", "embeddings.register_tokens"),
    (r"^patch_embed\.proj\.", "embeddings.patch_embeddings."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"model.layer.\1.attention.o_proj."),
    (r"^blocks\.(\d+)\.ls(\d)\.gamma$", r"model.layer.\1.layer_scale\2.lambda1"),
    (r"^blocks\.(\d+)\.mlp\.fc1\.", r"model.layer.\1.mlp.up_proj."),
    (r"^blocks\.(\d+)\.mlp\.fc2\.", r"model.layer.\1.mlp.down_proj."),
    (r"^blocks\.(\d+)\.mlp\.w1\.", r"model.layer.\1.mlp.gate_proj."),
    (r"^blocks\.(\d+)\.mlp\.w2\.", r"model.layer.\1.mlp.up_proj."),
    (r"^blocks\.(\d+)\.mlp\.w3\.", r"model.layer.\1.mlp.down_proj."),
    (r"^blocks\.(\d+)\.norm(\d)\.", r"model.layer.\1.norm\2."),
    (r"^norm\.", "norm."),
)
#: Meta keys with no transformers counterpart (RoPE periods are recomputed from rope_theta).
_META_DROPPED = (re.compile(r"^rope_embed\.periods$"), re.compile(r"\.qkv\.bias_mask$"))
_QKV = re.compile(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")


def read_state_dict(path: str | Path) -> StateDict:
    """Read weights from a Hugging Face folder, a ``.safetensors`` file or a Meta ``.pth`` file.

    Returns a state dict with transformers ``DINOv3ViTModel`` key names.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"backbone weights not found: {path}")
    if path.is_dir():
        return _read_hf_folder(path)
    if path.suffix == ".safetensors":
        return normalise_hf_keys(load_file(str(path)))
    if path.suffix in (".pth", ".pt", ".bin"):
        return _read_torch_file(path)
    raise ValueError(
        f"backbone weights {path}: unknown format {path.suffix!r}; expected a Hugging Face "
        "folder, a .safetensors file or Meta's original .pth checkpoint"
    )


def read_hf_config(folder: Path) -> dict[str, object]:
    """The ``config.json`` of a Hugging Face model folder, or an empty dict if it has none."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return {}
    return json.loads(config_path.read_text())


def _read_hf_folder(folder: Path) -> StateDict:
    files = sorted(folder.glob("*.safetensors"))
    if files:
        state: StateDict = {}
        for file in files:
            state.update(load_file(str(file)))
        return normalise_hf_keys(state)
    bins = sorted(folder.glob("*.bin")) + sorted(folder.glob("*.pth"))
    if not bins:
        raise FileNotFoundError(f"backbone folder {folder}: no *.safetensors, *.bin or *.pth file")
    return _read_torch_file(bins[0])


def _read_torch_file(path: Path) -> StateDict:
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    state = _unwrap(obj, path)
    if any(k.startswith("blocks.") or k == "storage_tokens" for k in state):
        return convert_meta_state_dict(state)
    return normalise_hf_keys(state)


def _unwrap(obj: object, path: Path) -> StateDict:
    if not isinstance(obj, dict):
        raise ValueError(
            f"backbone weights {path}: expected a state dict, got {type(obj).__name__}"
        )
    if not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for wrapper in ("model", "state_dict", "teacher"):
            if isinstance(obj.get(wrapper), dict):
                return _unwrap(obj[wrapper], path)
        raise ValueError(
            f"backbone weights {path}: no tensors and no model/state_dict/teacher entry"
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def normalise_hf_keys(state: StateDict) -> StateDict:
    """Map the hub spelling ``layer.N.`` onto the in-memory ``model.layer.N.`` of transformers 5."""
    out: StateDict = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith("layer."):
            key = "model." + key
        out[key] = value
    return out


def convert_meta_state_dict(state: StateDict) -> StateDict:
    """Map Meta's original DINOv3 checkpoint keys onto transformers ``DINOv3ViTModel`` keys.

    The fused ``qkv`` projection is split into ``q_proj``, ``k_proj`` and ``v_proj``. Meta masks
    the key bias to zero (``bias_mask``); transformers has no key bias, so it is dropped, and an
    error is raised if a non-zero key bias would be lost.
    """
    out: StateDict = {}
    unknown: list[str] = []
    for key, value in state.items():
        if any(p.search(key) for p in _META_DROPPED):
            continue
        qkv = _QKV.match(key)
        if qkv:
            out.update(_split_qkv(qkv.group(1), qkv.group(2), value, state))
            continue
        new_key = _rename_meta_key(key)
        if new_key is None:
            unknown.append(key)
        elif new_key == "embeddings.mask_token" and value.ndim == 2:
            out[new_key] = value.unsqueeze(0)  # Meta keeps (1, C), transformers (1, 1, C)
        else:
            out[new_key] = value
    if unknown:
        raise KeyError(f"Meta DINOv3 checkpoint has keys with no mapping: {unknown[:10]}")
    return out


def _rename_meta_key(key: str) -> str | None:
    for pattern, replacement in _META_RENAMES:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return None


def _split_qkv(block: str, kind: str, value: torch.Tensor, state: StateDict) -> StateDict:
    q, k, v = torch.chunk(value, 3, dim=0)
    prefix = f"model.layer.{block}.attention."
    out = {f"{prefix}q_proj.{kind}": q, f"{prefix}v_proj.{kind}": v}
    if kind == "weight":
        out[f"{prefix}k_proj.weight"] = k
        return out
    mask = state.get(f"blocks.{block}.attn.qkv.bias_mask")
    masked_k = k if mask is None else k * torch.chunk(mask, 3, dim=0)[1]
    if torch.any(masked_k != 0):
        raise ValueError(
            f"Meta checkpoint blocks.{block}.attn.qkv.bias has a non-zero key bias; the "
            "transformers DINOv3 attention has no key bias, so it cannot be loaded exactly"
        )
    return out


def state_dict_sha256(state: StateDict) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of a state dict, in sorted key order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
