"""Hand-computed cases for the gradient methods: MGDA (and MGDA-UB), PCGrad, CAGrad, Nash-MTL."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from hyperct.mtl import CAGrad, MGDA, NashMTL, PCGrad, create_weighting
from hyperct.mtl.cagrad import CAGradConfig
from hyperct.mtl.mgda import MGDAConfig
from hyperct.mtl.nash_mtl import NashMTLConfig
from hyperct.mtl.pcgrad import PCGradConfig
from hyperct.mtl.base import GradientWeighting

from mtl_helpers import TinyMultiTask, batch, masked_losses


def linear_step(
    method: GradientWeighting, gradients: list[list[float]], representation: bool = False
) -> tuple[Tensor, Tensor]:
    """Losses ``L_t = g_t . theta`` so that task ``t``'s gradient is exactly ``g_t``."""
    theta = torch.zeros(len(gradients[0]), requires_grad=True)
    z = theta * 1.0
    losses = torch.stack([torch.tensor(g) @ z for g in gradients])
    present = torch.ones(len(gradients), dtype=torch.bool)
    weights = method.backward(losses, present, [theta], z if representation else None)
    return weights, theta.grad


@pytest.mark.parametrize("representation", [False, True])
@pytest.mark.parametrize("mode", ["params", "representation"])
def test_mgda_orthogonal_gradients(mode: str, representation: bool) -> None:
    if mode == "representation" and not representation:
        pytest.skip("MGDA-UB needs the representation")
    weights, grad = linear_step(
        MGDA(2, MGDAConfig(mode=mode)), [[1.0, 0.0], [0.0, 1.0]], representation
    )
    assert torch.allclose(weights, torch.tensor([0.5, 0.5]))
    assert torch.allclose(grad, torch.tensor([0.5, 0.5]))


def test_mgda_opposed_gradients_reach_zero() -> None:
    # min ||a (2, 0) + (1 - a)(-1, 0)||: 2a = 1 - a, a = 1/3
    weights, grad = linear_step(MGDA(2), [[2.0, 0.0], [-1.0, 0.0]])
    assert torch.allclose(weights, torch.tensor([1 / 3, 2 / 3]), atol=1e-6)
    assert torch.allclose(grad, torch.zeros(2), atol=1e-6)


def test_mgda_dominated_gradient_gets_all_weight() -> None:
    # hull of (1, 0) and (1, 1): min-norm point is (1, 0) itself
    weights, grad = linear_step(MGDA(2), [[1.0, 0.0], [1.0, 1.0]])
    assert torch.allclose(weights, torch.tensor([1.0, 0.0]), atol=1e-6)
    assert torch.allclose(grad, torch.tensor([1.0, 0.0]), atol=1e-6)


def test_pcgrad_leaves_non_conflicting_gradients_untouched() -> None:
    weights, grad = linear_step(PCGrad(2), [[1.0, 0.0], [0.0, 1.0]])
    assert torch.equal(weights, torch.tensor([1.0, 1.0]))
    assert torch.equal(grad, torch.tensor([1.0, 1.0]))


def test_pcgrad_projects_conflicting_pair() -> None:
    # g1 = (1, 0), g2 = (-1, 1), g1.g2 = -1: g1' = g1 + g2/2 = (.5, .5), g2' = g2 + g1 = (0, 1)
    global_state = torch.get_rng_state()
    weights, grad = linear_step(PCGrad(2), [[1.0, 0.0], [-1.0, 1.0]])
    assert torch.allclose(weights, torch.tensor([2.0, 1.5]))
    assert torch.allclose(grad, torch.tensor([0.5, 1.5]))
    assert torch.equal(torch.get_rng_state(), global_state)


def test_pcgrad_projects_only_the_conflicting_pairs_of_three() -> None:
    # g3 = (0, 1e-4) conflicts with nobody: g1 and g2 are projected as above, g3 is untouched
    weights, grad = linear_step(PCGrad(3), [[1.0, 0.0], [-1.0, 1.0], [0.0, 0.0001]])
    g3_row = weights[2]
    assert torch.allclose(grad, torch.tensor([0.5, 1.5 + 0.0001]), atol=1e-6)
    assert g3_row.item() == pytest.approx(1.0)


