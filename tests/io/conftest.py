"""Fixtures of the io tests: a referenceable real DICOM series and findings of all 25 tasks."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dicom_helpers import write_referenced_series

from hyperct.tasks import TASKS


@pytest.fixture(scope="session")
def referenced_series(real_ct: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared 20-slice series with Study/Series UIDs filled in (its anonymiser blanked them).

    SOP Instance UIDs stay blank in the data sets, as in the original files: only the file meta
    holds them, which the DICOM writers must use.
    """
    folder = tmp_path_factory.mktemp("referenced_series")
    write_referenced_series(real_ct, folder)
    return folder


@pytest.fixture
def all_findings() -> list[dict[str, Any]]:
    """One finding per catalogue task, random probabilities and thresholds."""
    rng = np.random.default_rng(0)
    out = []
    for task in TASKS:
        probability, threshold = float(rng.random()), float(rng.uniform(0.2, 0.8))
        out.append(
            {
                "task": task.name,
                "group": task.group,
                "probability": probability,
                "threshold": threshold,
                "positive": probability >= threshold,
            }
        )
    return out
