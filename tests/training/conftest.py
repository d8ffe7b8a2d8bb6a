"""A tiny batch for the training tests; the synthetic cohort is in ../conftest.py."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _threads(one_torch_thread) -> None:  # noqa: ANN001 - fixture
    """Every training test runs its tiny models on one thread."""


@pytest.fixture
def tiny_batch() -> dict[str, torch.Tensor]:
    """Two 2.5D scans of 3 images of 32 px, the second with one padded image."""
    g = torch.Generator().manual_seed(0)
    labels = torch.full((2, 25), -1.0)
    labels[0, [0, 7, 20]] = torch.tensor([1.0, 0.0, 1.0])
    labels[1, [7, 24]] = torch.tensor([1.0, 0.0])
    return {
        "scan_id": ["a", "b"],
        "image": torch.randn(2, 3, 3, 32, 32, generator=g),
        "image_mask": torch.tensor([[True, True, True], [True, True, False]]),
        "labels": labels,
    }


@pytest.fixture(scope="session")
def findings_cohort(cohort: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The cohort with reports and finding masks (scans 1 and 5 without one), cached as 3D
    crops and as 2.5D slice stacks: ``{"manifest", "cache3d", "cache"}``."""
    from cohort_helpers import SPEC3D, findings_manifest

    from hyperct.data.prepare import prepare_cache
    from hyperct.preprocess.spec import SliceStackSpec, SpacingCropSpec

    folder = tmp_path_factory.mktemp("findings")
    manifest = findings_manifest(cohort, folder, no_mask=(1, 5))
    out = {"manifest": str(manifest)}
    for name, spec in (("cache3d", SpacingCropSpec(**SPEC3D)),
                       ("cache", SliceStackSpec(slices=9, size=32))):
        report = prepare_cache(manifest, spec, folder / name, progress=False)
        assert report.ok, report.failed
        out[name] = str(folder / name)
    return out
