"""The inference tests run tiny models; the synthetic cohort is in ../conftest.py."""

import pytest


@pytest.fixture(autouse=True)
def _threads(one_torch_thread) -> None:  # noqa: ANN001 - fixture
    """Every inference test runs its tiny models on one thread."""
