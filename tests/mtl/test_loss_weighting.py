"""Hand-computed cases for the loss weightings: EW, UW, RLW, DWA, GLS, FAMO."""

from __future__ import annotations

import math

import pytest
import torch

from hyperct.mtl import DWA, EW, FAMO, GLS, RLW, UW, create_weighting
from hyperct.mtl.dwa import DWAConfig
from hyperct.mtl.rlw import RLWConfig

PRESENT_3 = torch.tensor([True, False, True])


def test_ew_is_mean_over_present_tasks() -> None:
    total, weights = EW(3).combine(torch.tensor([1.0, 2.0, 3.0]), PRESENT_3)
    assert torch.equal(weights, torch.tensor([0.5, 0.0, 0.5]))
    assert total.item() == pytest.approx(2.0)


def test_uw_loss_value_and_log_variance_gradient() -> None:
    uw = UW(2)
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.0, math.log(2.0)]))
    losses = torch.tensor([0.5, 2.0])
    total, weights = uw.combine(losses, torch.tensor([True, True]))
    # exp(-0) * 0.5 + 0 + exp(-log 2) * 2 + log 2 = 1.5 + log 2
    assert total.item() == pytest.approx(1.5 + math.log(2.0), abs=1e-6)
    assert torch.allclose(weights, torch.tensor([1.0, 0.5]))
    total.backward()
    # d/ds_t = 1 - exp(-s_t) L_t = (1 - 0.5, 1 - 1)
    assert torch.allclose(uw.log_vars.grad, torch.tensor([0.5, 0.0]), atol=1e-6)


def test_uw_regulariser_counts_once_over_accumulated_batches() -> None:
    """grad_accum = 4 on four micro-batches of equal size gives one batch's log-variance gradient
    ``1 - exp(-s_t) L_t``, not the regulariser's gradient four times."""
    torch.manual_seed(0)
    s = torch.tensor([0.3, -0.2])
    micro = torch.rand(4, 2) + 0.1  # per-micro-batch task losses, each the mean of 8 samples
    uw = UW(2)
    with torch.no_grad():
        uw.log_vars.copy_(s)
    for losses in micro:
        uw.backward(losses, torch.tensor([True, True]), [], scale=0.25)
    expected = 1 - torch.exp(-s) * micro.mean(0)
    assert torch.allclose(uw.log_vars.grad, expected, atol=1e-6)


def test_uw_absent_task_has_no_term_and_no_gradient() -> None:
    uw = UW(3)
    total, weights = uw.combine(torch.tensor([1.0, 0.0, 3.0]), PRESENT_3)
    assert total.item() == pytest.approx(4.0)
    assert weights[1] == 0
    total.backward()
    assert uw.log_vars.grad[1] == 0
    assert list(create_weighting("uw", 3).parameters())[0].shape == (3,)


def test_gls_is_geometric_mean_with_its_gradient() -> None:
    losses = torch.tensor([1.0, 2.0, 4.0], requires_grad=True)
    total, weights = GLS(3).combine(losses, torch.tensor([True, True, True]))
    assert total.item() == pytest.approx(2.0)
    # dG/dL_t = G / (k L_t) = 2/3, 1/3, 1/6
    expected = torch.tensor([2 / 3, 1 / 3, 1 / 6])
    assert torch.allclose(weights, expected)
    total.backward()
    assert torch.allclose(losses.grad, expected)


def test_gls_leaves_absent_task_out_of_the_product() -> None:
    total, weights = GLS(3).combine(torch.tensor([1.0, 0.0, 4.0]), PRESENT_3)
    assert total.item() == pytest.approx(2.0)
    assert torch.allclose(weights, torch.tensor([1.0, 0.0, 0.25]))


def test_dwa_weights_from_known_history() -> None:
    dwa = DWA(2)
    present = torch.tensor([True, True])
    assert torch.equal(dwa.current_weights(present), torch.ones(2))
    dwa.epoch_end(torch.tensor([1.0, 2.0]))
    assert torch.equal(dwa.current_weights(present), torch.ones(2))
    dwa.epoch_end(torch.tensor([0.5, 2.0]))
    # r = (0.5, 1.0), tau = 2: w = 2 * exp(r/2) / sum = (0.875647, 1.124353)
    e1, e2 = math.exp(0.25), math.exp(0.5)
    expected = torch.tensor([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)])
    assert torch.allclose(dwa.current_weights(present), expected, atol=1e-6)
    assert expected[0].item() == pytest.approx(0.875647, abs=1e-6)


