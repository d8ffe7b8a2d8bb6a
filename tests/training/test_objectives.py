"""Objectives: HyperCT's per-sample task BCE and the baselines' masked per-task losses."""

import pytest
import torch
import torch.nn.functional as F

from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.mtl import create_weighting
from hyperct.training.objectives import (
    HyperCTObjective,
    WeightedMultiTaskObjective,
    masked_task_losses,
)


def test_masked_losses_ignore_missing_labels() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.3, 4.0, -2.0]])
    labels = torch.tensor([[1.0, -1.0, 0.0], [0.0, -1.0, -1.0]])
    losses, present = masked_task_losses(logits, labels)
    assert present.tolist() == [True, False, True]
    expected0 = F.binary_cross_entropy_with_logits(logits[:, 0], labels[:, 0])
    assert torch.isclose(losses[0], expected0) and losses[1] == 0
    assert torch.isclose(losses[2], F.binary_cross_entropy_with_logits(logits[0, 2], labels[0, 2]))


def test_hyperct_objective_backpropagates_into_the_hypernetwork_only(tiny_batch, tiny_model) -> None:
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    objective = HyperCTObjective(range(25), generator=torch.Generator().manual_seed(0))
    logs = objective.backward(model, tiny_batch, scale=1.0)
    assert logs["samples"] == 2 and torch.isfinite(torch.tensor(logs["loss"]))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.hypernetwork.parameters())
    assert all(p.grad is None for p in model.backbone.parameters() if not p.requires_grad)


def test_samples_outside_the_run_tasks_are_dropped(tiny_batch, tiny_model) -> None:
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    objective = HyperCTObjective([24], generator=torch.Generator().manual_seed(0))
    assert objective.backward(model, tiny_batch, scale=1.0)["samples"] == 1


def test_weighted_objective_hands_losses_to_the_method(tiny_batch, tiny_model) -> None:
    torch.manual_seed(0)
    fields = {k: v for k, v in tiny_model.items() if k in ("backbone", "rank", "alpha", "dropout")}
    model = SharedLoRAMultiTask(MultiTaskConfig(**fields))
    for name in ("uw", "mgda"):
        model.zero_grad()
        objective = WeightedMultiTaskObjective(range(25), weighting=create_weighting(name, 25))
        logs = objective.backward(model, tiny_batch, scale=1.0)
        assert logs["samples"] == 2
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.shared_parameters())
        objective.epoch_end()
    assert objective.parameters() == []
    uw = WeightedMultiTaskObjective(range(25), weighting=create_weighting("uw", 25))
    assert len(uw.parameters()) == 1


def test_aux_losses_are_added_and_logged(tiny_batch, tiny_model) -> None:
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    head_weight = model.head.parameters().__next__()

    def penalty(m: torch.nn.Module, batch: dict) -> torch.Tensor:
        return 10.0 * sum(p.pow(2).sum() for p in m.head.parameters())

    objective = HyperCTObjective(range(25), generator=torch.Generator().manual_seed(0),
                                 aux_losses=[penalty])
    logs = objective.backward(model, tiny_batch, scale=1.0)
    assert logs["aux_loss"] > 0
    with_aux = head_weight.grad.clone()
    model.zero_grad()
    HyperCTObjective(range(25), generator=torch.Generator().manual_seed(0)).backward(
        model, tiny_batch, scale=1.0)
    assert not torch.allclose(with_aux, head_weight.grad)


def test_weighting_options_take_plain_keys_and_the_method_section() -> None:
    from hyperct.training.objective_setup import weighting_options

    mtl = {"mgda": {"mode": "representation"}, "dwa": {"temperature": 3.0}, "seed": 7}
    assert weighting_options(mtl, "mgda") == {"seed": 7, "mode": "representation"}
    assert weighting_options(mtl, "dwa") == {"seed": 7, "temperature": 3.0}
    assert weighting_options({"mgda": {"mode": "representation"}}, "ew") == {}
    with pytest.raises(ValueError, match="mtl.mgda"):
        weighting_options({"mgda": "representation"}, "mgda")
