"""The contract every weighting method keeps: registry, absent tasks, exact resume."""

from __future__ import annotations

import copy

import pytest
import torch

from hyperct.mtl import WEIGHTING_METHODS, Weighting, create_weighting

from mtl_helpers import TinyMultiTask, batch, grads, masked_losses, step

METHODS = [(name, {}) for name in WEIGHTING_METHODS] + [("mgda", {"mode": "representation"})]
IDS = [name + ("-ub" if kwargs else "") for name, kwargs in METHODS]


def test_registry_names_and_options() -> None:
    assert set(WEIGHTING_METHODS) == {
        "ew",
        "uw",
        "rlw",
        "dwa",
        "gls",
        "famo",
        "mgda",
        "pcgrad",
        "cagrad",
        "nash_mtl",
    }
    assert isinstance(create_weighting("Nash-MTL", 4), WEIGHTING_METHODS["nash_mtl"])
    assert create_weighting("cagrad", 4, c=0.2).config.c == 0.2
    with pytest.raises(ValueError, match="unknown weighting method"):
        create_weighting("gradnorm", 4)
    with pytest.raises(TypeError, match="unknown options"):
        create_weighting("dwa", 4, tau=2.0)
    with pytest.raises(TypeError, match="takes no options"):
        create_weighting("ew", 4, seed=1)
    with pytest.raises(ValueError, match="mode"):
        create_weighting("mgda", 4, mode="features")


@pytest.mark.parametrize("name, kwargs", METHODS, ids=IDS)
def test_only_uw_has_parameters(name: str, kwargs: dict) -> None:
    params = list(create_weighting(name, 3, **kwargs).parameters())
    assert len(params) == (1 if name == "uw" else 0)


@pytest.mark.parametrize("name, kwargs", METHODS, ids=IDS)
def test_absent_task_never_contributes(name: str, kwargs: dict) -> None:
    """Task 1 is absent: its weight is 0 and its loss, whatever it is, changes no gradient."""
    x, labels = batch()
    present = torch.tensor([True, False, True])
    results = []
    for absent_labels in (torch.zeros(6), torch.ones(6)):
        labels = labels.clone()
        labels[:, 1] = absent_labels
        model = TinyMultiTask()
        weights = step(create_weighting(name, 3, **kwargs), model, x, labels, present)
        results.append((weights, grads(model)))
    (weights, first), (_, second) = results
    assert weights[1] == 0 and bool((weights[[0, 2]] != 0).any())
    assert all(g is None or not g.any() for g in (first["heads.1.weight"], first["heads.1.bias"]))
    for key in first:
        a, b = first[key], second[key]
        assert (a is None and b is None) or torch.equal(a, b), key


@pytest.mark.parametrize("name, kwargs", METHODS, ids=IDS)
def test_no_present_task_is_a_no_op(name: str, kwargs: dict) -> None:
    model = TinyMultiTask()
    x, labels = batch()
    weights = step(
        create_weighting(name, 3, **kwargs), model, x, labels, torch.zeros(3, dtype=torch.bool)
    )
    assert torch.equal(weights, torch.zeros(3))
    assert all(g is None for g in grads(model).values())


def _advance(weighting: Weighting, model: TinyMultiTask) -> None:
    masks = [[True, True, True], [True, False, True], [False, True, True]]
    for epoch, mask in enumerate(masks):
        x, labels = batch(seed=10 + epoch)
        step(weighting, model, x, labels, torch.tensor(mask))
        weighting.epoch_end(
            torch.tensor([0.7, 0.6, 0.5]) / (epoch + 1) ** torch.tensor([1.0, 0.5, 0.2])
        )
        if isinstance(weighting, WEIGHTING_METHODS["uw"]):
            with torch.no_grad():
                weighting.log_vars.sub_(0.1 * weighting.log_vars.grad)
                weighting.log_vars.grad = None


