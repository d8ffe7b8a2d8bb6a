"""Objectives: HyperCT's per-sample task BCE and the baselines' masked per-task losses."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.mtl import create_weighting
from hyperct.anatomy.losses import SegLossConfig
from hyperct.anatomy.supervision import AnatomySupervision
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.training.objectives import (
    HyperCTObjective,
    MultiLabelObjective,
    UniCTObjective,
    WeightedMultiTaskObjective,
    masked_bce,
    masked_task_losses,
)


def _with_anatomy(batch: dict, shape: tuple[int, ...]) -> dict:
    anatomy = torch.randint(0, 7, shape, generator=torch.Generator().manual_seed(3))
    return {**batch, "anatomy": anatomy}


def _supervision(channels: int, dims: int, weight: float = 1.0) -> AnatomySupervision:
    torch.manual_seed(5)
    return AnatomySupervision(channels, dims, seg=SegLossConfig(weight=weight))


def _grads(params) -> list[torch.Tensor]:
    return [p.grad.clone() for p in params if p.grad is not None]


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


@pytest.mark.parametrize("family", ["hyperct", "ew", "mgda"])
def test_anatomy_loss_reaches_the_adapters_and_weight_zero_changes_nothing(
    tiny_batch, tiny_model, family: str
) -> None:
    """Every 2.5D family trains the head from the same pass; at weight 0 the model's gradients
    are those of training without anatomy."""
    torch.manual_seed(0)
    if family == "hyperct":
        model = HyperCT(HyperCTConfig(**tiny_model))
        params = list(model.hypernetwork.parameters())

        def objective(anatomy):
            return HyperCTObjective(range(25), torch.Generator().manual_seed(0), anatomy=anatomy)
    else:
        fields = {k: v for k, v in tiny_model.items() if k in ("backbone", "rank", "alpha", "dropout")}
        model = SharedLoRAMultiTask(MultiTaskConfig(**fields))
        params = list(model.shared_parameters())

        def objective(anatomy):
            weighting = create_weighting(family, 25, **({"mode": "representation"}
                                                        if family == "mgda" else {}))
            return WeightedMultiTaskObjective(range(25), weighting=weighting, anatomy=anatomy)
    batch = _with_anatomy(tiny_batch, (2, 3, 32, 32))
    hidden = model.backbone.hidden_size
    runs = {}
    for name, anatomy, data in (("plain", None, tiny_batch),
                                ("zero", _supervision(hidden, 2, 0.0), batch),
                                ("seg", _supervision(hidden, 2), batch)):
        model.zero_grad()
        logs = objective(anatomy).backward(model, data, scale=1.0)
        runs[name] = (_grads(params), logs)
        if anatomy is not None:
            assert logs["seg_loss"] > 0 and anatomy.head.proj.weight.grad is not None
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(runs["plain"][0], runs["zero"][0]))
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(runs["plain"][0], runs["seg"][0]))
    assert "seg_loss" not in runs["plain"][1]


def test_multilabel_objective_masks_missing_labels_and_adds_the_seg_loss() -> None:
    torch.manual_seed(0)
    model = Classifier3D(Classifier3DConfig(backbone_kwargs={"width": 4}))
    g = torch.Generator().manual_seed(0)
    labels = torch.full((2, 25), -1.0)
    labels[0, 3], labels[1, 20] = 1.0, 0.0
    batch = {"image": torch.randn(2, 1, 16, 32, 32, generator=g), "labels": labels}
    logits = model(batch["image"]).detach()
    expected = (F.binary_cross_entropy_with_logits(logits[0, 3], torch.tensor(1.0))
                + F.binary_cross_entropy_with_logits(logits[1, 20], torch.tensor(0.0))) / 2
    logs = MultiLabelObjective(range(25)).backward(model, batch, scale=1.0)
    assert logs["loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert MultiLabelObjective([0]).backward(model, batch, 1.0)["samples"] == 0  # no label of task 0
    anatomy = _supervision(model.backbone.out_channels, 3)
    objective = MultiLabelObjective(range(25), anatomy=anatomy)
    logs = objective.backward(model, _with_anatomy(batch, (2, 16, 32, 32)), scale=1.0)
    assert logs["seg_loss"] > 0 and objective.parameters() == anatomy.parameters()
    assert set(objective.state_dict()) == {"anatomy"}


def test_masked_bce_ignores_missing_labels() -> None:
    logits = torch.tensor([[0.0, 5.0], [2.0, -3.0]])
    labels = torch.tensor([[1.0, -1.0], [-1.0, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([0.0, -3.0]), torch.tensor([1.0, 0.0]))
    assert torch.isclose(masked_bce(logits, labels), expected)
    assert masked_bce(logits, torch.full_like(labels, -1.0)) == 0


def test_uw_regulariser_counts_once_under_gradient_accumulation(tiny_batch, tiny_model) -> None:
    """k accumulation passes at scale 1/k give the one-pass gradient of UW's log-variances."""
    fields = {k: v for k, v in tiny_model.items() if k in ("backbone", "rank", "alpha", "dropout")}
    grads = []
    for passes in (1, 4):
        torch.manual_seed(0)
        model = SharedLoRAMultiTask(MultiTaskConfig(**{**fields, "dropout": 0.0}))
        objective = WeightedMultiTaskObjective(range(25), weighting=create_weighting("uw", 25))
        for _ in range(passes):
            objective.backward(model, tiny_batch, scale=1.0 / passes)
        grads.append(objective.parameters()[0].grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)


