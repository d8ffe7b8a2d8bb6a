"""On-disk cache of validated LLM labels, keyed by report text + prompt + model.

Only validated replies are stored, so a failure is retried on the next run rather than
remembered. One small JSON file per key, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def cache_key(report: str, system: str, model: str, temperature: float) -> str:
    """SHA-256 of everything that decides the reply."""
    payload = json.dumps(
        {"report": report, "system": system, "model": model, "temperature": temperature},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LabelCache:
    """Validated label dicts stored as ``<folder>/<key[:2]>/<key>.json``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, int] | None:
        path = self._path(key)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, key: str, labels: dict[str, int]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(labels, handle)
        os.replace(tmp, path)
