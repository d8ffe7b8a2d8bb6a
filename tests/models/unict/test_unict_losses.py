import pytest
import torch
import torch.nn.functional as F

from hyperct.models.report.tokenizer import EncodedBatch
from hyperct.models.unict import UniCTConfig, total_loss
from hyperct.models.unict.losses import (
    classification_loss,
    dice_bce,
    report_loss,
    segmentation_loss,
)


def test_classification_loss_reads_only_the_known_labels():
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    labels = torch.tensor([[1, -1, 0], [-1, 1, -1]])
    expected = F.binary_cross_entropy_with_logits(
        torch.tensor([0.5, 2.0, 0.0]), torch.tensor([1.0, 0.0, 1.0])
    )
    torch.testing.assert_close(classification_loss(logits, labels), expected)


def test_classification_without_known_labels_is_an_exact_zero_in_the_graph():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = classification_loss(logits, torch.full((2, 3), -1))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(logits.grad, torch.zeros(2, 3))


def test_dice_bce_of_a_perfect_confident_mask_is_near_zero_and_of_the_inverse_large():
    masks = torch.zeros(1, 2, 4, 8, 8)
    masks[0, 0, 1:3, 2:6, 2:6] = 1
    masks[0, 1, 0, :2, :2] = 1
    good = dice_bce(20 * (2 * masks - 1), masks, smooth=1.0)
    bad = dice_bce(-20 * (2 * masks - 1), masks, smooth=1.0)
    assert good.shape == (1,) and good.item() < 1e-3
    assert bad.item() > 10


def test_scans_without_a_mask_add_nothing_to_the_segmentation_loss():
    logits = torch.randn(3, 2, 4, 8, 8, requires_grad=True)
    masks = (torch.rand(3, 2, 4, 8, 8) > 0.7).float()
    masks[1] = float("nan")  # a scan without a mask: its rows are never read
    present = torch.tensor([True, False, True])
    loss = segmentation_loss(logits, masks, present, smooth=1.0)
    expected = dice_bce(logits[[0, 2]], masks[[0, 2]], 1.0).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.equal(logits.grad[1], torch.zeros_like(logits.grad[1]))
    assert logits.grad[0].abs().sum() > 0


def test_a_batch_without_masks_gives_zero_segmentation_loss_and_zero_gradient():
    logits = torch.randn(2, 2, 4, 8, 8, requires_grad=True)
    loss = segmentation_loss(
        logits, torch.zeros_like(logits), torch.zeros(2, dtype=torch.bool), 1.0
    )
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))


def test_masks_off_the_model_grid_are_refused():
    with pytest.raises(ValueError, match="model grid"):
        segmentation_loss(
            torch.zeros(1, 2, 4, 8, 8),
            torch.zeros(1, 2, 4, 8, 9),
            torch.ones(1, dtype=torch.bool),
            1.0,
        )


def test_report_loss_ignores_scans_without_text():
    vocab = 7
    ids = torch.tensor([[1, 4, 5, 2], [1, 0, 0, 0]])  # scan 1: bos only (no report)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    logits = torch.randn(2, 3, vocab)
    loss = report_loss(logits, EncodedBatch(ids=ids, mask=mask))
    torch.testing.assert_close(loss, F.cross_entropy(logits[0], ids[0, 1:]))


def test_report_targets_without_report_logits_are_refused():
    batch = EncodedBatch(
        ids=torch.ones(1, 3, dtype=torch.long), mask=torch.ones(1, 3, dtype=torch.bool)
    )
    with pytest.raises(ValueError, match="not passed to UniCT.forward"):
        report_loss(None, batch)


def test_total_loss_weights_each_task():
    config = UniCTConfig(weight_classification=2.0, weight_segmentation=0.5)
    losses = {"classification": torch.tensor(1.0), "segmentation": torch.tensor(4.0)}
    assert total_loss(losses, config).item() == pytest.approx(4.0)


def test_dice_reads_only_the_categories_present_in_the_scan():
    masks = torch.zeros(2, 2, 4, 8, 8)
    masks[0, 0, 1:3, 2:6, 2:6] = 1  # scan 0: category 0 only; scan 1: an empty mask
    logits = 20 * (2 * masks - 1)
    logits[0, 1] = -3.0  # an absent category, fairly confident background: BCE only
    loss = dice_bce(logits, masks, smooth=1.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, masks, reduction="none")
    torch.testing.assert_close(loss, bce.flatten(1).mean(1), atol=1e-4, rtol=1e-4)
    tiny = torch.zeros(1, 1, 4, 8, 8)
    tiny[0, 0, 0, :2, :2] = 1  # four voxels: an all-background prediction still pays Dice 0.8
    assert dice_bce(torch.full_like(tiny, -20.0), tiny, smooth=1.0).item() > 0.79
