"""Shared fixtures: the real files in ../shared/data and small helpers."""

from pathlib import Path

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
