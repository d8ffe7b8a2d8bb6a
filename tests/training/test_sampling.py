"""Task sampling: one task (or k distinct tasks) per sample among its labels; unlabelled samples
dropped."""

import pytest
import torch

from hyperct.training.sampling import inverse_prevalence_weights, sample_task_sets, sample_tasks


def test_draws_only_available_tasks_and_drops_unlabelled() -> None:
    labels = torch.tensor([[1.0, -1.0, 0.0, -1.0], [-1.0] * 4, [-1.0, -1.0, -1.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        tasks, keep = sample_tasks(labels, g)
        assert keep.tolist() == [True, False, True]
        assert tasks[0].item() in (0, 2) and tasks[2].item() == 3


def test_uniform_sampling_is_uniform_among_available() -> None:
    labels = torch.tensor([[1.0, 0.0, -1.0, 1.0]]).repeat(3000, 1)
    tasks, _ = sample_tasks(labels, torch.Generator().manual_seed(1))
    counts = torch.bincount(tasks, minlength=4).float() / 3000
    assert counts[2] == 0 and torch.allclose(counts[[0, 1, 3]], torch.full((3,), 1 / 3), atol=0.04)


def test_inverse_prevalence_favours_rarely_labelled_tasks() -> None:
    train = torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, -1.0], [0.0, -1.0]])
    weights = inverse_prevalence_weights(train)
    assert torch.allclose(weights, torch.tensor([1.0, 4.0], dtype=torch.float64))
    labels = torch.tensor([[1.0, 0.0]]).repeat(5000, 1)
    tasks, _ = sample_tasks(labels, torch.Generator().manual_seed(2), weights)
    assert abs(tasks.float().mean().item() - 0.8) < 0.03


def test_same_generator_state_same_draws() -> None:
    labels = torch.randint(-1, 2, (16, 25)).float()
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(sample_tasks(labels, a)[0], sample_tasks(labels, b)[0])


def test_task_sets_are_distinct_available_and_as_many_as_there_are() -> None:
    labels = torch.randint(-1, 2, (64, 25), generator=torch.Generator().manual_seed(3)).float()
    labels[5] = -1  # no label: no pair
    labels[6] = -1
    labels[6, [2, 9]] = 1  # two available tasks, fewer than k: both
    rows, tasks = sample_task_sets(labels, torch.Generator().manual_seed(4), 4)
    assert torch.equal(rows, torch.sort(rows, stable=True).values)
    assert bool((labels[rows, tasks] != -1).all())
    for row in range(64):
        drawn = tasks[rows == row].tolist()
        assert len(set(drawn)) == len(drawn) == min(4, int((labels[row] != -1).sum()))
    assert tasks[rows == 6].tolist() == [2, 9]


def test_one_task_per_sample_is_todays_draw() -> None:
    labels = torch.randint(-1, 2, (32, 25), generator=torch.Generator().manual_seed(5)).float()
    labels[[3, 17]] = -1
    weights = torch.rand(25, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    for task_weights in (None, weights):
        available = (labels != -1).double()
        w = available if task_weights is None else available * task_weights
        keep = w.sum(1) > 0
        expected = torch.multinomial(w[keep], 1, generator=torch.Generator().manual_seed(7))
        rows, tasks = sample_task_sets(labels, torch.Generator().manual_seed(7), 1, task_weights)
        assert torch.equal(rows, keep.nonzero().squeeze(1))
        assert torch.equal(tasks, expected.squeeze(1))
        ids, kept = sample_tasks(labels, torch.Generator().manual_seed(7), task_weights)
        assert torch.equal(kept, keep) and torch.equal(ids[keep], tasks)


def test_task_sets_follow_the_weights_and_skip_zero_weight_tasks() -> None:
    labels = torch.zeros(4000, 4)
    weights = torch.tensor([1.0, 1.0, 8.0, 0.0])
    rows, tasks = sample_task_sets(labels, torch.Generator().manual_seed(8), 2, weights)
    assert len(rows) == 8000 and not bool((tasks == 3).any())
    # the heavy task is in nearly every pair: P(not drawn) = P(pair {0, 1}) = 2 * 1/10 * 1/9
    assert (tasks == 2).float().sum() / 4000 == pytest.approx(1 - 2 / 90, abs=0.01)


def test_task_sets_need_a_positive_count() -> None:
    with pytest.raises(ValueError, match="tasks_per_sample"):
        sample_task_sets(torch.zeros(2, 3), torch.Generator(), 0)
