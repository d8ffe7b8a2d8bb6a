"""Dict round trip of the model configs, which are saved with every checkpoint."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_C = TypeVar("_C", bound="DictConfig")


class DictConfig:
    """Mixin for config dataclasses: ``to_dict`` and a ``from_dict`` that rejects unknown keys."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` rebuilds the config."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_C], values: dict[str, Any]) -> _C:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}")
        return cls(**values)
