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
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from hyperct.config.run import METHODS_UNICT, ConfigError, TrainConfig
from hyperct.inference.spec import cache_spec
from hyperct.tasks import TASK_NAMES
from hyperct.training.distributed import DistInfo
from hyperct.training.evaluate import EVAL_SPLITS

if TYPE_CHECKING:
    from hyperct.data.dataset import CachedScanDataset

logger = logging.getLogger(__name__)


@dataclass
class RunData:
    """The manifest, the train and val datasets, the collate function and the cache's spec."""

    manifest: pd.DataFrame
    train: CachedScanDataset
    val: CachedScanDataset
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]]
    spec: dict[str, Any]


def load_run_data(cfg: TrainConfig) -> RunData:
    """Open the manifest and the cache; fail early, naming the file, when either is wrong.

    Every scan the run will read (its training scans, and val and test of every cohort, which
    are predicted at the end) must be in the cache, so a missing one stops the run before the
    first epoch.
    """
    from hyperct.data.dataset import CachedScanDataset, collate_scans
    from hyperct.data.manifest import load_manifest

    require_data_paths(cfg)
    manifest = load_manifest(cfg.data.manifest, check_files=False)
    cache = cfg.run_cache
    spec = cache_spec(cache)
    check_spec_kind(spec, cfg, cache)
    check_cached(manifest, cache, EVAL_SPLITS, cfg.data.manifest)
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
    if cfg.method in METHODS_UNICT and cfg.unict_config().supervise_segmentation:
        check_unict_masks(train, spec, cache)
    return RunData(manifest, train, val, collate_scans, spec)


def check_unict_masks(train: CachedScanDataset, spec: dict[str, Any], cache: str | Path) -> None:
    """UniCT's segmentation needs finding masks, and in 2.5D whole triplets: its masks are
    predicted on 3 slices per image, the cache's on ``slices``."""
    if not train.has_findings:
        raise ValueError(
            f"{cache}: unict.supervise_segmentation is on but the cache holds no finding masks "
            "of the training scans; record findings_mask_path in the manifest and run `hyperct "
            "prepare` again, or set unict.supervise_segmentation=false"
        )
    slices = spec.get("slices")
    if spec.get("kind") == "slice_stack" and isinstance(slices, int) and slices % 3:
        raise ValueError(
            f"{cache}: unict.supervise_segmentation on a slice_stack cache needs slices a "
            f"multiple of 3 (UniCT predicts masks on whole triplets), got {slices}; prepare "
            "with another spec or set unict.supervise_segmentation=false"
        )


def require_data_paths(cfg: TrainConfig) -> None:
    """``data.manifest`` and the method's cache must be set; say which key and how."""
    keys = [("data.manifest", cfg.data.manifest)]
    keys.append(("data.cache3d (or data.cache)" if cfg.is_3d else "data.cache", cfg.run_cache))
    for key, value in keys:
        if not value:
            name = key.split(" ")[0]
            raise ConfigError(
                f"{key} is not set; set {name} in the config (or pass --set {name}=PATH)"
            )


def check_cached(
    manifest: pd.DataFrame, cache: str | Path, splits: tuple[str, ...], source: str
) -> None:
    """Every scan of ``splits`` must be in ``cache``; the error names the split and scans."""
    from hyperct.data.cache import ScanCache

    store = ScanCache(cache)
    for split in splits:
        ids = manifest.loc[manifest["split"] == split, "scan_id"].astype(str)
        missing = [s for s in ids if not store.has(s)]
        if missing:
            raise FileNotFoundError(
                f"{cache}: {len(missing)} {split} scan(s) of {source} are not in the cache "
                f"(e.g. {missing[:5]}); run `hyperct prepare` on the manifest (see errors.jsonl "
                "in the cache for scans that failed) or drop them from the manifest"
            )


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
