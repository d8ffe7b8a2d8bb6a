"""hyperct: unified chest-CT screening with a hypernetwork-LoRA adapted vision transformer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hyperct.io.read import read_ct
    from hyperct.io.volume import Volume

__all__ = ["Volume", "__version__", "read_ct"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import hyperct` (and `hyperct --help`) stays instant.
    if name == "read_ct":
        from hyperct.io.read import read_ct

        return read_ct
    if name == "Volume":
        from hyperct.io.volume import Volume

        return Volume
    raise AttributeError(f"module 'hyperct' has no attribute {name!r}")
