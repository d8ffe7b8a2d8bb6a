"""Datasets and loaders of a run: the manifest's train/val splits served from the scan cache.

The training sampler is re-seeded from (seed, epoch) at every epoch, so the data order of an
epoch does not depend on what ran before: a resumed run sees the same batches as an unbroken one.
Validation and prediction shard scans across ranks (every ``world_size``-th scan).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from hyperct.tasks import TASK_NAMES
from hyperct.training.config import TrainConfig
from hyperct.training.distributed import DistInfo

logger = logging.getLogger(__name__)


@dataclass
class RunData:
    """The manifest, the train and val datasets, the collate function and the cache's spec."""

    manifest: pd.DataFrame
    train: Dataset
    val: Dataset
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]]
    spec: dict[str, Any]


def load_run_data(cfg: TrainConfig) -> RunData:
    """Open the manifest and the cache; fail early, naming the file, when either is wrong."""
    from hyperct.data.dataset import CachedScanDataset, collate_scans
    from hyperct.data.manifest import load_manifest

    manifest = load_manifest(cfg.data.manifest, check_files=False)
    cache = cfg.run_cache
    spec = cache_spec(cache)
    check_spec_kind(spec, cfg, cache)
    common = {"cohort": cfg.data.train_cohort, "seed": cfg.seed}
    train = CachedScanDataset(manifest, cache, split="train", train=True, **common)
    val = CachedScanDataset(manifest, cache, split="val", train=False, **common)
    for name, ds in (("train", train), ("val", val)):
        if len(ds) == 0:
            raise ValueError(f"{cfg.data.manifest}: no scans in split {name!r}")
    if cfg.anatomy_config().enabled and not train.has_anatomy:
        raise ValueError(
            f"{cache}: anatomy.enabled but the cache holds no anatomy masks; record anatomy_path "
            f"in the manifest (`hyperct anatomy`) and run `hyperct prepare` again"
        )
    return RunData(manifest, train, val, collate_scans, spec)


def check_spec_kind(spec: dict[str, Any], cfg: TrainConfig, cache: str | Path) -> None:
    """3D methods read volumes (a ``spacing_crop`` cache), the others slice stacks."""
    from hyperct.preprocess.spec import SliceStackSpec, SpacingCropSpec

    want = SpacingCropSpec.kind if cfg.is_3d else SliceStackSpec.kind
    if spec.get("kind") != want:
        where = "data.cache3d (or data.cache)" if cfg.is_3d else "data.cache"
        raise ValueError(
            f"{cache}: method {cfg.method!r} needs a cache prepared with a {want} spec, but this "
            f"one holds {spec.get('kind')!r}; point {where} at a {want} cache"
        )


def cache_spec(cache_dir: str | Path) -> dict[str, Any]:
    """The preprocessing spec the cache was written with, as plain JSON data."""
    from hyperct.data.cache import ScanCache

    spec = ScanCache(cache_dir).read_spec()
    if spec is None:
        raise FileNotFoundError(f"{cache_dir}: not a prepared cache (no spec.json); run `hyperct prepare`")
    return spec.to_dict()


def same_spec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two spec dicts describe the same preprocessing (compared by the spec's hash)."""
    from hyperct.preprocess.spec import spec_from_dict

    return spec_from_dict(a).hash() == spec_from_dict(b).hash()


def train_labels(manifest: pd.DataFrame, cohort: str | None) -> torch.Tensor:
    """Labels (N, 25) of the training scans, for inverse-prevalence task weights."""
    rows = manifest[manifest["split"] == "train"]
    if cohort is not None:
        rows = rows[rows["cohort"] == cohort]
    return torch.as_tensor(rows[list(TASK_NAMES)].to_numpy(dtype="float32"))


def train_loader(data: RunData, cfg: TrainConfig, dist: DistInfo, epoch: int) -> DataLoader:
    """This epoch's training batches; the order depends only on (seed, epoch, rank)."""
    sampler = DistributedSampler(
        data.train, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=cfg.seed
    )
    sampler.set_epoch(epoch)
    if hasattr(data.train, "set_epoch"):
        data.train.set_epoch(epoch)
    return DataLoader(
        data.train, batch_size=cfg.optim.batch_size, sampler=sampler,
        num_workers=cfg.data.num_workers, collate_fn=data.collate,
        generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
    )


def eval_loader(
    dataset: Dataset, collate: Callable[..., Any], batch_size: int, dist: DistInfo, workers: int = 0
) -> DataLoader:
    """This rank's share of ``dataset`` in order, for validation and prediction."""
    share = Subset(dataset, range(dist.rank, len(dataset), dist.world_size))  # type: ignore[arg-type]
    return DataLoader(share, batch_size=batch_size, shuffle=False, num_workers=workers,
                      collate_fn=collate)