def _hyperct_grads(tiny_model, batch, objective) -> tuple[dict, list[torch.Tensor]]:
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    logs = objective.backward(model, batch, scale=1.0)
    return logs, _grads(model.parameters())


def test_one_task_per_sample_is_the_paper_step(tiny_batch, tiny_model) -> None:
    """k=1 draws the same tasks as the single-task sampler and gives the same loss/gradients
    as the forward pass on those (sample, task) pairs written out by hand."""
    from hyperct.training.sampling import sample_tasks

    objective = HyperCTObjective(range(25), generator=torch.Generator().manual_seed(4),
                                 tasks_per_sample=1)
    logs, grads = _hyperct_grads(tiny_model, tiny_batch, objective)
    tasks, keep = sample_tasks(tiny_batch["labels"], torch.Generator().manual_seed(4))
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    logits = model(tiny_batch["image"], tiny_batch["image_mask"], tasks)
    loss = F.binary_cross_entropy_with_logits(logits, tiny_batch["labels"][keep, tasks[keep]])
    loss.backward()
    assert logs["loss"] == pytest.approx(float(loss.detach()), abs=1e-6)
    assert logs["labels"] == logs["samples"] == logs["backbone_passes"] == 2
    for got, want in zip(grads, _grads(model.parameters()), strict=True):
        assert torch.allclose(got, want, atol=1e-6)


def test_k_tasks_per_sample_train_k_labels_in_one_batched_pass(
    tiny_batch, tiny_model, monkeypatch
) -> None:
    """Sample a has 3 labels, b has 2: k=3 trains 5 (sample, task) pairs in one forward, and the
    hypernetwork runs once, on the distinct tasks only."""
    torch.manual_seed(0)
    model = HyperCT(HyperCTConfig(**tiny_model))
    calls: list[torch.Tensor] = []
    original = model.hypernetwork.forward

    def counting(task_ids, *args, **kwargs):  # noqa: ANN001, ANN202 - a spy
        calls.append(task_ids.clone())
        return original(task_ids, *args, **kwargs)

    monkeypatch.setattr(model.hypernetwork, "forward", counting)
    seen: list[torch.Tensor] = []
    head = model.forward_head

    def spy_head(cls, image_mask, task_ids):  # noqa: ANN001, ANN202 - a spy
        seen.append(task_ids.clone())
        return head(cls, image_mask, task_ids)

    monkeypatch.setattr(model, "forward_head", spy_head)
    objective = HyperCTObjective(range(25), generator=torch.Generator().manual_seed(0),
                                 tasks_per_sample=3)
    logs = objective.backward(model, tiny_batch, scale=1.0)
    assert logs["labels"] == 5 and logs["backbone_passes"] == 5 and logs["samples"] == 2
    assert sorted(seen[0].tolist()) == [0, 7, 7, 20, 24]
    assert len(calls) == 1 and sorted(calls[0].tolist()) == [0, 7, 20, 24]
    assert torch.isfinite(torch.tensor(logs["loss"]))


def _unict(**overrides) -> torch.nn.Module:
    """A tiny UniCT with the 25 task outputs, two finding channels and a report head."""
    from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
    from hyperct.models.unict import UniCT, UniCTConfig
    from hyperct.tasks import TASK_NAMES

    torch.manual_seed(0)
    config = UniCTConfig(
        encoder="volume3d", backbone3d_kwargs={"width": 4}, dim=16, heads=2, cls_latents=2,
        report_latents=2, seg_embed=4, seg_upsample=1, classes=TASK_NAMES,
        seg_classes=("1c", "2d"), decoder={"width": 16, "layers": 1, "heads": 2, "max_len": 16},
        **overrides,
    )
    texts = ["Emphysema is seen.", "No emphysema."] * 4
    tokenizer = ReportTokenizer.train(texts, TokenizerConfig(vocab_size=300, min_frequency=1))
    return UniCT(config, tokenizer if config.supervise_report else None)


