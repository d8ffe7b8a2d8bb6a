"""With return_freed_memory, memory a CPU process frees leaves its RSS; without it, glibc keeps
the holes that live smaller tensors between them pin. heap_in_use_bytes counts live memory only."""

import subprocess
import sys

import pytest

from hyperct.inference.heap import allocator, child_environment, preload_library

CHILD = """
import sys
import torch
from hyperct.inference.heap import return_freed_memory

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "on":
    assert return_freed_memory()
torch.ones(4 << 20)  # 16 MB mapped and freed: glibc raises its mmap threshold past 8 MB
before = rss_mb()
blocks, pins = [], []
for _ in range(40):  # 8 MB blocks, each followed by a small live tensor that pins its hole
    blocks.append(torch.ones(2 << 20))
    pins.append(torch.ones(64 << 10))
del blocks
print(rss_mb() - before)
"""

#: The children's environment: glibc's malloc even when the tests run under a preloaded one.
GLIBC_ENV = child_environment(None)


def _kept_mb(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], env=GLIBC_ENV, capture_output=True,
                          text=True, timeout=120, check=True)
    return float(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_tensors_leave_the_rss_only_when_set() -> None:
    assert _kept_mb("off") > 250
    assert _kept_mb("on") < 30


@pytest.mark.skipif(allocator() != "glibc", reason="counts glibc's allocations")
def test_heap_in_use_counts_live_tensors_not_freed_ones() -> None:
    import torch

    from hyperct.inference.heap import heap_in_use_bytes

    before = heap_in_use_bytes()
    assert before is not None and before > 0
    block = torch.ones(16 << 20)  # 64 MB
    held = heap_in_use_bytes()
    assert held is not None and held - before >= 64 << 20
    del block
    after = heap_in_use_bytes()
    assert after is not None and held - after >= 64 << 20


@pytest.mark.skipif(preload_library("tcmalloc") is None,
                    reason="libtcmalloc-minimal4 is not installed (make test installs it)")
def test_under_a_preloaded_tcmalloc_return_freed_memory_sets_nothing() -> None:
    code = ("from hyperct.inference.heap import allocator, return_freed_memory; "
            "print(allocator(), return_freed_memory())")
    done = subprocess.run([sys.executable, "-c", code], env=child_environment("tcmalloc"),
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["tcmalloc", "False"]
    plain = subprocess.run([sys.executable, "-c", code], env=GLIBC_ENV, capture_output=True,
                           text=True, timeout=60, check=True)
    assert plain.stdout.split() == ["glibc", "True"]


def test_the_allocator_is_said_once_per_process(caplog):
    import logging

    from hyperct.inference.heap import log_allocator

    log_allocator.cache_clear()
    with caplog.at_level(logging.INFO, logger="hyperct.inference.heap"):
        log_allocator()
        log_allocator()
    said = [r.getMessage() for r in caplog.records if "CPU memory allocator" in r.getMessage()]
    assert len(said) == 1
    if allocator() == "glibc":
        assert "glibc" in said[0] and "libtcmalloc-minimal4" in said[0]
        assert "HYPERCT_ALLOCATOR=glibc" in said[0]
    else:
        assert said[0].endswith(allocator())


@pytest.fixture
def glibc_with_tcmalloc_installed(monkeypatch):
    """A process under glibc's malloc on a machine that has tcmalloc and not jemalloc."""
    from hyperct.inference import heap

    monkeypatch.setattr(heap, "allocator", lambda: "glibc")
    monkeypatch.setattr(heap, "preload_library",
                        lambda name: "libtcmalloc_minimal.so.4" if name == "tcmalloc" else None)
    monkeypatch.setattr(sys, "platform", "linux")


def test_by_default_a_command_reruns_under_tcmalloc_keeping_the_users_preload(
    glibc_with_tcmalloc_installed,
):
    from hyperct.inference.heap import preload_environment

    env = preload_environment({"PATH": "/bin", "LD_PRELOAD": "libmine.so"})
    assert env == {"PATH": "/bin", "LD_PRELOAD": "libtcmalloc_minimal.so.4 libmine.so",
                   "HYPERCT_PRELOADED": "tcmalloc"}
    assert preload_environment({"HYPERCT_ALLOCATOR": "tcmalloc"})["LD_PRELOAD"] == (
        "libtcmalloc_minimal.so.4")


def test_glibc_chosen_or_an_allocator_running_means_no_rerun(glibc_with_tcmalloc_installed,
                                                             monkeypatch):
    from hyperct.inference import heap

    assert heap.preload_environment({"HYPERCT_ALLOCATOR": "glibc"}) is None
    monkeypatch.setattr(heap, "allocator", lambda: "jemalloc")
    assert heap.preload_environment({}) is None


def test_a_preload_the_loader_ignored_is_not_asked_for_again(glibc_with_tcmalloc_installed,
                                                             caplog):
    from hyperct.inference.heap import preload_environment

    assert preload_environment({"HYPERCT_PRELOADED": "tcmalloc"}) is None
    assert "did not preload libtcmalloc_minimal.so.4" in caplog.text


def test_auto_without_tcmalloc_runs_glibc_but_a_named_missing_allocator_is_an_error(
    glibc_with_tcmalloc_installed, monkeypatch,
):
    from hyperct.inference import heap

    with pytest.raises(ValueError, match="HYPERCT_ALLOCATOR=jemalloc: jemalloc is not installed "
                                         r"\(Debian: apt-get install libjemalloc2\)"):
        heap.preload_environment({"HYPERCT_ALLOCATOR": "jemalloc"})
    with pytest.raises(ValueError, match="HYPERCT_ALLOCATOR='tc' is not one of auto, glibc, "
                                         "tcmalloc, jemalloc"):
        heap.preload_environment({"HYPERCT_ALLOCATOR": "tc"})
    monkeypatch.setattr(heap, "preload_library", lambda name: None)
    assert heap.preload_environment({}) is None
