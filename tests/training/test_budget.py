"""Budgets: one epoch's counts per method, the conversion into epochs + limits, the stop."""

import dataclasses

import pytest
import torch

from hyperct.config.run import ConfigError, config_from_dict
from hyperct.training.budget import budget_config, default_amount, epoch_counts
from hyperct.training.loop import LoopContext, train_one_epoch
from hyperct.training.objectives import Objective

TASKS = ["Emphysema", "Cardiomegaly", "Pleural effusion"]


def _labels() -> torch.Tensor:
    """5 scans with 3, 2, 1, 0 and 3 of the run's tasks labelled (and one task outside them)."""
    labels = torch.full((5, 25), -1.0)
    for row, tasks in enumerate([TASKS, TASKS[:2], TASKS[2:], [], TASKS]):
        for name in tasks:
            labels[row, _index(name)] = 1.0
    labels[3, 24] = 0.0  # not a run task: never counted
    return labels


def _index(name: str) -> int:
    from hyperct.tasks import TASK_NAMES

    return TASK_NAMES.index(name)


def _cfg(method: str, k: int = 1, batch_size: int = 2, grad_accum: int = 1):  # noqa: ANN202
    return config_from_dict({"method": method, "tasks": TASKS, "sampling": {"tasks_per_sample": k},
                             "optim": {"batch_size": batch_size, "grad_accum": grad_accum,
                                       "epochs": 4}})


def test_epoch_counts_follow_each_objective() -> None:
    labels = _labels()
    ew = epoch_counts(_cfg("ew"), labels)
    assert (ew.steps, ew.labels, ew.backbone_passes) == (3, 9, 5)  # every label, one pass per scan
    one = epoch_counts(_cfg("hyperct", k=1), labels)
    assert (one.labels, one.backbone_passes) == (4, 4)  # one task per labelled scan
    two = epoch_counts(_cfg("hyperct", k=2), labels)
    assert (two.labels, two.backbone_passes) == (7, 7)  # min(2, available) per scan
    assert epoch_counts(_cfg("mgda", batch_size=2, grad_accum=2), labels).steps == 2
    assert epoch_counts(_cfg("resnet18_3d"), labels).labels == 9


def test_a_budget_becomes_epochs_and_a_limit() -> None:
    labels = _labels()
    cfg = budget_config(_cfg("ew"), "label-exposures", 20, labels)
    assert cfg.optim.epochs == 3 and cfg.optim.max_label_exposures == 20  # ceil(20 / 9)
    cfg = budget_config(_cfg("hyperct", k=2), "backbone-passes", 20, labels)
    assert cfg.optim.epochs == 3 and cfg.optim.max_backbone_passes == 20  # ceil(20 / 7)
    cfg = budget_config(_cfg("ew"), "steps", 7, labels)
    assert cfg.optim.epochs == 3 and cfg.optim.max_steps == 7
    cfg = budget_config(_cfg("ew"), "epochs", 2, labels)
    assert cfg.optim.epochs == 2 and cfg.optim.max_steps is None
    assert default_amount(_cfg("hyperct", k=1), "label-exposures", labels) == 16  # 4 epochs x 4
    with pytest.raises(ConfigError, match="stl trains one model per task"):
        budget_config(_cfg("stl"), "label-exposures", 20, labels)
    with pytest.raises(ConfigError, match="--budget must be one of"):
        budget_config(_cfg("ew"), "labels", 20, labels)


def test_optim_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="optim.max_steps"):
        config_from_dict({"optim": {"max_steps": 0}})


class _Counting(Objective):
    """Each batch: 3 labels, 2 backbone passes, a real (tiny) backward."""

    def backward(self, model, batch, scale):  # noqa: ANN001, ANN201
        (model.weight.sum() * scale).backward()
        return {"loss": 1.0, "samples": 2.0, "labels": 3.0, "backbone_passes": 2.0}


@pytest.mark.parametrize(
    ("limits", "grad_accum", "steps", "labels"),
    [({"labels": 7}, 1, 3, 9), ({"backbone_passes": 4}, 1, 2, 6), ({"steps": 2}, 2, 2, 12),
     ({"labels": 1}, 2, 1, 6), (None, 1, 10, 30)],
)
def test_the_loop_stops_at_the_first_step_that_reaches_a_limit(
    limits: dict | None, grad_accum: int, steps: int, labels: int
) -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ctx = LoopContext(device=torch.device("cpu"), params=list(model.parameters()),
                      grad_accum=grad_accum, progress=False)
    stats = train_one_epoch(model, [{}] * 10, _Counting(range(1)), optimizer, ctx, limits=limits)
    assert (stats.steps, stats.labels) == (steps, labels)
    assert stats.backbone_passes == labels // 3 * 2


def test_remaining_budget_counts_the_epochs_done() -> None:
    from hyperct.training.trainer import remaining_budget

    optim = dataclasses.replace(_cfg("ew").optim, max_label_exposures=20, max_steps=5)
    history = [{"steps": "3", "labels": "9"}, {"steps": 1, "labels": 4}]
    assert remaining_budget(optim, history) == {"steps": 1, "labels": 7}
    assert remaining_budget(_cfg("ew").optim, history) is None
