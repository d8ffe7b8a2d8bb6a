"""The hypernetwork: shapes, zero-B start, batching over tasks and modules, parameter counts."""

from __future__ import annotations

import pytest
import torch

from hyperct.models.hypernetwork import (
    HyperNetwork,
    HyperNetworkConfig,
    ModuleSpec,
    parameter_count,
)

SPECS = [
    ModuleSpec("0.attention.q_proj", "q_proj", 8, 8),
    ModuleSpec("0.mlp.up_proj", "up_proj", 8, 16),
    ModuleSpec("0.mlp.down_proj", "down_proj", 16, 8),
    ModuleSpec("1.attention.q_proj", "q_proj", 8, 8),
]
CONFIG = HyperNetworkConfig(
    num_tasks=4, task_dim=12, module_dim=4, latent_dim=6, output_dim=10, rank=2
)


def _net(seed: int = 0) -> HyperNetwork:
    torch.manual_seed(seed)
    return HyperNetwork(CONFIG, SPECS)


def test_pairs_have_lora_shapes_and_start_with_zero_b() -> None:
    pairs = _net()(torch.tensor([0, 3]))
    assert len(pairs) == len(SPECS)
    for spec, (lora_a, lora_b) in zip(SPECS, pairs):
        assert lora_a.shape == (2, 2, spec.in_features)
        assert lora_b.shape == (2, spec.out_features, 2)
        assert torch.count_nonzero(lora_b) == 0
        assert torch.count_nonzero(lora_a) > 0


def test_gather_equals_running_each_sample() -> None:
    net = _net()
    with torch.no_grad():
        for head in net.heads.values():
            head.weight.normal_()
    unique = torch.tensor([1, 2])
    gather = torch.tensor([0, 1, 1, 0])
    gathered = net(unique, gather=gather)
    single = net(torch.tensor([1, 2, 2, 1]))
    for (a, b), (a2, b2) in zip(gathered, single):
        torch.testing.assert_close(a, a2)
        torch.testing.assert_close(b, b2)


def test_modules_of_a_type_share_a_head_but_get_different_weights() -> None:
    net = _net()
    assert set(net.heads) == {"q_proj", "up_proj", "down_proj"}
    first, second = net(torch.tensor([0]))[0][0], net(torch.tensor([0]))[3][0]
    assert not torch.allclose(first, second)


def test_parameter_count_by_part() -> None:
    counts = parameter_count(_net())
    heads = sum(10 * 2 * (i + o) + 2 * (i + o) for i, o in [(8, 8), (8, 16), (16, 8)])
    assert counts["heads"] == heads
    assert counts["embeddings"] == 4 * 12 + 4 * 4
    assert counts["total"] == sum(p.numel() for p in _net().parameters())


def test_added_task_is_a_separate_parameter() -> None:
    net = _net()
    new_id = net.task_embedding.add()
    assert new_id == 4 and net.task_embedding.num_tasks == 5
    assert net(torch.tensor([4]))[0][0].shape == (1, 2, 8)
    with pytest.raises(IndexError, match="task ids"):
        net(torch.tensor([5]))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="rank"):
        HyperNetworkConfig(rank=0)
    with pytest.raises(ValueError, match="at least one"):
        HyperNetwork(CONFIG, [])
