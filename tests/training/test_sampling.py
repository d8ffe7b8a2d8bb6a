"""Task sampling: one task per sample among its labels; unlabelled samples dropped."""

import torch

from hyperct.training.sampling import inverse_prevalence_weights, sample_tasks


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
