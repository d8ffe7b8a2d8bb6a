"""Shards of a manifest for job arrays: ``--shard i/n`` takes the scans whose id hashes to ``i``.

Membership is a function of ``scan_id`` alone (the first 8 bytes of its SHA-256, mod ``n``),
never of row order or of Python's per-process randomised ``hash``: the ``n`` shards of a manifest
are disjoint, together hold every row, and a reordered or extended manifest keeps each scan in
its shard. :meth:`Shard.split` divides a shard again (one part per ``torchrun`` rank) so that
the parts of shard ``i`` of ``n`` are exactly the scans of that shard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pandas as pd

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``; ``Shard(0, 1)`` is the whole manifest."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(
                f"shard {self.index}/{self.count}: expected i/n with n >= 1 and 0 <= i < n"
            )

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def label(self) -> str:
        """``shard-i-of-n``: how a shard names its own files."""
        return f"shard-{self.index}-of-{self.count}"

    def holds(self, scan_id: str) -> bool:
        return shard_of(scan_id, self.count) == self.index

    def select(self, manifest: pd.DataFrame) -> pd.DataFrame:
        """The manifest's rows of this shard, in their order."""
        if self.whole:
            return manifest
        keep = manifest["scan_id"].astype(str).map(self.holds)
        return manifest[keep.to_numpy(dtype=bool)]

    def split(self, parts: int, part: int) -> Shard:
        """Part ``part`` of ``parts`` of this shard: ids ``h`` with ``h mod (n*parts) = i + n*part``."""
        if not 0 <= part < parts:
            raise ValueError(f"part {part} of {parts}: expected 0 <= part < parts")
        return Shard(self.index + self.count * part, self.count * parts)


def shard_of(scan_id: str, count: int) -> int:
    """The shard (0..count-1) ``scan_id`` belongs to; the same on every machine and run."""
    digest = hashlib.sha256(str(scan_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str) -> Shard:
    """``"i/n"`` (0-based ``i``, as ``$SLURM_ARRAY_TASK_ID/n`` with ``--array=0-(n-1)``)."""
    match = _SPEC.fullmatch(text)
    if not match:
        raise ValueError(f"--shard {text!r}: expected i/n, e.g. 0/4 (shards 0/4 .. 3/4)")
    try:
        return Shard(int(match.group(1)), int(match.group(2)))
    except ValueError as err:
        raise ValueError(f"--shard {text!r}: {err}") from None
