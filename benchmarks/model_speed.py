"""HyperCT speed and memory on this CPU, at the shapes of the DESIGN.md anchors.

Random ViT-B/16, 144 x 144 images, 55 images per scan, ``torch.set_num_threads(2)``. Each
configuration runs in its own subprocess, which reports its wall times and its own peak RSS
(``ru_maxrss``), so configurations do not contaminate each other's memory figures. Under glibc's
malloc a training row also records ``peak_heap_gb``, the peak of the live allocations (sampled
every 50 ms): the RSS above it is freed memory the allocator kept. Training and prediction cases
with ``tcmalloc`` in their label run with that allocator preloaded (``LD_PRELOAD``; Debian package
libtcmalloc-minimal4) and are skipped, with a warning, where it is not installed.

Groups (``--groups``, default all): ``train`` (one training step, batch 2 x 55 images, two
different tasks, forward + backward + AdamW step), ``predict`` (all 25 tasks of one scan with
``predict_all``, with and without the shared trunk), ``memory`` (peak RSS of a training step vs
batch size, under glibc and tcmalloc). Each group is saved as
``benchmarks/results/model_speed_<group>.json``.

Goals (issue 19), judged on ratios from the same run: a training step >= 3x faster than the
authors' code (``vs_authors <= 1/3``; 8.2 s against the recorded 24.6 s), its peak RSS at batch
2 x 55 <= 4 GB, and the exact 25-task prediction <= 1.5x its bf16 floor (``vs_floor``).

On a CPU without bf16 arithmetic (AVX2 only) hyperct runs bf16 weights and autocast in float32
(``hyperct.inference.device``), so there the cases run in float32, their labels say so, the
floor is the float32 one and the results are saved with the suffix ``_fp32``.

Every speed row carries ``vs_floor`` (measured / the matmul floor of its FLOP count in the
precision of the run, from ``benchmarks.floor``'s rate measured in the case's own process right
before and right after its timing, the faster of the two: a shared host's speed drifts within a
run; ``floor_gflops`` records both) and ``vs_authors``
(measured / the authors' code): re-measured in the same run when ``--authors-python`` and
``HYPERCT_REF_SRC`` point at the harness of ``../shared/bench`` (see its README), else against
the recorded anchor, with ``authors_source`` saying which.

    .venv/bin/python -m benchmarks.model_speed --groups train predict --repeats 2

(``--exact-only`` leaves out the approximate shared-trunk prediction cases.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.floor import floor_seconds, measure_floor, product_precision, result_name
from benchmarks.record import save_result

logger = logging.getLogger(__name__)

TRAIN_ANCHOR_S = 24.6
TRAIN_SPEEDUP_GOAL = 3.0
TRAIN_RSS_ANCHOR_GB = 16.0
TRAIN_RSS_GOAL_GB = 4.0
PREDICT_ANCHOR_S = 118.0
PREDICT_FLOOR_GOAL = 1.5

TRAIN_CASES: list[dict[str, Any]] = [
    {
        "label": "bf16 weights + light checkpointing",
        "precision": "bf16-weights",
        "checkpointing": "light",
    },
    {
        "label": "bf16 weights + selective checkpointing",
        "precision": "bf16-weights",
        "checkpointing": "selective",
    },
    {
        "label": "bf16 weights + full checkpointing",
        "precision": "bf16-weights",
        "checkpointing": "full",
    },
    {
        "label": "autocast bf16 + selective checkpointing",
        "precision": "autocast",
        "checkpointing": "selective",
    },
    {"label": "bf16 weights, no checkpointing", "precision": "bf16-weights"},
    {
        "label": "bf16 weights + light checkpointing, freed memory returned",
        "precision": "bf16-weights",
        "checkpointing": "light",
        "return_freed_memory": True,
    },
    {
        "label": "bf16 weights + full checkpointing, freed memory returned",
        "precision": "bf16-weights",
        "checkpointing": "full",
        "return_freed_memory": True,
    },
    {"label": "bf16 weights, no checkpointing, tcmalloc", "precision": "bf16-weights",
     "allocator": "tcmalloc"},
    {
        "label": "bf16 weights + light checkpointing, tcmalloc",
        "precision": "bf16-weights",
        "checkpointing": "light",
        "allocator": "tcmalloc",
    },
    {
        "label": "bf16 weights + selective checkpointing, tcmalloc",
        "precision": "bf16-weights",
        "checkpointing": "selective",
        "allocator": "tcmalloc",
    },
    {
        "label": "bf16 weights + full checkpointing, tcmalloc",
        "precision": "bf16-weights",
        "checkpointing": "full",
        "allocator": "tcmalloc",
    },
]
PREDICT_CASES: list[dict[str, Any]] = [
    {"label": "autocast bf16", "precision": "autocast"},
    {"label": "bf16 weights", "precision": "bf16-weights"},
    {"label": "autocast bf16, tcmalloc", "precision": "autocast", "allocator": "tcmalloc"},
    {"label": "bf16 weights, tcmalloc", "precision": "bf16-weights", "allocator": "tcmalloc"},
    {"label": "bf16 weights, shared trunk K=8", "precision": "bf16-weights", "adapt_last_k": 8},
    {"label": "bf16 weights, shared trunk K=4", "precision": "bf16-weights", "adapt_last_k": 4},
]
MEMORY_BATCHES = (1, 4)
HEAP_SAMPLE_S = 0.05
AUTHORS_HARNESS = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "authors_ref.py"
TRAIN_FLOOR_CASE = "train step, batch 2 x 55 images"
PREDICT_FLOOR_CASE = "predict_all 25 tasks, 55 images"


def for_precision(cases: list[dict[str, Any]], precision: str) -> list[dict[str, Any]]:
    """The cases as hyperct runs them in ``precision``: in ``"fp32"`` (a CPU without bf16
    arithmetic) bf16 weights and autocast both run in float32, so the labels say fp32 and cases
    that become the same computation run once."""
    if precision == "bf16":
        return cases
    kept: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for case in cases:
        key = tuple(sorted((k, v) for k, v in case.items() if k not in ("label", "precision")))
        if key not in seen:
            seen.add(key)
            label = case["label"].replace("autocast bf16", "fp32").replace("bf16 weights", "fp32 weights")
            kept.append({**case, "label": label, "precision": "fp32"})
    return kept


@dataclass(frozen=True)
class Reference:
    """What a speed row is divided by: the matmul floor (GFLOP/s) in the run's precision and the
    authors' seconds."""

    floor_gflops: float
    authors_train_s: float
    authors_predict_s: float
    authors_source: str
    precision: str = "bf16"

    def ratios(
        self, seconds: float, floor_case: str, authors_s: float, case_floors: list[float] | None
    ) -> dict[str, Any]:
        """``vs_floor`` against the faster of the floors measured in the case's own process just
        before and after its timing (``case_floors``; the host's speed drifts within a run),
        else against the run's floor measured at its start."""
        gflops = max(case_floors) if case_floors else self.floor_gflops
        floor = floor_seconds(floor_case, gflops)
        return {
            "floor_gflops": [round(rate, 1) for rate in case_floors or [self.floor_gflops]],
            "floor_s": round(floor, 3),
            "vs_floor": round(seconds / floor, 2),
            "vs_authors": round(seconds / authors_s, 3),
            "authors_s": authors_s,
            "authors_source": self.authors_source,
        }


