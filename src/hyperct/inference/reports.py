"""Generated reports of a report-writing run: one ``scan_id, report`` row per scan.

``reports.csv`` sits next to ``predictions.csv`` in a run folder and is the table
``hyperct evaluate-reports`` reads (generated text against the manifest's ``report_text``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from hyperct.inference.batch import to_device
from hyperct.inference.device import autocast
from hyperct.io.atomic import write_csv_atomic
from hyperct.models.interface import ReportGeneratingModel

logger = logging.getLogger(__name__)

REPORTS = "reports.csv"
COLUMNS: tuple[str, str] = ("scan_id", "report")


@torch.no_grad()
def generate_batches(
    model: ReportGeneratingModel, batches: Iterable[dict[str, Any]], device: torch.device,
    bf16: bool,
) -> pd.DataFrame:
    """The ``scan_id, report`` table of every scan the batches hold (eval mode); a 2.5D
    batch's ``image_mask`` keeps the padding of its shorter scans out of their reports."""
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()  # type: ignore[attr-defined]
    ids: list[str] = []
    texts: list[str] = []
    for batch in batches:
        batch = to_device(batch, device)
        with autocast(device, bf16):
            texts.extend(model.generate_reports(batch["image"], batch.get("image_mask")))
        ids.extend(str(s) for s in batch["scan_id"])
    model.train(was_training)  # type: ignore[attr-defined]
    return pd.DataFrame({COLUMNS[0]: ids, COLUMNS[1]: texts})


def write_reports(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a ``scan_id, report`` table atomically, sorted by scan id."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: a reports table needs the columns {list(COLUMNS)}; "
                         f"missing {missing}")
    out = table[list(COLUMNS)].sort_values(COLUMNS[0], kind="stable").reset_index(drop=True)
    write_csv_atomic(out, path)
    logger.info("wrote %d generated reports to %s", len(out), path)
    return Path(path)
