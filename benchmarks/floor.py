"""The arithmetic floor of this machine: matmul GFLOP/s at the ViT-B shapes, and what each
speed benchmark would take if it ran at that rate.

A speed claim is a ratio measured in one run (machines differ: AMX, AVX512-BF16 without AMX,
AVX2 only, where bf16 is emulated and hyperct computes in float32, a GPU), so every speed
benchmark imports :func:`measure_floor` and records ``measured / floor`` beside its seconds.
Run alone it prints and saves the floor table (``floor_fp32`` where hyperct computes in float32):

    .venv/bin/python -m benchmarks.floor --threads 2

The FLOP counts are those of the dense matmuls (linear layers and attention); elementwise work,
norms and copies are what a real run adds on top, which is the point of the ratio.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from dataclasses import dataclass

from benchmarks.record import save_result

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViTShape:
    """The dimensions that set a ViT forward pass's FLOP count."""

    hidden: int = 768
    intermediate: int = 3072
    layers: int = 12
    image_size: int = 144
    patch: int = 16
    prefix_tokens: int = 5  # CLS + 4 registers

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch) ** 2 + self.prefix_tokens

    def matmul_shapes(self, images: int) -> list[tuple[int, int, int]]:
        """(M, K, N) of the four linear products of one block over ``images`` images."""
        rows = images * self.tokens
        h, f = self.hidden, self.intermediate
        return [(rows, h, 3 * h), (rows, h, h), (rows, h, f), (rows, f, h)]

    def forward_flops(self, images: int) -> float:
        """Multiply-adds x 2 of one forward pass over ``images`` images (linears + attention)."""
        linear = sum(2 * m * k * n for m, k, n in self.matmul_shapes(images))
        attention = 2 * 2 * images * self.tokens**2 * self.hidden  # QK^T and AV
        return float(self.layers * (linear + attention))


VIT_B = ViTShape()
IMAGES_PER_SCAN = 55


def case_flops(shape: ViTShape = VIT_B) -> dict[str, float]:
    """FLOPs of the benchmark cases; a frozen backbone's backward computes input gradients only,
    which cost one more forward's worth of matmuls."""
    scan = shape.forward_flops(IMAGES_PER_SCAN)
    return {
        "train step, batch 2 x 55 images": 2 * 2 * scan,
        "train step, batch 8 x 55 images": 8 * 2 * scan,
        "predict_all 25 tasks, 55 images": 25 * scan,
        "one backbone pass, 55 images": scan,
    }


def matmul_gflops(m: int, k: int, n: int, dtype: str, repeats: int = 5, device: str = "cpu") -> float:
    """Median GFLOP/s of an (m x k) @ (k x n) product in ``dtype`` on ``device``, written into
    one preallocated output: the arithmetic alone, whatever the process's allocator does with a
    fresh output per product (with ``return_freed_memory`` glibc maps and faults in each one:
    1,030-1,180 against 2,150-2,500 GFLOP/s measured in bf16 on an AMX CPU)."""
    import torch

    torch_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    a = torch.randn(m, k, device=device).to(torch_dtype)
    b = torch.randn(k, n, device=device).to(torch_dtype)
    out = torch.empty(m, n, dtype=torch_dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    inner = 1
    while True:  # enough products per timing that the clock's resolution does not matter
        sync()
        start = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b, out=out)
        sync()
        if time.perf_counter() - start > 0.2 or inner >= 4096:
            break
        inner *= 2
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b, out=out)
        sync()
        times.append((time.perf_counter() - start) / inner)
    return 2 * m * k * n / statistics.median(times) / 1e9


def measure_floor(dtype: str = "bf16", images: int = 16, device: str = "cpu") -> float:
    """The FLOP-weighted matmul rate (GFLOP/s) of one ViT-B block's products on this machine."""
    shapes = VIT_B.matmul_shapes(images)
    flops = [2 * m * k * n for m, k, n in shapes]
    seconds = sum(f / (matmul_gflops(m, k, n, dtype, device=device) * 1e9) for f, (m, k, n) in zip(flops, shapes))
    return sum(flops) / seconds / 1e9


def product_precision(device: str = "cpu") -> str:
    """The precision hyperct computes in on ``device``: ``"bf16"`` where it has bf16 arithmetic,
    else ``"fp32"`` (bf16 weights and autocast fall back there; emulated bf16 matmuls measured
    1 GFLOP/s against 120 in float32 on an AVX2 CPU)."""
    import torch

    from hyperct.inference.device import bf16_supported

    return "bf16" if bf16_supported(torch.device(device)) else "fp32"


def result_name(name: str, precision: str) -> str:
    """The results file of benchmark ``name`` run in ``precision``: float32 runs get ``_fp32``,
    so they never replace a bf16 machine's record."""
    return name if precision == "bf16" else f"{name}_{precision}"


def floor_seconds(case: str, gflops: float) -> float:
    """Seconds case ``case`` takes at ``gflops`` GFLOP/s."""
    return case_flops()[case] / (gflops * 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for dtype in ("bf16", "fp32"):
        for m, k, n in VIT_B.matmul_shapes(16):
            rate = matmul_gflops(m, k, n, dtype, device=args.device)
            logger.info("%s %dx%dx%d: %.0f GFLOP/s", dtype, m, k, n, rate)
            rows.append({"metric": f"matmul {dtype} {m}x{k}x{n}", "value": round(rate, 1),
                         "unit": "GFLOP/s", "goal": None, "anchor": None, "met": None})
        rate = measure_floor(dtype, device=args.device)
        rows.append({"metric": f"matmul {dtype}, ViT-B block mix", "value": round(rate, 1),
                     "unit": "GFLOP/s", "goal": None, "anchor": None, "met": None})
        for case, flops in case_flops().items():
            rows.append({"metric": f"floor {dtype}: {case}", "value": round(flops / (rate * 1e9), 3),
                         "unit": "s", "goal": None, "anchor": None, "met": None,
                         "tflop": round(flops / 1e12, 2)})
    precision = product_precision(args.device)
    name = "floor" if args.device == "cpu" else f"floor_{args.device.split(':')[0]}"
    save_result(
        result_name(name, precision),
        rows,
        f"{args.threads} threads on {args.device}; ViT-B/16 at 144x144 ({VIT_B.tokens} tokens/image); "
        f"hyperct computes in {precision} here",
    )


if __name__ == "__main__":
    main()