@pytest.mark.parametrize("name, kwargs", METHODS, ids=IDS)
def test_state_dict_round_trip_gives_identical_next_step(name: str, kwargs: dict) -> None:
    weighting = (
        create_weighting(name, 3, seed=3, **kwargs)
        if name in ("rlw", "pcgrad")
        else (create_weighting(name, 3, **kwargs))
    )
    _advance(weighting, TinyMultiTask())
    restored = create_weighting(name, 3, **kwargs)
    restored.load_state_dict(copy.deepcopy(weighting.state_dict()))
    x, labels = batch(seed=20)
    outcomes = []
    for method in (weighting, restored):
        model = TinyMultiTask()
        outcomes.append((step(method, model, x, labels), grads(model)))
    (w1, g1), (w2, g2) = outcomes
    assert torch.equal(w1, w2)
    assert all(torch.equal(g1[k], g2[k]) for k in g1)


def test_wrong_shapes_are_rejected() -> None:
    ew = create_weighting("ew", 3)
    with pytest.raises(ValueError, match="losses must have shape"):
        ew.backward(torch.zeros(2), torch.ones(3, dtype=torch.bool), [])
    with pytest.raises(TypeError, match="bool"):
        ew.backward(torch.zeros(3), torch.ones(3), [])


@pytest.mark.parametrize(
    "name, kwargs",
    [m for m in METHODS if m[0] != "rlw"],  # RLW draws new weights on every pass
    ids=[i for i in IDS if i != "rlw"],
)
def test_accumulated_batches_give_the_update_of_one(name: str, kwargs: dict) -> None:
    """A batch backpropagated ``k`` times with ``scale = 1/k`` (gradient accumulation over ``k``
    equal micro-batches) gives exactly the gradient of one pass with ``scale = 1``: every term of
    the method's objective is scaled, and its weights do not depend on ``scale``."""
    x, labels = batch()
    results = []
    for k in (1, 4):
        model = TinyMultiTask()
        weighting = create_weighting(name, 3, **kwargs)
        for _ in range(k):
            z, logits = model(x)
            losses, present = masked_losses(logits, labels)
            weighting.backward(losses, present, list(model.trunk.parameters()), z, scale=1 / k)
        results.append(grads(model) | {"weighting": [p.grad for p in weighting.parameters()]})
    one, accumulated = results
    for key in one:
        torch.testing.assert_close(accumulated[key], one[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("use_representation", [True, False])
@pytest.mark.parametrize("name, kwargs", METHODS, ids=IDS)
def test_backward_frees_the_graph(name: str, kwargs: dict, use_representation: bool) -> None:
    """No graph is kept alive after the step (it would double the peak memory of the next one)."""
    if kwargs.get("mode") == "representation" and not use_representation:
        pytest.skip("MGDA-UB needs the representation")
    model = TinyMultiTask()
    x, labels = batch()
    z, logits = model(x)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    losses = losses.mean(0)
    trunk = list(model.trunk.parameters())
    weighting = create_weighting(name, 3, **kwargs)
    weighting.backward(
        losses, torch.ones(3, dtype=torch.bool), trunk, z if use_representation else None
    )
    with pytest.raises(RuntimeError, match="second time"):
        losses.sum().backward()


@pytest.mark.parametrize("name, kwargs", METHODS, ids=IDS)
def test_extra_term_adds_its_plain_gradient(name: str, kwargs: dict) -> None:
    """An extra loss (e.g. the anatomy loss) adds exactly its own gradient, unweighted, and
    leaves the weights unchanged, whether fused with the task losses or backpropagated alone."""
    x, labels = batch()
    model = TinyMultiTask()
    weights = step(create_weighting(name, 3, **kwargs), model, x, labels)
    without = grads(model)
    model.zero_grad(set_to_none=True)
    model.trunk(x).square().mean().backward()
    alone = grads(model)
    model.zero_grad(set_to_none=True)
    z, logits = model(x)
    losses, present = masked_losses(logits, labels)
    extra = model.trunk(x).square().mean()
    fused = create_weighting(name, 3, **kwargs).backward(
        losses, present, list(model.trunk.parameters()), z, extra=extra
    )
    torch.testing.assert_close(fused, weights)
    for key, grad in grads(model).items():
        expected = without[key] if alone[key] is None else without[key] + alone[key]
        torch.testing.assert_close(grad, expected)
