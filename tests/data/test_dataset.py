"""CachedScanDataset items follow the contract; collate pads n_images with the mask."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperct.tasks import IGNORE_INDEX
from hyperct.data.dataset import CachedScanDataset, collate_scans
from hyperct.data.manifest import load_manifest
from hyperct.data.prepare import prepare_cache
from hyperct.preprocess.spec import SliceStackSpec, SpacingCropSpec
from hyperct.tasks import TASK_NAMES

SMALL_2D = SliceStackSpec(slices=12, size=32)
SMALL_3D = SpacingCropSpec(
    spacing_zyx=(6.0, 6.0, 6.0), pad_shape_zyx=(16, 40, 40), crop_shape_zyx=(8, 24, 24)
)


@pytest.fixture
def cache_2d(real_manifest: Path, tmp_path: Path) -> Path:
    prepare_cache(real_manifest, SMALL_2D, tmp_path / "c2", progress=False)
    return tmp_path / "c2"


def test_items_follow_contract(real_manifest: Path, cache_2d: Path) -> None:
    ds = CachedScanDataset(real_manifest, cache_2d)
    assert len(ds) == 4
    item = ds[1]
    assert item["scan_id"] == "crop"
    assert item["image"].shape == (4, 3, 32, 32) and item["image"].dtype == torch.float32
    assert item["image_mask"].dtype == torch.bool and item["image_mask"].all()
    df = load_manifest(real_manifest)
    expected = df.loc[1, list(TASK_NAMES)].to_numpy(dtype=np.float32)
    assert item["labels"].shape == (25,) and np.array_equal(item["labels"].numpy(), expected)
    assert item["anatomy"].shape == (4, 32, 32)  # "crop" has no mask: no supervision anywhere
    assert torch.all(item["anatomy"] == IGNORE_INDEX)
    assert (ds[0]["anatomy"] != IGNORE_INDEX).all()  # "sm" has its TotalSegmentator mask


def test_split_filter_and_anatomy(real_manifest: Path, cache_2d: Path) -> None:
    train = CachedScanDataset(real_manifest, cache_2d, split="train")
    assert train.scan_ids == ["sm", "crop"]
    df = load_manifest(real_manifest)
    only_sm = CachedScanDataset(df[df.scan_id == "sm"], cache_2d)
    item = only_sm[0]
    assert item["anatomy"].shape == (4, 32, 32) and item["anatomy"].dtype == torch.int64


def test_collate_pads_images_and_mask() -> None:
    items = [
        {
            "scan_id": "a",
            "image": torch.ones(2, 3, 4, 4),
            "image_mask": torch.tensor([True, True]),
            "labels": torch.zeros(25),
        },
        {
            "scan_id": "b",
            "image": torch.ones(3, 3, 4, 4),
            "image_mask": torch.tensor([True, True, False]),
            "labels": torch.ones(25),
        },
    ]
    batch = collate_scans(items)
    assert batch["image"].shape == (2, 3, 3, 4, 4) and batch["labels"].shape == (2, 25)
    assert batch["image_mask"].tolist() == [[True, True, False], [True, True, False]]
    assert torch.all(batch["image"][0, 2] == 0) and batch["scan_id"] == ["a", "b"]


def test_3d_training_crops_reproducible_per_epoch(real_manifest: Path, tmp_path: Path) -> None:
    prepare_cache(real_manifest, SMALL_3D, tmp_path / "c3", progress=False)
    ds = CachedScanDataset(real_manifest, tmp_path / "c3", train=True, seed=1)
    a, b = ds[0], ds[0]
    assert a["image"].shape == (1, 8, 24, 24) and "image_mask" not in a
    torch.testing.assert_close(a["image"], b["image"])
    batch = collate_scans([ds[0], ds[1]])
    assert batch["image"].shape == (2, 1, 8, 24, 24)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_scans)
    assert next(iter(loader))["labels"].shape == (2, 25)


def test_missing_cache_entries_refused(real_manifest: Path, cache_2d: Path) -> None:
    from hyperct.data.cache import ScanCache

    ScanCache(cache_2d).image_path("series").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"1 scan\(s\) not in the cache \(e.g. \['series'\]\)"
    ):
        CachedScanDataset(real_manifest, cache_2d)
