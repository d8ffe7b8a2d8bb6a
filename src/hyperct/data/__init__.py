"""Manifest (load, validate, summarise, merge labels), scan cache, `prepare`, torch Dataset, adapters.

Names are imported lazily so that ``import hyperct.data`` does not pull in torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "load_manifest": "hyperct.data.manifest",
    "check_manifest": "hyperct.data.manifest",
    "write_manifest": "hyperct.data.manifest",
    "ManifestError": "hyperct.data.manifest",
    "summarise_manifest": "hyperct.data.summary",
    "merge_labels": "hyperct.data.merge",
    "ScanCache": "hyperct.data.cache",
    "prepare_cache": "hyperct.data.prepare",
    "PrepareReport": "hyperct.data.prepare",
    "CachedScanDataset": "hyperct.data.dataset",
    "collate_scans": "hyperct.data.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hyperct.data' has no attribute {name!r}")