def measure_reference(authors_python: str | None, timeout_s: float) -> Reference:
    """The floor of this machine now, and the authors' times from the same run if possible."""
    import torch

    torch.set_num_threads(2)
    precision = product_precision()
    floor = measure_floor(precision)
    logger.info("%s matmul floor: %.0f GFLOP/s", precision, floor)
    if not authors_python or not os.environ.get("HYPERCT_REF_SRC"):
        return Reference(floor, TRAIN_ANCHOR_S, PREDICT_ANCHOR_S, "recorded anchor (DESIGN.md)",
                         precision)
    train = _authors(
        authors_python, ["--mode", "train", "--batch", "2", "--warmup", "1"], timeout_s
    )
    predict = _authors(authors_python, ["--mode", "infer", "--warmup", "0"], timeout_s)
    return Reference(floor, train, predict, "authors' code, same run", precision)


def _authors(python: str, args: list[str], timeout_s: float) -> float:
    command = [python, str(AUTHORS_HARNESS), *args, "--n-images", "55", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"authors' harness failed ({' '.join(args)}):\n{done.stderr[-2000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    seconds = result["median_s"]
    logger.info("authors' code %s: %.1f s", args[1], seconds)
    return float(seconds)


def _build(case: dict[str, Any]) -> Any:
    import torch

    from hyperct.models.hyperct import HyperCT, HyperCTConfig

    torch.manual_seed(0)
    config = HyperCTConfig(
        backbone_dtype="bfloat16" if case["precision"] == "bf16-weights" else "float32",
        activation_checkpointing="checkpointing" in case,
        checkpointing=case.get("checkpointing", "full"),
        adapt_last_k=case.get("adapt_last_k"),
        dropout=case.get("dropout", 0.05),
    )
    return HyperCT(config)


def _autocast(case: dict[str, Any]) -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=case["precision"] == "autocast")


