"""Cost of one training step per multi-task weighting method as the number of tasks grows.

Run: ``.venv/bin/python -m benchmarks.mtl_cost``. A shared block the size of the baseline's LoRA
(an MLP 768 -> 1024 -> 768, 1.6 M parameters) gives a 768-wide representation for a batch of 8;
one linear head gives K logits; every task is present. A step is forward + ``weighting.backward``
(the optimizer step is the same for all methods and left out). Median of repeats, 1 thread.

Gradient methods pay one backward through the shared block per task (batched by torchjd's vmap)
and hold the K x n Jacobian; MGDA on the representation (MGDA-UB) and the loss weightings
(FAMO included) pay one backward in all. Here the shared block is cheap to backpropagate and the
Jacobian's size dominates; through a frozen ViT-B the K backward passes dominate instead (a step
costs about F + K B against EW's F + B, with F and B one forward and one backward).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.record import save_result
from hyperct.mtl import create_weighting

logger = logging.getLogger(__name__)

TASK_COUNTS = (2, 5, 10, 18, 25)
METHODS: tuple[tuple[str, str, dict], ...] = (
    ("ew", "ew", {}),
    ("uw", "uw", {}),
    ("rlw", "rlw", {}),
    ("dwa", "dwa", {}),
    ("gls", "gls", {}),
    ("famo", "famo", {}),
    ("mgda-ub", "mgda", {"mode": "representation"}),
    ("mgda", "mgda", {}),
    ("pcgrad", "pcgrad", {}),
    ("cagrad", "cagrad", {}),
    ("nash_mtl", "nash_mtl", {}),
)
BATCH, WIDTH, HIDDEN = 8, 768, 1024
WARMUP, REPEATS = 2, 11
MIN_CALL_SECONDS = 0.05  # cheap steps are repeated inside one timed call to rise above noise


class SharedBlock(nn.Module):
    """LoRA-sized shared block and one linear head per task (as one ``Linear(768, K)``)."""

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(WIDTH, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, WIDTH))
        self.heads = nn.Linear(WIDTH, num_tasks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.shared(x)
        return z, self.heads(z)


def make_step(name: str, kwargs: dict, num_tasks: int) -> Callable[[], None]:
    """One training step (forward + weighting backward) of a fresh model for one method."""
    torch.manual_seed(0)
    model = SharedBlock(num_tasks)
    weighting = create_weighting(name, num_tasks, **kwargs)
    shared = list(model.shared.parameters())
    x = torch.randn(BATCH, WIDTH)
    labels = torch.randint(0, 2, (BATCH, num_tasks)).float()
    present = torch.ones(num_tasks, dtype=torch.bool)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        z, logits = model(x)
        losses = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        weighting.backward(losses.mean(0), present, shared, z)

    return step


def time_interleaved(steps: dict[str, Callable[[], None]]) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds per step of each method, timed in interleaved rounds.

    Round-robin timing spreads the load of other jobs on the machine evenly over the methods;
    cheap steps run several times per timed call to rise above timer noise.
    """
    inner = {}
    for label, step in steps.items():
        for _ in range(WARMUP):
            step()
        start = time.perf_counter()
        step()
        inner[label] = max(1, round(MIN_CALL_SECONDS / (time.perf_counter() - start)))
    wall: dict[str, list[float]] = {label: [] for label in steps}
    cpu: dict[str, list[float]] = {label: [] for label in steps}
    for _ in range(REPEATS):
        for label, step in steps.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(inner[label]):
                step()
            wall[label].append((time.perf_counter() - wall_start) / inner[label])
            cpu[label].append((time.process_time() - cpu_start) / inner[label])
    return {
        label: {"wall": statistics.median(wall[label]), "cpu": statistics.median(cpu[label])}
        for label in steps
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    n_shared = sum(p.numel() for p in SharedBlock(1).shared.parameters())
    metrics = []
    for num_tasks in TASK_COUNTS:
        steps = {label: make_step(name, kw, num_tasks) for label, name, kw in METHODS}
        timings = time_interleaved(steps)
        ew = timings["ew"]
        for label, timing in timings.items():
            ratio, cpu_ratio = timing["wall"] / ew["wall"], timing["cpu"] / ew["cpu"]
            metrics.append(
                {
                    "metric": f"seconds per step, {label}, K={num_tasks}",
                    "value": round(timing["wall"], 5),
                    "unit": "s",
                    "goal": None,
                    "anchor": None,
                    "met": None,
                    "method": label,
                    "num_tasks": num_tasks,
                    "ratio_to_ew": round(ratio, 2),
                    "cpu_seconds": round(timing["cpu"], 5),
                    "cpu_ratio_to_ew": round(cpu_ratio, 2),
                }
            )
            logger.info(
                "K=%2d %-9s wall %8.4f s (x%6.1f EW)  cpu %8.4f s (x%6.1f EW)",
                num_tasks,
                label,
                timing["wall"],
                ratio,
                timing["cpu"],
                cpu_ratio,
            )
    path = save_result(
        "mtl_cost",
        metrics,
        notes=(
            f"forward + weighting.backward, shared MLP {WIDTH}-{HIDDEN}-{WIDTH} "
            f"({n_shared} params), "
            f"representation width {WIDTH}, batch {BATCH}, one Linear head for K tasks, all tasks "
            f"present; median of {REPEATS} interleaved rounds (each timed call >= "
            f"{MIN_CALL_SECONDS} s of steps) after {WARMUP} warm-up steps; wall and process CPU "
            "time; torch 1 thread on a 2-core CPU shared with other jobs. Gradient methods: "
            "torchjd 0.18 Jacobian (vmap over all K rows) + torchjd weightings; CAGrad (Clarabel) "
            "and Nash-MTL (ECOS, up to 20 solves per step) via cvxpy."
        ),
    )
    logger.info("saved %s", path)


if __name__ == "__main__":
    main()
