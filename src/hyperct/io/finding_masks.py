"""Finding masks as packed category bits: bit ``c`` of a voxel is channel ``c`` of the catalogue.

Both sources of finding masks become the same thing: ReXGroundingCT's one channel per finding
(each filed under a category) and the phantom's bitmask (bit k where task id k is drawn, filed
under :data:`~hyperct.findings_categories.TASK_CATEGORY`). Packed, a (z, y, x) uint16 grid
holds the whole ``(C, z, y, x)`` binary stack of :data:`~hyperct.findings_categories.MASK_CHANNELS`
in 1/C of the space, and nearest-neighbour resampling of the packed grid is exactly the
per-channel resampling (every channel takes the same source voxel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hyperct.findings_categories import MASK_CHANNELS, TASK_CATEGORY, channel_of
from hyperct.tasks import TASKS, task_by_name

BITS_DTYPE = np.uint16
N_CHANNELS = len(MASK_CHANNELS)
if N_CHANNELS > np.iinfo(BITS_DTYPE).bits:
    raise RuntimeError(f"{N_CHANNELS} mask channels do not fit the packed dtype {BITS_DTYPE}")


def bits_from_task_bitmask(bitmask: np.ndarray, where: str) -> np.ndarray:
    """The phantom's task bitmask (bit k = task id k) -> packed category bits.

    Tasks without a category (heart, vessels, devices) are dropped; a bit of no task is refused.
    """
    values = np.asarray(bitmask).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= 1 << len(TASKS)):
        raise ValueError(
            f"{where}: a task bitmask holds values 0 .. 2^{len(TASKS)}-1 (bit k = task id k), "
            f"found {values.min()} .. {values.max()}"
        )
    bits = np.zeros(values.shape, dtype=BITS_DTYPE)
    for task, code in TASK_CATEGORY.items():
        drawn = ((values >> task_by_name(task).id) & 1).astype(BITS_DTYPE)
        bits |= drawn << BITS_DTYPE(channel_of(code))
    return bits


def bits_from_channels(stack: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """One channel per finding ``(n, ...)`` with the category code of each -> packed bits.

    Findings of one category are merged (their union); a voxel is set where its value is > 0.
    """
    if len(stack) != len(categories):
        raise ValueError(f"{len(stack)} mask channel(s) but {len(categories)} categories")
    bits = np.zeros(stack.shape[1:], dtype=BITS_DTYPE)
    for channel, code in zip(stack, categories):
        bits |= (channel > 0).astype(BITS_DTYPE) << BITS_DTYPE(channel_of(code))
    return bits


def unpack_bits(bits: np.ndarray) -> np.ndarray:
    """Packed bits ``(...)`` -> the binary stack ``(C, ...)`` uint8, channel c = bit c."""
    bits = np.asarray(bits, dtype=BITS_DTYPE)
    out = np.empty((N_CHANNELS, *bits.shape), dtype=np.uint8)
    for c in range(N_CHANNELS):  # one pass per channel, straight into the output
        np.not_equal(bits & BITS_DTYPE(1 << c), 0, out=out[c].view(bool))
    return out