def _train_step_fn(case: dict[str, Any]) -> Any:
    import torch

    model = _build(case).train()
    batch = case.get("batch", 2)
    images = torch.randn(batch, 55, 3, 144, 144)
    mask = torch.ones(batch, 55, dtype=torch.bool)
    task_ids = torch.arange(batch) * 7 % 25
    labels = torch.ones(batch)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True
    )

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(case):
            logits = model(images, mask, task_ids)
        torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels).backward()
        optimizer.step()

    return step


def _predict_fn(case: dict[str, Any]) -> Any:
    import torch

    model = _build(case).eval()
    images = torch.randn(1, 55, 3, 144, 144)
    mask = torch.ones(1, 55, dtype=torch.bool)

    def predict() -> None:
        with torch.inference_mode(), _autocast(case):
            model.predict_all(images, mask)

    return predict


class HeapPeak:
    """The largest :func:`~hyperct.inference.heap.heap_in_use_bytes` (live allocations under
    glibc's malloc) seen while inside, sampled by a thread; None under another allocator, or
    where glibc cannot count."""

    def __init__(self) -> None:
        from hyperct.inference.heap import allocator

        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._counts = allocator() == "glibc"

    def _sample(self) -> None:
        from hyperct.inference.heap import heap_in_use_bytes

        while self._counts and not self._stop.is_set():
            used = heap_in_use_bytes()
            if used is not None:
                self.peak = max(self.peak or 0, used)
            self._stop.wait(HEAP_SAMPLE_S)

    def __enter__(self) -> HeapPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_child(case: dict[str, Any]) -> dict[str, Any]:
    """Inside the subprocess: build, warm up, time ``repeats`` runs, report peak RSS and (under
    glibc) the peak of live allocations."""
    import resource

    import torch

    from hyperct.inference.heap import allocator, return_freed_memory

    running, wanted = allocator(), case.get("allocator", "glibc")
    if running != wanted:
        raise RuntimeError(f"case {case['label']!r} wants allocator {wanted}, the process runs "
                           f"{running}")
    torch.set_num_threads(2)
    if case.get("return_freed_memory"):
        return_freed_memory()
    load_before = os.getloadavg()[0]
    fn = _train_step_fn(case) if case["kind"] == "train" else _predict_fn(case)
    times = []
    precision = product_precision()
    floors = [measure_floor(precision)] if case.get("measure_floor") else []
    with HeapPeak() as heap:
        for index in range(case["warmup"] + case["repeats"]):
            start = time.perf_counter()
            fn()
            if index >= case["warmup"]:
                times.append(time.perf_counter() - start)
    if floors:
        floors.append(measure_floor(precision))
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    heap_gb = None if heap.peak is None else round(heap.peak / 1e9, 3)
    return {"times_s": times, "peak_rss_gb": rss_gb, "peak_heap_gb": heap_gb,
            "load": [load_before, os.getloadavg()[0]], "floor_gflops": floors}


def installed(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cases whose allocator is installed; the others are left out with a warning."""
    from hyperct.inference.heap import PRELOADABLE, preload_library

    kept = []
    for case in cases:
        wanted = case.get("allocator")
        if wanted is not None and preload_library(wanted) is None:
            logger.warning("case %r skipped: %s is not installed (Debian: apt-get install %s)",
                           case["label"], wanted, PRELOADABLE[wanted][1])
        else:
            kept.append(case)
    return kept


def _spawn(case: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    from hyperct.inference.heap import child_environment

    env = child_environment(case.get("allocator"))
    command = [sys.executable, "-m", "benchmarks.model_speed", "--child", json.dumps(case)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False,
                          env=env)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark case {case['label']!r} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(
    metric: str,
    value: float,
    unit: str,
    goal: str | None,
    anchor: str | None,
    met: bool | None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "goal": goal,
        "anchor": anchor,
        "met": met,
        **extra,
    }


def train_rows(label: str, result: dict[str, Any], ref: Reference) -> list[dict[str, Any]]:
    """A training case's speed row (goal: 3x the authors' code) and its memory row (<= 4 GB)."""
    median = statistics.median(result["times_s"])
    target = ref.authors_train_s / TRAIN_SPEEDUP_GOAL
    return [
        _row(
            f"train step ({label})",
            median,
            "s",
            f">= {TRAIN_SPEEDUP_GOAL:g}x the authors' code (<= {target:.1f} s)",
            f"{ref.authors_train_s:.1f} s ({ref.authors_source})",
            median <= target,
            times_s=result["times_s"],
            load=result["load"],
            **ref.ratios(median, TRAIN_FLOOR_CASE, ref.authors_train_s,
                         result.get("floor_gflops")),
        ),
        _row(
            f"train step peak RSS, batch 2 x 55 images ({label})",
            result["peak_rss_gb"],
            "GB",
            f"<= {TRAIN_RSS_GOAL_GB:g} GB",
            f"{TRAIN_RSS_ANCHOR_GB} GB",
            result["peak_rss_gb"] <= TRAIN_RSS_GOAL_GB,
            step_s=round(median, 3),
            peak_heap_gb=result.get("peak_heap_gb"),
        ),
    ]


def predict_row(label: str, exact: bool, result: dict[str, Any], ref: Reference) -> dict[str, Any]:
    """A prediction case's row; the exact ones are judged on ``vs_floor`` <= 1.5."""
    median = statistics.median(result["times_s"])
    ratios = ref.ratios(median, PREDICT_FLOOR_CASE, ref.authors_predict_s,
                        result.get("floor_gflops"))
    if exact:
        target = PREDICT_FLOOR_GOAL * ratios["floor_s"]
        goal = f"<= {PREDICT_FLOOR_GOAL:g}x {ref.precision} floor ({target:.1f} s)"
    else:
        goal = "below the exact computation (approximate: shared trunk)"
    return _row(
        f"predict_all 25 tasks, 55 images ({label})",
        median,
        "s",
        goal,
        f"{ref.authors_predict_s:.1f} s ({ref.authors_source})",
        ratios["vs_floor"] <= PREDICT_FLOOR_GOAL if exact else None,
        times_s=result["times_s"],
        load=result["load"],
        peak_rss_gb=result["peak_rss_gb"],
        **ratios,
    )


