"""HyperCT at paper scale on a GPU: the cases of ``benchmarks/gpu.sh``.

Random ViT-B/16 (bf16 weights), 55 images of 144 x 144 per CT. Cases: a training step at batch
8 x 55 (forward, backward, AdamW; time and peak GPU memory), all 25 tasks of one CT
(``predict_all``), and batch prediction throughput (CTs/s, 25 tasks each). The matmul floor of
the same GPU is measured in the same run (``benchmarks.floor``), so each row carries
``measured / floor``. Results go to ``benchmarks/results/gpu_hyperct.json``.

    python -m benchmarks.gpu --device cuda            # what gpu.sh runs
    python -m benchmarks.gpu --device cpu --smoke     # a seconds-long check of the code path
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.floor import case_flops, measure_floor
from benchmarks.record import save_result

logger = logging.getLogger(__name__)


def _timed(fn: Callable[[], Any], sync: Callable[[], None], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def _model(device: str, smoke: bool) -> Any:
    import torch

    from hyperct.models.hyperct import HyperCT, HyperCTConfig

    torch.manual_seed(0)
    fields: dict[str, Any] = {"backbone_dtype": "bfloat16"}
    if smoke:
        fields.update(backbone="dinov3-tiny", rank=2, task_dim=8, module_dim=4, latent_dim=8,
                      hyper_output_dim=8, num_residual_blocks=1)
    return HyperCT(HyperCTConfig(**fields)).to(device)


def run(device: str, smoke: bool, repeats: int) -> list[dict[str, Any]]:
    """Time the three cases on ``device``; the rows of the result file."""
    import torch

    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    images_per_ct, size = (11, 32) if smoke else (55, 144)
    train_batch, throughput_batch = (2, 2) if smoke else (8, 4)
    model = _model(device, smoke)
    rows: list[dict[str, Any]] = []
    floor = None if smoke else measure_floor("bf16", device=device)
    flops = case_flops()

    def row(metric: str, seconds: list[float], case: str | None, **extra: Any) -> dict[str, Any]:
        median = statistics.median(seconds)
        ratio = median / (flops[case] / (floor * 1e9)) if floor and case else None
        logger.info("%s: %.4f s%s", metric, median, f" ({ratio:.2f}x floor)" if ratio else "")
        return {"metric": metric, "value": round(median, 4), "unit": "s", "goal": None,
                "anchor": None, "met": None, "times_s": seconds,
                "vs_floor": round(ratio, 2) if ratio else None, **extra}

    images = torch.randn(train_batch, images_per_ct, 3, size, size, device=device)
    mask = torch.ones(train_batch, images_per_ct, dtype=torch.bool, device=device)
    task_ids = torch.arange(train_batch, device=device) * 3 % 25
    labels = torch.ones(train_batch, device=device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=cuda)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16):
            logits = model(images, mask, task_ids)
        torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels).backward()
        optimizer.step()

    model.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = _timed(step, sync, repeats, warmup=2)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    rows.append(row(f"train step, batch {train_batch} x {images_per_ct} images, bf16",
                    times, None if smoke else "train step, batch 8 x 55 images",
                    peak_gpu_memory_gib=round(peak, 2) if peak else None))

    model.eval()
    for batch in (1, throughput_batch):
        scans = torch.randn(batch, images_per_ct, 3, size, size, device=device)
        scan_mask = torch.ones(batch, images_per_ct, dtype=torch.bool, device=device)

        def predict() -> None:
            with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16):
                model.predict_all(scans, scan_mask)

        times = _timed(predict, sync, repeats, warmup=1)
        if batch == 1:
            rows.append(row(f"predict_all 25 tasks, one CT of {images_per_ct} images", times,
                            None if smoke else "predict_all 25 tasks, 55 images"))
        else:
            rate = batch / statistics.median(times)
            logger.info("batch prediction: %.2f CTs/s", rate)
            rows.append({"metric": f"batch prediction throughput, {batch} CTs per pass, 25 tasks",
                         "value": round(rate, 3), "unit": "CTs/s", "goal": None, "anchor": None,
                         "met": None, "times_s": times})
    if floor:
        rows.append({"metric": "matmul bf16, ViT-B block mix", "value": round(floor, 1),
                     "unit": "GFLOP/s", "goal": None, "anchor": None, "met": None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny model and input: checks the code path only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = run(args.device, args.smoke, args.repeats)
    if not args.smoke:
        save_result("gpu_hyperct", rows, f"random ViT-B/16 in bf16 on {args.device}")


if __name__ == "__main__":
    main()
