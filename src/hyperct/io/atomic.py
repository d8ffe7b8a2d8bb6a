"""Atomic file writes: write to a temporary sibling, then rename over the target."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: Marker in temporary names, so leftovers of a killed run can be recognised and removed.
TMP_MARKER = ".tmp-"
_PARTIAL = re.compile(r"\.(.*?)" + re.escape(TMP_MARKER) + r"[0-9a-f]{8}(.*)")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffixes); rename it onto ``path`` on success.

    A reader never sees a half-written file: on error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem, suffix = _stem_suffix(path)
    tmp = path.with_name(f".{stem}{TMP_MARKER}{uuid.uuid4().hex[:8]}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _stem_suffix(path: Path) -> tuple[str, str]:
    suffix = "".join(path.suffixes)
    return (path.name[: len(path.name) - len(suffix)] if suffix else path.name), suffix


def partial_target(tmp: str | Path) -> tuple[str, str] | None:
    """The ``(stem, suffixes)`` of the file a temporary file of :func:`atomic_path` was for."""
    match = _PARTIAL.fullmatch(Path(tmp).name)
    return (match.group(1), match.group(2)) if match else None


def partial_key(path: str | Path) -> tuple[str, str]:
    """What :func:`partial_target` gives for the temporary files of ``path``."""
    return _stem_suffix(Path(path))


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it onto ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_csv_atomic(df: pd.DataFrame, path: str | Path, float_format: str | None = None) -> Path:
    """Write ``df`` as CSV (without its index) atomically."""
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False, float_format=float_format))