def bench_train(repeats: int, timeout_s: float, ref: Reference) -> list[dict[str, Any]]:
    rows = []
    for case in installed(for_precision(TRAIN_CASES, ref.precision)):
        result = _spawn({**case, "kind": "train", "warmup": 1, "repeats": repeats,
                         "measure_floor": True}, timeout_s)
        logger.info(
            "train %s: %s s, %.2f GB", case["label"], result["times_s"], result["peak_rss_gb"]
        )
        rows.extend(train_rows(case["label"], result, ref))
    return rows


def bench_predict(
    repeats: int, timeout_s: float, ref: Reference, exact_only: bool = False
) -> list[dict[str, Any]]:
    rows = []
    for case in installed(for_precision(PREDICT_CASES, ref.precision)):
        if exact_only and "adapt_last_k" in case:
            continue
        result = _spawn({**case, "kind": "predict", "warmup": 1, "repeats": repeats,
                         "measure_floor": True}, timeout_s)
        logger.info(
            "predict %s: %s s, %.2f GB", case["label"], result["times_s"], result["peak_rss_gb"]
        )
        rows.append(predict_row(case["label"], "adapt_last_k" not in case, result, ref))
    return rows


def bench_memory(timeout_s: float, precision: str) -> list[dict[str, Any]]:
    rows = []
    cases = [{"label": "bf16 weights + full checkpointing" + label, "kind": "train",
              "precision": "bf16-weights", "checkpointing": "full", "batch": batch,
              "warmup": 0, "repeats": 1, **extra}
             for batch in MEMORY_BATCHES
             for label, extra in (("", {}), (", tcmalloc", {"allocator": "tcmalloc"}))]
    for case in installed(for_precision(cases, precision)):
        batch = case["batch"]
        result = _spawn(case, timeout_s)
        logger.info("memory batch %d, %s: %.2f GB", batch, case["label"], result["peak_rss_gb"])
        rows.append(
            _row(
                f"train step peak RSS, batch {batch} x 55 images ({case['label']})",
                result["peak_rss_gb"],
                "GB",
                None,
                None,
                None,
                step_s=result["times_s"][0],
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="+", default=["train", "predict", "memory"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--authors-python",
        help="python of a venv with the authors' code's requirements (HYPERCT_REF_SRC set too)",
    )
    parser.add_argument("--exact-only", action="store_true",
                        help="predict group: only the exact cases, not the shared trunk")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        logging.disable(logging.WARNING)
        sys.stdout.write(json.dumps(run_child(json.loads(args.child))) + "\n")
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    notes = (
        f"random ViT-B/16, 144x144, 55 images/scan, 2 threads; load average at start "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine: see per-row 'load')"
    )
    ref = measure_reference(args.authors_python, args.timeout)
    notes += f"; {ref.precision} (this machine's precision)"
    for group in args.groups:
        name = result_name(f"model_speed_{group}", ref.precision)
        if group == "train":
            save_result(name, bench_train(args.repeats, args.timeout, ref), notes)
        elif group == "predict":
            save_result(name, bench_predict(args.repeats, args.timeout, ref, args.exact_only), notes)
        elif group == "memory":
            save_result(name, bench_memory(args.timeout, ref.precision), notes)
        else:
            raise SystemExit(f"unknown group {group!r}; use train, predict, memory")


if __name__ == "__main__":
    main()
