"""Hypernetwork parameter counts per LoRA configuration (paper Table 3 style), ViT-B/16.

Models are built on the ``meta`` device, so counting needs neither memory nor time for weights.

    .venv/bin/python -m benchmarks.model_params
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from benchmarks.record import save_result
from hyperct.models.hypernetwork import parameter_count
from hyperct.models.hyperct import HyperCT, HyperCTConfig

logger = logging.getLogger(__name__)

AUTHORS_TOTAL_M = 171.0
RANKS = (4, 8, 16, 32)
MODULE_SETS = ("attention", "mlp", "all")


def count(rank: int, modules: str, adapt_last_k: int | None = None) -> dict[str, int]:
    """Hypernetwork parameters by part for one configuration."""
    with torch.device("meta"):
        model = HyperCT(
            HyperCTConfig(
                rank=rank, alpha=float(rank), lora_modules=modules, adapt_last_k=adapt_last_k
            )
        )
    counts = parameter_count(model.hypernetwork)
    counts["modules"] = len(model.module_names)
    counts["head"] = sum(p.numel() for p in model.head.parameters())
    return counts


def _row(rank: int, modules: str, adapt_last_k: int | None) -> dict[str, Any]:
    counts = count(rank, modules, adapt_last_k)
    blocks = "all blocks" if adapt_last_k is None else f"last {adapt_last_k} blocks"
    paper = rank == 16 and modules == "all" and adapt_last_k is None
    total_m = counts["total"] / 1e6
    logger.info("r=%d %s %s: %.1f M", rank, modules, blocks, total_m)
    return {
        "metric": f"hypernetwork parameters (r={rank}, {modules}, {blocks})",
        "value": round(total_m, 3),
        "unit": "M",
        "goal": "< authors' 171 M" if paper else None,
        "anchor": f"{AUTHORS_TOTAL_M} M (authors, r=16, all, head input 768)" if paper else None,
        "met": total_m < AUTHORS_TOTAL_M if paper else None,
        **{k: v for k, v in counts.items()},
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("hyperct.models.backbones.dinov3").setLevel(logging.ERROR)
    rows = [_row(rank, modules, None) for rank in RANKS for modules in MODULE_SETS]
    rows += [_row(16, "all", k) for k in (4, 6, 8)]
    notes = (
        "task embedding 512, module embedding 64, latent 128, output 512, one head per module type "
        "(q, k, v, o, up, down) emitting r*(d_in+d_out); embeddings count the 25 task rows"
    )
    save_result("model_params", rows, notes)


if __name__ == "__main__":
    main()
