"""The CPU process's memory allocator: which one runs, what it holds, and glibc's freed memory.

A training step on a CPU frees and allocates gigabytes of activations. glibc keeps the freed
heap inside the process and grows it again for the next tensors of a slightly different size,
so the peak RSS of a step is far above what it holds at any moment (ViT-B, batch 2 x 55 images,
float32: 14.4 GB RSS for 9.8 GB live). :func:`return_freed_memory` serves every allocation of
1 MiB or more by ``mmap``, which returns it to the system on ``free``; the price is a page fault
per page of every new tensor (light checkpointing 11 -> 6.6 GB at 1.3x the step time, full
6 -> 3.5 GB at 1.2-1.5x): for a machine that would otherwise run out of memory. Preloading
tcmalloc instead (``LD_PRELOAD=libtcmalloc_minimal.so.4``, which a running process cannot do for
itself) keeps the RSS near the live memory and is faster than glibc: float32 on an AVX2 CPU, no
checkpointing 10.3 GB at 0.85x glibc's step time, full checkpointing 3.7 GB at 0.79x, and the
25-task prediction of a scan at 0.74x (one pass) and 0.88x (5 tasks per pass) glibc's time;
bf16 on an AMX CPU, no checkpointing at 0.60x and the 25-task prediction at 0.93x
(``benchmarks/model_speed.py``). So the model commands of the ``hyperct`` CLI re-run themselves
under tcmalloc where it is installed (:func:`preload_environment`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: ``mallopt`` parameters of glibc's ``malloc.h``.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Allocations from this size on get their own mapping; smaller ones (bookkeeping, small
#: tensors) stay on the heap, where an mmap per allocation would cost more than it returns.
MMAP_FROM_BYTES = 1 << 20
#: Allocators that replace glibc's malloc when preloaded: the library name
#: ``ctypes.util.find_library`` takes and the Debian package that has it. A process runs one
#: when a ``lib<key>`` library is mapped into it.
PRELOADABLE = {
    "tcmalloc": ("tcmalloc_minimal", "libtcmalloc-minimal4"),
    "jemalloc": ("jemalloc", "libjemalloc2"),
}
#: The environment variable that chooses the allocator of hyperct's model commands:
#: ``auto`` (the default: tcmalloc where installed), ``glibc``, or a key of :data:`PRELOADABLE`.
ALLOCATOR_VARIABLE = "HYPERCT_ALLOCATOR"
#: Set in the environment of a command re-run under a preloaded allocator: which one it asked
#: for, so a preload the dynamic loader ignored is not asked for again.
PRELOADED_VARIABLE = "HYPERCT_PRELOADED"
#: What a CPU process that trains or predicts under glibc's malloc is told.
TCMALLOC_HINT = (f"hyperct's model commands run under tcmalloc where it is installed (Debian "
                 f"package {PRELOADABLE['tcmalloc'][1]}; {ALLOCATOR_VARIABLE}=glibc keeps "
                 f"glibc's): it gave faster training steps and prediction and a lower peak RSS "
                 f"(README, Training)")


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 on): byte counts as ``size_t``."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


@functools.cache
def _glibc_function(name: str, restype: type, *argtypes: type) -> Callable[..., Any] | None:
    """The C library's function ``name`` with its prototype set, or None where it has none
    (off Linux, or a C library other than glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = list(argtypes), restype
    return function


def allocator() -> str:
    """The allocator this process runs: ``"tcmalloc"`` or ``"jemalloc"`` when one is preloaded,
    ``"glibc"`` on Linux otherwise, ``"system"`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return "system"
    with open("/proc/self/maps") as maps:
        mapped = maps.read()
    return next((name for name in PRELOADABLE if f"lib{name}" in mapped), "glibc")


def preload_library(name: str) -> str | None:
    """The library that preloads allocator ``name`` (a key of :data:`PRELOADABLE`), or None
    where it is not installed."""
    return ctypes.util.find_library(PRELOADABLE[name][0])


def child_environment(name: str | None) -> dict[str, str]:
    """The environment of a child process that runs allocator ``name`` (None: glibc's malloc):
    this process's, with its own ``LD_PRELOAD`` replaced and without the mark of a hyperct
    re-run (:data:`PRELOADED_VARIABLE` describes this process's preload, not the child's)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("LD_PRELOAD", PRELOADED_VARIABLE)}
    if name is not None:
        library = preload_library(name)
        if library is None:
            raise RuntimeError(f"allocator {name} is not installed "
                               f"(Debian: apt-get install {PRELOADABLE[name][1]})")
        env["LD_PRELOAD"] = library
    return env


def preload_environment(environ: dict[str, str]) -> dict[str, str] | None:
    """The environment to re-run this process's command in under the allocator that
    :data:`ALLOCATOR_VARIABLE` in ``environ`` chooses, or None where it runs as it should:
    glibc chosen, an allocator already preloaded (the user's ``LD_PRELOAD`` is kept), off
    Linux, ``auto`` without tcmalloc installed, or a preload the loader ignored (a warning).
    A preload is only possible at process start, so a command asks for it before its work.

    Raises ValueError for an unknown choice, or a chosen allocator that is not installed."""
    choice = environ.get(ALLOCATOR_VARIABLE, "auto")
    choices = ("auto", "glibc", *PRELOADABLE)
    if choice not in choices:
        raise ValueError(f"{ALLOCATOR_VARIABLE}={choice!r} is not one of {', '.join(choices)}")
    if choice == "glibc" or not sys.platform.startswith("linux") or allocator() in PRELOADABLE:
        return None
    wanted = "tcmalloc" if choice == "auto" else choice
    library = preload_library(wanted)
    if library is None:
        if choice == "auto":
            return None
        raise ValueError(f"{ALLOCATOR_VARIABLE}={choice}: {choice} is not installed (Debian: "
                         f"apt-get install {PRELOADABLE[choice][1]})")
    if environ.get(PRELOADED_VARIABLE) == wanted:
        logger.warning("%s=%s: the loader did not preload %s; running under glibc's malloc",
                       ALLOCATOR_VARIABLE, choice, library)
        return None
    preload = " ".join(filter(None, [library, environ.get("LD_PRELOAD")]))
    return {**environ, "LD_PRELOAD": preload, PRELOADED_VARIABLE: wanted}


@functools.cache
def log_allocator() -> None:
    """Say once per process which malloc a CPU model runs with: it decides much of a large
    model's step and prediction time and memory."""
    running = allocator()
    if running == "glibc":
        logger.info("CPU memory allocator: glibc's malloc; %s", TCMALLOC_HINT)
    else:
        logger.info("CPU memory allocator: %s", running)


@functools.cache
def return_freed_memory(threshold_bytes: int = MMAP_FROM_BYTES) -> bool:
    """Have glibc map allocations of ``threshold_bytes`` or more on their own, unmapped on free,
    and trim a free heap top above the same size. Process-wide, set once; ``True`` when set,
    ``False`` where malloc is not glibc's (macOS, musl, a preloaded tcmalloc), which is logged
    and harmless."""
    running = allocator()
    if running in PRELOADABLE:
        logger.info("return_freed_memory: %s is preloaded and manages freed memory itself; "
                    "nothing set", running)
        return False
    mallopt = _glibc_function("mallopt", ctypes.c_int, ctypes.c_int, ctypes.c_int)
    if mallopt is None:
        logger.info("return_freed_memory: this C library has no mallopt; freed memory stays in the process")
        return False
    ok = mallopt(M_MMAP_THRESHOLD, threshold_bytes) == 1 and mallopt(M_TRIM_THRESHOLD, threshold_bytes) == 1
    if not ok:
        logger.info("return_freed_memory: mallopt refused the thresholds; freed memory stays in the process")
    return ok


def heap_in_use_bytes() -> int | None:
    """Bytes glibc's malloc has handed out and not had back (heap chunks and mapped chunks):
    the live allocations, where the RSS also counts the freed memory glibc keeps. None where
    the C library has no ``mallinfo2`` (not glibc 2.33 or later). Under another allocator
    (``LD_PRELOAD`` jemalloc, tcmalloc) it counts only what still goes through glibc."""
    mallinfo2 = _glibc_function("mallinfo2", _MallInfo2)
    if mallinfo2 is None:
        return None
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)