def _unict_batch(present: tuple[bool, bool] = (True, True)) -> dict:
    g = torch.Generator().manual_seed(1)
    labels = torch.full((2, 25), -1.0)
    labels[:, [0, 7]] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    masks = (torch.rand(2, 2, 8, 16, 16, generator=g) > 0.8).to(torch.uint8)
    return {"image": torch.randn(2, 1, 8, 16, 16, generator=g), "labels": labels,
            "findings_mask": masks, "has_findings_mask": torch.tensor(present),
            "report_text": ["Emphysema is seen.", ""]}


def _unict_objective(model, tasks=(0, 7)) -> UniCTObjective:
    return UniCTObjective(list(tasks), model.config.supervise_classification)


#: Each supervision and the head only its loss trains.
_HEADS = {"classification": "class_head", "segmentation": "seg_decoder", "report": "report_decoder"}


@pytest.mark.parametrize("part", list(_HEADS))
def test_unict_supervision_switched_off_sends_its_head_no_gradient(part: str) -> None:
    model = _unict(**{f"supervise_{part}": False})
    logs = _unict_objective(model).backward(model, _unict_batch(), 1.0)
    assert f"loss/{part}" not in logs
    assert all(f"loss/{p}" in logs for p in _HEADS if p != part)
    head = getattr(model, _HEADS[part])
    assert head is None or all(p.grad is None for p in head.parameters())
    for other in (p for p in _HEADS if p != part):
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in getattr(model, _HEADS[other]).parameters()), other


def test_unict_scan_without_a_mask_adds_no_segmentation_loss() -> None:
    def run(batch: dict) -> tuple[dict, list[torch.Tensor]]:
        model = _unict(supervise_classification=False, supervise_report=False)
        logs = _unict_objective(model).backward(model, batch, 1.0)
        return logs, [p.grad for p in model.seg_decoder.parameters()]

    batch = _unict_batch(present=(True, False))
    logs, grads = run(batch)
    batch["findings_mask"][1] = 1 - batch["findings_mask"][1]  # the unflagged scan's mask
    other_logs, other_grads = run(batch)
    assert logs["loss/segmentation"] == other_logs["loss/segmentation"] > 0
    assert all(torch.equal(a, b) for a, b in zip(grads, other_grads, strict=True))
    none, _ = run(_unict_batch(present=(False, False)))  # nothing to learn from: skipped
    assert np.isnan(none["loss"]) and none["samples"] == 0.0


def test_unict_loss_is_the_weighted_sum_and_labels_outside_the_run_are_unused() -> None:
    model = _unict(weight_segmentation=2.0, weight_report=0.5)
    logs = _unict_objective(model, tasks=(0,)).backward(model, _unict_batch(), 1.0)
    parts = 1.0 * logs["loss/classification"] + 2.0 * logs["loss/segmentation"] + 0.5 * logs[
        "loss/report"]
    assert logs["loss"] == pytest.approx(parts, rel=1e-5)
    assert logs["labels"] == 2.0  # task 0 of both scans; task 7 is not in the run


def test_unict_guided_report_is_trained_on_prompts_from_the_known_labels() -> None:
    def report_loss(batch: dict) -> float:
        model = _unict(report_guidance=True)
        return _unict_objective(model).backward(model, batch, 1.0)["loss/report"]

    batch = _unict_batch()
    flipped = _unict_batch()
    flipped["labels"][0, 0] = 1.0 - flipped["labels"][0, 0]  # the scan with a report
    outside = _unict_batch()
    outside["labels"][0, 3] = 1.0  # task 3 is not in the run: never a prompt
    assert report_loss(flipped) != report_loss(batch) == report_loss(outside)


def test_unict_validation_loss_selects_when_nothing_is_classified() -> None:
    model = _unict(supervise_classification=False).eval()
    objective = _unict_objective(model)
    assert objective.selects_by_loss and not _unict_objective(_unict()).selects_by_loss
    with torch.no_grad():
        total, scans = objective.validation_loss(model, _unict_batch())
    assert scans == 2 and total > 0


def test_unict_refuses_the_anatomy_head() -> None:
    from hyperct.config.run import ConfigError, config_from_dict
    from hyperct.training.objective_setup import build_objective

    cfg = config_from_dict({"method": "unict", "anatomy": {"enabled": True}})
    with pytest.raises(ConfigError, match="anatomy.enabled"):
        build_objective(cfg, _unict(), torch.device("cpu"), torch.zeros(0, 25))
