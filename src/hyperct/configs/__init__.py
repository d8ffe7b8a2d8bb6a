"""The training configs and preprocessing specs that ship inside the package, by name.

They are package data, so ``hyperct train paper`` and ``hyperct prepare --spec demo`` work from
any folder of an installed hyperct, not only inside a clone. Wherever a name is accepted a file
path is too; a name wins over a file of the same name (write ``./paper`` for the file).
``hyperct config write NAME FILE`` copies one out for editing. Imports nothing from hyperct.

>>> config_names()
['anatomy3d', 'demo', 'paper']
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

CONFIG_SUFFIX = ".yaml"
SPEC_SUFFIX = ".spec.json"


def _names(suffix: str) -> list[str]:
    return sorted(
        entry.name[: -len(suffix)] for entry in files(__name__).iterdir()
        if entry.name.endswith(suffix)
    )


def config_names() -> list[str]:
    """Names of the shipped training configs (``demo``, ``paper``, ``anatomy3d``)."""
    return _names(CONFIG_SUFFIX)


def spec_names() -> list[str]:
    """Names of the shipped spec files (the specs built into the code come on top)."""
    return _names(SPEC_SUFFIX)


def config_source(name_or_path: str | Path) -> Traversable:
    """The shipped config called ``name_or_path``, else that path (which may not exist)."""
    return _source(str(name_or_path), config_names(), CONFIG_SUFFIX)


def spec_source(name_or_path: str | Path) -> Traversable:
    """The shipped spec file called ``name_or_path``, else that path (which may not exist)."""
    return _source(str(name_or_path), spec_names(), SPEC_SUFFIX)


def _source(key: str, names: list[str], suffix: str) -> Traversable:
    return files(__name__) / f"{key}{suffix}" if key in names else Path(key)
