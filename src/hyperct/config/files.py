"""Read a training config from YAML with dotted ``key=value`` overrides, and write it back.

>>> apply_overrides({"optim": {"lr": 1e-5}}, ["optim.lr=1e-4", "model.rank=8"])
{'optim': {'lr': 0.0001}, 'model': {'rank': 8}}
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hyperct.configs import config_names, config_source
from hyperct.io.atomic import write_text_atomic
from hyperct.config.run import ConfigError, TrainConfig, config_from_dict, config_to_dict

logger = logging.getLogger(__name__)


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Load ``path`` (a shipped config's name, a YAML file, or None: the defaults), apply
    overrides, validate.

    Relative data paths in the YAML are kept as written (relative to the working directory),
    so a config behaves the same from the CLI and from Python.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        source = config_source(path)
        if not source.is_file():
            raise FileNotFoundError(
                f"config file not found: {path} (named configs: {', '.join(config_names())})"
            )
        loaded = yaml.safe_load(source.read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
        raw = loaded or {}
    try:
        return config_from_dict(apply_overrides(raw, overrides))
    except ConfigError as err:
        raise ConfigError(f"{path or 'config'}: {err}") from None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b.c=value`` set; values are parsed as YAML."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else None
    return out


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    return write_text_atomic(Path(path), text)
