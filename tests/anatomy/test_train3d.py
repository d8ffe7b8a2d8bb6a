"""3D classifier training with the auxiliary anatomy loss on tiny random volumes."""

import pytest
import torch

from hyperct.anatomy.losses import SegLossConfig
from hyperct.anatomy.totalseg import CHEST_LOBES_HEART, IGNORE_INDEX
from hyperct.anatomy.train3d import (
    Classifier3DObjective,
    Train3DConfig,
    masked_bce,
    train_classifier3d,
)
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig


def _batch(with_anatomy: bool = True) -> dict:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(-1, 2, (2, 25), generator=g).float()
    batch = {"image": torch.randn(2, 1, 32, 32, 32, generator=g), "labels": labels}
    if with_anatomy:
        anatomy = torch.randint(0, 7, (2, 32, 32, 32), generator=g)
        anatomy[:, :4] = IGNORE_INDEX
        batch["anatomy"] = anatomy
    return batch


def _model(seg: bool) -> Classifier3D:
    torch.manual_seed(0)
    return Classifier3D(
        Classifier3DConfig(backbone_kwargs={"width": 4}, num_seg_classes=7 if seg else None)
    )


def test_masked_bce_ignores_missing_labels() -> None:
    logits = torch.zeros(1, 3)
    labels = torch.tensor([[1.0, -1.0, 0.0]])
    changed = logits.clone()
    changed[0, 1] = 9.0
    assert torch.equal(masked_bce(logits, labels), masked_bce(changed, labels))
    assert masked_bce(logits, torch.full((1, 3), -1.0)).item() == 0.0


def test_objective_adds_seg_loss_and_trains_seg_head() -> None:
    model = _model(seg=True)
    logs = Classifier3DObjective(range(25)).backward(model, _batch(), 1.0)
    assert "aux_loss" in logs and logs["aux_loss"] > 0
    assert model.seg_head.proj.weight.grad is not None
    without = _model(seg=False)
    logs = Classifier3DObjective(range(25)).backward(without, _batch(), 1.0)
    assert "aux_loss" not in logs


def test_weight_zero_matches_classification_only_gradients() -> None:
    with_head, plain = _model(seg=True), _model(seg=False)
    plain.load_state_dict({k: v for k, v in with_head.state_dict().items() if "seg_head" not in k})
    cfg = Train3DConfig(seg=SegLossConfig(weight=0.0))
    Classifier3DObjective(range(25), cfg).backward(with_head, _batch(), 1.0)
    Classifier3DObjective(range(25), cfg).backward(plain, _batch(), 1.0)
    a = with_head.backbone.net.conv1.weight.grad
    assert torch.allclose(a, plain.backbone.net.conv1.weight.grad)


def test_totalseg_targets_are_mapped_on_the_fly() -> None:
    objective = Classifier3DObjective(range(25), Train3DConfig(totalseg_targets=CHEST_LOBES_HEART))
    target = objective._targets(torch.tensor([[[[0, 10, 51, 5, IGNORE_INDEX]]]]))
    assert target.tolist() == [[[[0, 1, 6, 0, IGNORE_INDEX]]]]


def test_train_loop_runs_and_changes_weights() -> None:
    model = _model(seg=True)
    before = model.head[1].weight.detach().clone()
    history = train_classifier3d(model, lambda epoch: [_batch()], Train3DConfig(epochs=2, lr=1e-3))
    assert len(history) == 2 and all(h.steps == 1 for h in history)
    assert not torch.equal(before, model.head[1].weight)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="max_grad_norm"):
        Train3DConfig(max_grad_norm=0)
