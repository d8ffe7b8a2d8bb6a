"""Where the time of HyperCT's prediction and training step goes: top ops by self CPU time.

A reduced size that runs in seconds (random ViT-B/16 at 144 x 144, bf16 weights where the CPU
has bf16 arithmetic and float32 weights elsewhere, as hyperct runs there; 11 images per scan,
5 tasks for ``predict_all``; batch 2 x 11 images for the training step), so the op mix is that
of the full benchmark while the run stays short. Each part is saved as
``benchmarks/results/profile_<part>.json`` (``_fp32`` appended in float32) with one row per op
(self CPU share and call count).

    .venv/bin/python -m benchmarks.profile --parts predict train --images 11
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import Any

from benchmarks.floor import product_precision, result_name
from benchmarks.record import save_result
from hyperct.inference.heap import allocator

logger = logging.getLogger(__name__)

TOP_OPS = 15


def _model(checkpointing: str) -> Any:
    import torch

    from hyperct.models.hyperct import HyperCT, HyperCTConfig

    torch.manual_seed(0)
    config = HyperCTConfig(
        backbone_dtype="bfloat16" if product_precision() == "bf16" else "float32",
        activation_checkpointing=checkpointing != "none",
        checkpointing="full" if checkpointing == "none" else checkpointing,
    )
    return HyperCT(config)


def predict_fn(images: int, tasks: int) -> Callable[[], None]:
    """``predict_all`` of ``tasks`` tasks on one scan of ``images`` images (each task in a
    pass of its own, its LoRA merged into the weights)."""
    import torch

    model = _model(checkpointing="none").eval()
    pixels = torch.randn(1, images, 3, 144, 144)
    mask = torch.ones(1, images, dtype=torch.bool)

    def run() -> None:
        with torch.inference_mode():
            model.predict_all(pixels, mask, tasks=list(range(tasks)))

    return run


def train_fn(images: int, checkpointing: str = "none") -> Callable[[], None]:
    """One training step (forward, backward, AdamW) on batch 2 x ``images`` with two tasks;
    ``checkpointing``: ``"none"``, ``"light"``, ``"selective"`` or ``"full"``."""
    import torch

    model = _model(checkpointing=checkpointing).train()
    pixels = torch.randn(2, images, 3, 144, 144)
    mask = torch.ones(2, images, dtype=torch.bool)
    task_ids = torch.tensor([0, 7])
    labels = torch.ones(2)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True
    )

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(pixels, mask, task_ids)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
        optimizer.step()

    return run


def profile_rows(fn: Callable[[], None], top: int = TOP_OPS) -> tuple[list[dict[str, Any]], float]:
    """Top ``top`` ops by self CPU time of one call of ``fn`` after two warm-up calls: the
    second call of a training step still faults in fresh pages for the optimizer's state and
    the allocator's first large blocks, which the profile would charge to ``copy_``."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total_us = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [
        {
            "metric": f"self CPU share: {e.key}",
            "value": round(100 * e.self_cpu_time_total / total_us, 1),
            "unit": "%",
            "goal": None,
            "anchor": None,
            "met": None,
            "self_cpu_s": round(e.self_cpu_time_total / 1e6, 3),
            "calls": e.count,
        }
        for e in events[:top]
    ]
    return rows, total_us / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["predict", "train"])
    parser.add_argument("--images", type=int, default=11)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--checkpointing",
        choices=("none", "light", "selective", "full"),
        default="none",
        help="activation checkpointing of the training step",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.set_num_threads(args.threads)
    precision = product_precision()
    for part in args.parts:
        if part == "predict":
            fn = predict_fn(args.images, args.tasks)
            what = f"predict_all, {args.tasks} tasks, 1 x {args.images} images"
        elif part == "train":
            fn = train_fn(args.images, args.checkpointing)
            what = (
                f"training step, checkpointing {args.checkpointing}, batch 2 x {args.images} images"
            )
        else:
            raise SystemExit(f"unknown part {part!r}; use predict, train")
        load = os.getloadavg()[0]
        rows, total_s = profile_rows(fn)
        for row in rows:
            logger.info("%6.1f %%  %6d calls  %s", row["value"], row["calls"], row["metric"])
        notes = (
            f"{what}; random ViT-B/16 {precision} weights at 144x144, {args.threads} threads, "
            f"{allocator()}'s malloc; "
            f"{total_s:.2f} s self CPU in total; load average {load:.1f} on {os.cpu_count()} "
            "cores (shared machine: shares are meaningful, seconds less so)"
        )
        save_result(result_name(f"profile_{part}", precision), rows, notes)


if __name__ == "__main__":
    main()
