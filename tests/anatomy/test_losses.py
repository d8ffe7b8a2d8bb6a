"""Segmentation loss: unlabeled voxels do not count."""

import pytest
import torch

from hyperct.anatomy.losses import SegLossConfig, segmentation_loss
from hyperct.tasks import IGNORE_INDEX


@pytest.mark.parametrize("kind", ["ce", "dice", "dice_ce"])
def test_loss_ignores_unlabeled_voxels(kind: str) -> None:
    torch.manual_seed(0)
    config = SegLossConfig(kind=kind)
    logits = torch.randn(2, 4, 6, 6, 6)
    target = torch.randint(0, 4, (2, 6, 6, 6))
    target[:, :3] = IGNORE_INDEX
    base = segmentation_loss(logits, target, config)
    changed = logits.clone()
    changed[:, :, :3] = torch.randn_like(changed[:, :, :3]) * 10
    assert torch.allclose(segmentation_loss(changed, target, config), base)
    changed[:, 0, 4] += 5.0
    assert not torch.allclose(segmentation_loss(changed, target, config), base)


def test_gradient_is_zero_on_unlabeled_voxels() -> None:
    logits = torch.randn(1, 3, 8, 8, requires_grad=True)
    target = torch.randint(0, 3, (1, 8, 8))
    target[:, :4] = IGNORE_INDEX
    segmentation_loss(logits, target, SegLossConfig(kind="dice_ce")).backward()
    assert torch.all(logits.grad[:, :, :4] == 0)
    assert logits.grad[:, :, 4:].abs().sum() > 0


def test_all_ignored_gives_zero_loss() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), IGNORE_INDEX)
    loss = segmentation_loss(logits, target)
    loss.backward()
    assert loss.item() == 0.0


def test_ce_matches_perfect_prediction_limit() -> None:
    target = torch.randint(0, 3, (1, 4, 4))
    logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert segmentation_loss(logits, target).item() < 1e-6
    assert segmentation_loss(logits, target, SegLossConfig(kind="dice")).item() < 1e-4


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="weight"):
        SegLossConfig(weight=-1)
    with pytest.raises(ValueError, match="kind"):
        SegLossConfig(kind="focal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="do not match"):
        segmentation_loss(torch.randn(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))
