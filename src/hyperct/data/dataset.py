"""`CachedScanDataset`: the torch Dataset serving cached scans as the item dict of the contract.

Item: ``scan_id`` (str), ``image`` (float32; 2.5D ``(n_images, 3, H, W)``, 3D ``(1, D, H, W)``),
``image_mask`` (bool ``(n_images,)``, 2.5D only), ``labels`` (float32 ``(25,)`` in {1, 0, -1}),
``anatomy`` (int64, when the cache holds masks; scans without one get ``IGNORE_INDEX`` everywhere);
when the cache holds finding masks, ``findings_mask`` (uint8 ``(C, D, H, W)``, channels
:attr:`CachedScanDataset.finding_channels`; 2.5D ``(C, slices, H, W)``, slice k = image slice k)
and ``has_findings_mask`` (bool; False for a scan without one, whose mask is all 0: a loss skips
it); ``report_text`` (str, when the manifest has the column; ``""`` where a scan has none).
``collate_scans`` pads n_images across a batch (images 0, mask False, anatomy
``IGNORE_INDEX``) and stacks the finding masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from hyperct.data.cache import ScanCache
from hyperct.data.manifest import load_manifest
from hyperct.io.finding_masks import BITS_DTYPE
from hyperct.preprocess.pipeline import to_model_input
from hyperct.tasks import IGNORE_INDEX, TASK_NAMES


class CachedScanDataset(Dataset):
    """Scans of a manifest (optionally one split/cohort) served from a prepared cache.

    Training crops (3D spec) are drawn from a generator seeded by (seed, epoch, index), so an
    epoch is reproducible; call :meth:`set_epoch` to vary crops between epochs.
    """

    def __init__(
        self,
        manifest: pd.DataFrame | str | Path,
        cache_dir: str | Path,
        split: str | list[str] | None = None,
        cohort: str | list[str] | None = None,
        train: bool = False,
        seed: int = 0,
    ) -> None:
        df = (
            manifest
            if isinstance(manifest, pd.DataFrame)
            else load_manifest(manifest, check_files=False)
        )
        self.frame = _select(df, split, cohort).reset_index(drop=True)
        self.cache = ScanCache(cache_dir)
        spec = self.cache.read_spec()
        if spec is None:
            raise FileNotFoundError(
                f"{cache_dir}: not a prepared cache (no spec.json); run `hyperct prepare`"
            )
        self.spec = spec
        self.scan_ids: list[str] = self.frame["scan_id"].astype(str).tolist()
        _require_cached(self.cache, self.scan_ids)
        labels = self.frame[list(TASK_NAMES)].to_numpy(dtype=np.float32, copy=True)
        self.labels = torch.from_numpy(labels)
        self.reports: list[str] | None = (
            [_report_text(v) for v in self.frame["report_text"]]
            if "report_text" in self.frame.columns else None
        )
        self.has_anatomy = any(self.cache.anatomy_path(s).is_file() for s in self.scan_ids)
        self.has_findings = any(self.cache.findings_path(s).is_file() for s in self.scan_ids)
        self.finding_channels = self.cache.read_finding_channels()
        self.train, self.seed, self.epoch = train, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.scan_ids)

    def __getitem__(self, index: int) -> dict:
        scan_id = self.scan_ids[index]
        grid = self.cache.load(scan_id)
        mask = self.cache.load_anatomy(scan_id) if self.has_anatomy else None
        if self.has_anatomy and mask is None:  # scan without a mask: no supervision there
            mask = np.full(grid.shape, IGNORE_INDEX, dtype=np.uint8)
        findings = self.cache.load_findings(scan_id) if self.has_findings else None
        has_findings = findings is not None
        if self.has_findings and findings is None:  # no finding mask: all 0, flagged False
            findings = np.zeros(grid.shape, dtype=BITS_DTYPE)
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        item: dict = to_model_input(
            grid, self.spec, train=self.train, rng=rng, mask=mask, findings=findings
        )
        if self.has_findings:
            item["has_findings_mask"] = torch.tensor(has_findings)
        item["scan_id"] = scan_id
        item["labels"] = self.labels[index]
        if self.reports is not None:
            item["report_text"] = self.reports[index]
        return item


def _report_text(value: object) -> str:
    """A manifest's report cell as text; a missing one (NaN, None) is the empty string."""
    return value.strip() if isinstance(value, str) else ""


def _select(
    df: pd.DataFrame, split: str | list[str] | None, cohort: str | list[str] | None
) -> pd.DataFrame:
    keep = pd.Series(True, index=df.index)
    if split is not None:
        keep &= df["split"].isin([split] if isinstance(split, str) else split)
    if cohort is not None:
        keep &= df["cohort"].isin([cohort] if isinstance(cohort, str) else cohort)
    return df[keep]


def _require_cached(cache: ScanCache, scan_ids: list[str]) -> None:
    missing = [s for s in scan_ids if not cache.has(s)]
    if missing:
        raise FileNotFoundError(
            f"{cache.root}: {len(missing)} scan(s) not in the cache (e.g. {missing[:5]}); "
            "run `hyperct prepare` (see errors.jsonl there for scans that failed)"
        )


def collate_scans(batch: list[dict]) -> dict:
    """Stack items into a batch; 2.5D images are padded to the largest n_images with mask False."""
    out: dict = {
        "scan_id": [b["scan_id"] for b in batch],
        "labels": torch.stack([b["labels"] for b in batch]),
    }
    if "report_text" in batch[0]:
        out["report_text"] = [b["report_text"] for b in batch]
    for key in ("findings_mask", "has_findings_mask"):
        if key in batch[0]:
            out[key] = torch.stack([b[key] for b in batch])
    if "image_mask" not in batch[0]:
        out["image"] = torch.stack([b["image"] for b in batch])
        if "anatomy" in batch[0]:
            out["anatomy"] = torch.stack([b["anatomy"] for b in batch])
        return out
    n_max = max(b["image"].shape[0] for b in batch)
    out["image"] = _pad_first([b["image"] for b in batch], n_max, 0.0)
    out["image_mask"] = _pad_first([b["image_mask"] for b in batch], n_max, False)
    if "anatomy" in batch[0]:
        out["anatomy"] = _pad_first([b["anatomy"] for b in batch], n_max, IGNORE_INDEX)
    return out


def _pad_first(tensors: list[torch.Tensor], n: int, value: float | bool | int) -> torch.Tensor:
    out = tensors[0].new_full((len(tensors), n, *tensors[0].shape[1:]), value)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    return out
