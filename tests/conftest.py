"""Shared fixtures: the real files in ../shared/data and small helpers."""

from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (expected ../shared/data beside the clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_ct(shared_data: Path) -> Path:
    return shared_data / "real_ct"


_TINY_MODEL: dict[str, Any] = {
    "backbone": "dinov3-tiny",
    "rank": 2,
    "alpha": 2.0,
    "dropout": 0.0,
    "task_dim": 8,
    "module_dim": 4,
    "latent_dim": 8,
    "hyper_output_dim": 8,
    "num_residual_blocks": 1,
}


@pytest.fixture
def tiny_model() -> dict[str, Any]:
    """Model config fields of a random-init tiny HyperCT (baselines take the shared ones)."""
    return dict(_TINY_MODEL)
