"""Checkpoints: trainable weights only, optimizer/scheduler/RNG states, config, tasks, spec.

A checkpoint never holds the frozen backbone; it holds the backbone's identity (name + SHA-256
of its weights) instead, and loading refuses a model whose backbone differs, so a run can never
be resumed or used for prediction on other weights than it was trained with. The preprocessing
spec travels with the weights so ``predict`` cannot preprocess differently from training.
Files load with ``torch.load(weights_only=True)``: only tensors and plain data, no pickled code.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hyperct.io.atomic import write_atomic
from hyperct.models.interface import ScreeningModel

logger = logging.getLogger(__name__)

FORMAT = "hyperct-checkpoint/1"
BEST, LAST = "best.pt", "last.pt"
#: ``extra`` key of what a model family learned from the data before its weights (plain data,
#: e.g. the report tokenizer): ``hyperct.models.build.build_model`` needs it to rebuild the model.
MODEL_ASSETS = "model_assets"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here; the message names the file and the mismatch."""


@dataclass
class Checkpoint:
    """Everything a run saves; ``epoch`` counts completed epochs."""

    model: dict[str, torch.Tensor]
    config: dict[str, Any]
    tasks: list[str]
    spec: dict[str, Any]
    backbone: dict[str, str]
    epoch: int = 0
    step: int = 0
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def trainable_state(model: ScreeningModel) -> dict[str, torch.Tensor]:
    """The state that training changes, detached and on CPU; never the frozen backbone."""
    return {k: v.detach().cpu().clone() for k, v in model.trainable_state_dict().items()}


def weights_digest(model: ScreeningModel) -> str:
    """SHA-256 of the trainable weights (names, shapes, bytes), e.g. to check ranks agree."""
    digest = hashlib.sha256()
    for key, tensor in sorted(trainable_state(model).items()):
        digest.update(f"{key}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_trainable_state(
    model: ScreeningModel, state: dict[str, torch.Tensor], source: str
) -> None:
    """Load trainable weights; every saved key must exist, every trainable key be given, and
    every shape agree with the model's (a mismatch names the parameters and both shapes)."""
    own = model.trainable_state_dict()
    unknown, missing = sorted(set(state) - set(own)), sorted(set(own) - set(state))
    if unknown or missing:
        raise CheckpointError(
            f"{source}: weights do not match the model (unknown keys {unknown[:5]}, "
            f"missing keys {missing[:5]}); was it trained with another model config?"
        )
    shapes = [
        f"{key} {tuple(state[key].shape)} in the checkpoint vs {tuple(own[key].shape)} in the model"
        for key in sorted(own)
        if tuple(state[key].shape) != tuple(own[key].shape)
    ]
    if shapes:
        raise CheckpointError(
            f"{source}: {len(shapes)} weight shape(s) do not match the model built from the "
            f"config: {'; '.join(shapes[:5])}; was it trained with another model config?"
        )
    model.load_trainable_state_dict(state)


def check_backbone(saved: dict[str, str], model: ScreeningModel, source: str) -> None:
    """Refuse a model whose backbone identity differs from the checkpoint's."""
    current = model.backbone_identity()
    if saved != current:
        raise CheckpointError(
            f"{source}: the checkpoint was trained on backbone {saved}, but the model has "
            f"{current}; pass the same backbone weights as in training"
        )


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write a checkpoint atomically."""
    payload = {"format": FORMAT, **ckpt.__dict__}
    if ckpt.rng is not None:
        payload["rng"] = _rng_to_plain(ckpt.rng)
    return write_atomic(Path(path), lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file, or ``best.pt`` inside a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty (0 bytes); was its run killed "
                              "while writing? use last.pt/best.pt of a finished epoch")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable hyperct checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.pop("format", None) != FORMAT:
        raise CheckpointError(f"{path}: not a hyperct checkpoint (expected format {FORMAT})")
    if payload.get("rng") is not None:
        payload["rng"] = _rng_from_plain(payload["rng"])
    return Checkpoint(**payload)


def _rng_to_plain(rng: dict[str, Any]) -> dict[str, Any]:
    """numpy's state holds an ndarray; store it as a tensor so ``weights_only`` loading works."""
    kind, keys, pos, has_gauss, gauss = rng["numpy"]
    return {**rng, "numpy": [kind, torch.from_numpy(keys.copy()), pos, has_gauss, gauss]}


def _rng_from_plain(rng: dict[str, Any]) -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = rng["numpy"]
    return {**rng, "numpy": (kind, keys.numpy(), pos, has_gauss, gauss)}