def test_dwa_over_present_tasks_and_undefined_ratio() -> None:
    dwa = DWA(3, DWAConfig(temperature=2.0))
    dwa.epoch_end(torch.tensor([1.0, float("nan"), 2.0]))
    dwa.epoch_end(torch.tensor([0.5, 1.0, 2.0]))
    weights = dwa.current_weights(PRESENT_3)
    e1, e2 = math.exp(0.25), math.exp(0.5)
    assert torch.allclose(weights, torch.tensor([2 * e1 / (e1 + e2), 0.0, 2 * e2 / (e1 + e2)]))
    # the NaN ratio of task 1 counts as r = 1 when it is present
    all_present = dwa.current_weights(torch.tensor([True, True, True]))
    assert all_present[1] == pytest.approx(all_present[2].item())


def test_rlw_weights_sum_to_one_and_are_reproducible() -> None:
    global_state = torch.get_rng_state()
    first, second = RLW(4, RLWConfig(seed=7)), RLW(4, RLWConfig(seed=7))
    present = torch.tensor([True, False, True, True])
    for _ in range(3):
        w1 = first.combine(torch.ones(4), present)[1]
        w2 = second.combine(torch.ones(4), present)[1]
        assert torch.equal(w1, w2)
        assert w1[1] == 0 and w1.sum().item() == pytest.approx(1.0)
    other = RLW(4, RLWConfig(seed=8)).combine(torch.ones(4), present)[1]
    assert not torch.equal(other, RLW(4, RLWConfig(seed=7)).combine(torch.ones(4), present)[1])
    assert torch.equal(torch.get_rng_state(), global_state)


def _famo_expected_after_one_update() -> torch.Tensor:
    # step 1: losses (1, 1), logits 0. step 2: losses (e^-1, 1): delta = (1, 0),
    # grad of softmax . delta = (0.25, -0.25); Adam's first step moves each logit by lr * sign:
    # logits (-0.025, 0.025); weights proportional to z_t / L_t.
    z = torch.softmax(torch.tensor([-0.025, 0.025], dtype=torch.float64), 0)
    scaled = z / torch.tensor([math.exp(-1), 1.0], dtype=torch.float64)
    return (scaled / scaled.sum()).float()


def test_famo_hand_computed_update_next_batch() -> None:
    famo = FAMO(2)
    both = torch.tensor([True, True])
    losses = torch.tensor([1.0, 1.0], requires_grad=True)
    assert torch.allclose(famo.backward(losses, both, []), torch.tensor([0.5, 0.5]))
    weights = famo.backward(torch.tensor([math.exp(-1), 1.0], requires_grad=True), both, [])
    assert torch.allclose(famo.logits, torch.tensor([-0.025, 0.025]), atol=1e-6)
    assert torch.allclose(weights, _famo_expected_after_one_update(), atol=1e-6)
    assert weights.sum().item() == pytest.approx(1.0)


def test_famo_observe_same_batch_gives_the_same_update() -> None:
    famo = FAMO(2)
    both = torch.tensor([True, True])
    famo.backward(torch.tensor([1.0, 1.0], requires_grad=True), both, [])
    famo.observe(torch.tensor([math.exp(-1), 1.0]), both)
    assert torch.allclose(famo.logits, torch.tensor([-0.025, 0.025]), atol=1e-6)
    # the next backward must not update again
    famo.backward(torch.tensor([1.0, 1.0], requires_grad=True), both, [])
    assert torch.allclose(famo.logits, torch.tensor([-0.025, 0.025]), atol=1e-6)
    assert list(famo.parameters()) == []


def test_famo_logit_of_absent_task_does_not_move() -> None:
    famo = FAMO(3)
    famo.backward(
        torch.tensor([1.0, 1.0, 1.0], requires_grad=True), torch.ones(3, dtype=torch.bool), []
    )
    weights = famo.backward(torch.tensor([0.5, 0.0, 2.0], requires_grad=True), PRESENT_3, [])
    assert famo.logits[1] == 0 and weights[1] == 0
    assert weights.sum().item() == pytest.approx(1.0)