def test_cagrad_orthogonal_gradients_scale_the_mean() -> None:
    # g_w = g0 by symmetry: d = g0 + c ||g0|| g0 / ||g0|| = (1 + c) g0
    config = CAGradConfig(c=0.4, rescale=False)
    weights, grad = linear_step(CAGrad(2, config), [[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(weights, torch.tensor([0.7, 0.7]), atol=1e-4)
    assert torch.allclose(grad, torch.tensor([0.7, 0.7]), atol=1e-4)
    weights, _ = linear_step(CAGrad(2, CAGradConfig(c=0.0)), [[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(weights, torch.tensor([0.5, 0.5]), atol=1e-4)


def _official_cagrad(gradients: Tensor, c: float) -> Tensor:
    """The official rule by brute force: ``w`` minimising ``g_w . g0 + c ||g0|| ||g_w||`` on a
    fine grid of the 2-simplex, then ``(g0 + c ||g0|| g_w / ||g_w||) / (1 + c**2)``."""
    g0 = gradients.mean(0)
    a = torch.linspace(0, 1, 200_001, dtype=torch.float64)[:, None]
    g_w = a * gradients[0] + (1 - a) * gradients[1]
    best = g_w[torch.argmin(g_w @ g0 + c * g0.norm() * g_w.norm(dim=1))]
    return (g0 + c * g0.norm() * best / best.norm()) / (1 + c**2)


def test_cagrad_default_matches_the_official_rescaled_update() -> None:
    gradients = [[1.0, 0.2, 0.0], [-0.6, 1.0, 0.3]]
    _, grad = linear_step(CAGrad(2, CAGradConfig(c=0.4)), gradients)
    expected = _official_cagrad(torch.tensor(gradients, dtype=torch.float64), 0.4)
    assert torch.allclose(grad.double(), expected, atol=1e-4)


@pytest.mark.parametrize("scale", [1e-3, 1e-6])
def test_cagrad_direction_does_not_depend_on_the_gradients_scale(scale: float) -> None:
    # summed squared norm 1e-6 * 3.5 (resp. 1e-12 * 3.5) is below torchjd's 1e-4 floor
    gradients = [[1.0, 0.2, 0.0], [-0.6, 1.0, 0.3], [0.1, -0.4, 1.0]]
    weights, grad = linear_step(CAGrad(3), gradients)
    tiny = [[scale * v for v in g] for g in gradients]
    tiny_weights, tiny_grad = linear_step(CAGrad(3), tiny)
    assert tiny_grad.norm() > 0
    assert torch.allclose(tiny_weights, weights, rtol=1e-4, atol=1e-6)
    assert torch.allclose(tiny_grad / scale, grad, rtol=1e-4, atol=1e-5)


def test_cagrad_zero_gradients_give_zero_weights() -> None:
    weights, grad = linear_step(CAGrad(2), [[0.0, 0.0], [0.0, 0.0]])
    assert torch.equal(weights, torch.zeros(2))
    assert torch.equal(grad, torch.zeros(2))


def test_nash_mtl_bargaining_solution() -> None:
    # G = diag(1, 4); alpha_t (G alpha)_t = 1 gives alpha = (1, 1/2): each task's share of
    # the update, alpha_t g_t, has the same size, d = (1, 1)
    weights, grad = linear_step(NashMTL(2, NashMTLConfig(max_norm=0.0)), [[1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(weights, torch.tensor([1.0, 0.5]), rtol=1e-3)
    assert torch.allclose(grad, torch.tensor([1.0, 1.0]), rtol=1e-3)


def test_nash_mtl_clips_the_update_norm() -> None:
    _, grad = linear_step(NashMTL(2, NashMTLConfig(max_norm=1.0)), [[1.0, 0.0], [0.0, 2.0]])
    assert grad.norm().item() == pytest.approx(1.0, rel=1e-4)
    assert torch.allclose(grad, torch.full((2,), 1 / math.sqrt(2)), rtol=1e-3)


def test_mgda_representation_mode_combines_gradients_of_the_trunk() -> None:
    model = TinyMultiTask()
    x, labels = batch()
    z, logits = model(x)
    losses, present = masked_losses(logits, labels)
    trunk = list(model.trunk.parameters())
    z_grads = [torch.autograd.grad(losses[t], z, retain_graph=True)[0].flatten() for t in range(3)]
    per_task = [torch.autograd.grad(losses[t], trunk, retain_graph=True) for t in range(3)]
    weights = create_weighting("mgda", 3, mode="representation").backward(losses, present, trunk, z)
    # the weights are MGDA's on the representation's gradients
    jacobian = torch.stack(z_grads)
    assert torch.allclose(weights, MGDA(3).task_weights(jacobian @ jacobian.T, present), atol=1e-6)
    for i, p in enumerate(trunk):
        expected = sum(weights[t] * per_task[t][i] for t in range(3))
        assert torch.allclose(p.grad, expected, atol=1e-6)


@pytest.mark.parametrize("use_representation", [True, False])
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("mgda", {}),
        ("mgda", {"mode": "representation"}),
        ("pcgrad", {}),
        ("cagrad", {}),
        ("nash_mtl", {}),
    ],
)
def test_heads_get_their_own_task_gradient(
    name: str, kwargs: dict, use_representation: bool
) -> None:
    if kwargs.get("mode") == "representation" and not use_representation:
        pytest.skip("MGDA-UB needs the representation")
    model = TinyMultiTask()
    x, labels = batch()
    z, logits = model(x)
    losses, present = masked_losses(logits, labels)
    expected = [
        torch.autograd.grad(losses[t], list(model.heads[t].parameters()), retain_graph=True)
        for t in range(3)
    ]
    trunk = list(model.trunk.parameters())
    create_weighting(name, 3, **kwargs).backward(
        losses, present, trunk, z if use_representation else None
    )
    for t in range(3):
        for p, g in zip(model.heads[t].parameters(), expected[t]):
            assert torch.allclose(p.grad, g, atol=1e-6)


def test_gradient_method_needs_shared_params() -> None:
    losses = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="shared parameters"):
        MGDA(2).backward(losses * 1.0, torch.tensor([True, True]), [])
    with pytest.raises(ValueError, match="representation"):
        MGDA(2, MGDAConfig(mode="representation")).backward(
            losses * 1.0, torch.tensor([True, True]), [losses]
        )


def test_pcgrad_random_order_comes_from_its_own_seeded_generator() -> None:
    # with three mutually conflicting gradients the projection order changes the result
    gradients = [[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.5]]
    runs = {
        seed: [linear_step(method, gradients)[0] for _ in range(6)]
        for seed, method in ((0, PCGrad(3)), (1, PCGrad(3, PCGradConfig(seed=1))))
    }
    again = PCGrad(3)
    assert all(torch.equal(w, linear_step(again, gradients)[0]) for w in runs[0])
    assert any(not torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    restored = PCGrad(3)
    restored.load_state_dict(again.state_dict())
    assert torch.equal(linear_step(restored, gradients)[0], linear_step(again, gradients)[0])


@pytest.mark.filterwarnings("ignore:.*not DPP")
def test_nash_mtl_from_the_gramian_equals_torchjd_on_the_jacobian() -> None:
    from torchjd.aggregation import NashMTL as TorchJDNashMTL

    jacobian = torch.tensor([[1.0, 0.5, -0.2, 0.0], [0.3, -1.0, 0.4, 0.1], [0.0, 0.2, 0.9, -0.6]])
    reference = TorchJDNashMTL(n_tasks=3).weighting(jacobian)
    ours = NashMTL(3).task_weights(jacobian @ jacobian.T, torch.ones(3, dtype=torch.bool))
    assert torch.allclose(ours, reference, rtol=1e-4, atol=1e-6)
