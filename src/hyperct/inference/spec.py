"""The preprocessing spec a cache or checkpoint was made with, read back with its file named,
and the comparison that keeps prediction from preprocessing differently from training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperct.inference.checkpoint import Checkpoint, CheckpointError
from hyperct.preprocess.spec import PreprocessSpec, spec_from_dict


def cache_spec(cache_dir: str | Path) -> dict[str, Any]:
    """The preprocessing spec the cache was written with, as plain JSON data."""
    from hyperct.data.cache import ScanCache

    spec = ScanCache(cache_dir).read_spec()
    if spec is None:
        raise FileNotFoundError(f"{cache_dir}: not a prepared cache (no spec.json); run `hyperct prepare`")
    return spec.to_dict()


def checkpoint_spec(ckpt: Checkpoint, source: str | Path) -> PreprocessSpec:
    """The spec stored in a checkpoint; a corrupt one is a :class:`CheckpointError` naming it."""
    try:
        return spec_from_dict(ckpt.spec)
    except (ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"{source}: the checkpoint's preprocessing spec is corrupt ({err}): {ckpt.spec!r}"
        ) from None


def same_spec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two spec dicts describe the same preprocessing (compared by the spec's hash)."""
    return spec_from_dict(a).hash() == spec_from_dict(b).hash()
