"""Checkpoints hold trainable weights only, round-trip, and refuse another backbone."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.inference.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_backbone,
    load_checkpoint,
    load_trainable_state,
    save_checkpoint,
    trainable_state,
)
from hyperct.inference.rng import capture_rng_state, restore_rng_state


def _model(seed: int, fields: dict) -> HyperCT:
    torch.manual_seed(seed)
    return HyperCT(HyperCTConfig(**fields))


def test_round_trip_without_backbone_and_refuses_another_backbone(
    tmp_path: Path, tiny_model: dict
) -> None:
    model = _model(0, tiny_model)
    state = trainable_state(model)
    assert not any(k.startswith("backbone.vit.") and "lora" not in k for k in state)
    assert sum(v.numel() for v in state.values()) < sum(p.numel() for p in model.parameters())
    ckpt = Checkpoint(model=state, config={"method": "hyperct"}, tasks=["Emphysema"],
                      spec={"kind": "slice_stack"}, backbone=model.backbone_identity(), epoch=3,
                      rng=capture_rng_state())
    path = save_checkpoint(ckpt, tmp_path / "x.pt")
    loaded = load_checkpoint(path)
    assert loaded.epoch == 3 and loaded.tasks == ["Emphysema"]
    other = _model(0, tiny_model)
    with torch.no_grad():
        other.hypernetwork.mixer[0].weight.add_(1.0)
    load_trainable_state(other, loaded.model, str(path))
    assert all(torch.equal(a, b) for a, b in zip(trainable_state(other).values(), state.values()))
    check_backbone(loaded.backbone, other, str(path))
    with pytest.raises(CheckpointError, match="backbone"):
        check_backbone(loaded.backbone, _model(1, tiny_model), str(path))


def test_rng_state_survives_the_file(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(4)
    state = capture_rng_state({"sampler": gen})
    expected = (np.random.rand(), torch.rand(2), torch.rand(1, generator=gen))
    ckpt = Checkpoint(model={}, config={}, tasks=[], spec={}, backbone={}, rng=state)
    restored = load_checkpoint(save_checkpoint(ckpt, tmp_path / "r.pt")).rng
    restore_rng_state(restored, {"sampler": gen})
    assert np.random.rand() == expected[0]
    assert torch.equal(torch.rand(2), expected[1])
    assert torch.equal(torch.rand(1, generator=gen), expected[2])


def test_not_a_checkpoint_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)


def test_empty_checkpoint_file_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "best.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"best\.pt: the checkpoint file is empty \(0 bytes\)"):
        load_checkpoint(tmp_path)


def _saved_run(tmp_path: Path, tiny_model: dict, config_model: dict, spec: dict) -> Path:
    """A checkpoint of a tiny HyperCT whose stored config says ``config_model``."""
    from hyperct.config.run import TrainConfig, config_to_dict
    from hyperct.inference.rng import seed_everything

    seed_everything(0)  # the seed load_trained_model rebuilds the random backbone with
    model = HyperCT(HyperCTConfig(**tiny_model))
    cfg = TrainConfig(method="hyperct", model=config_model)
    ckpt = Checkpoint(model=trainable_state(model), config=config_to_dict(cfg),
                      tasks=list(model.task_names), spec=spec, backbone=model.backbone_identity())
    return save_checkpoint(ckpt, tmp_path / "best.pt")


def test_weights_of_another_shape_name_the_file_and_the_parameters(
    tmp_path: Path, tiny_model: dict
) -> None:
    from hyperct.inference.predict import load_trained_model
    from hyperct.preprocess.spec import SliceStackSpec

    path = _saved_run(tmp_path, tiny_model, {**tiny_model, "task_dim": 16},
                      SliceStackSpec(slices=9, size=32).to_dict())
    with pytest.raises(CheckpointError) as info:
        load_trained_model(path, device="cpu")
    message = str(info.value)
    assert str(path) in message and "do not match the model built from the config" in message
    assert "task_embedding" in message and "(25, 8) in the checkpoint vs (25, 16)" in message


def test_corrupt_spec_in_a_checkpoint_names_the_file(tmp_path: Path, tiny_model: dict) -> None:
    from hyperct.inference.predict import load_trained_model

    path = _saved_run(tmp_path, tiny_model, tiny_model, {"kind": "slice_stack", "slabs": 3})
    with pytest.raises(CheckpointError, match=rf"{path}: the checkpoint's preprocessing spec is corrupt.*slabs"):
        load_trained_model(path, device="cpu")
