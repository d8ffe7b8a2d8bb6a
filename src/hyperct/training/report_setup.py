"""What a report-writing run needs besides the common loop: its tokenizer, trained on the
training split's ``report_text`` before the model is built, and the validation loss that
selects its best epoch (teacher-forced mean token cross-entropy over the val reports)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd
import torch

from hyperct.config.run import TrainConfig
from hyperct.inference.batch import to_device
from hyperct.inference.device import autocast
from hyperct.models.interface import ReportGeneratingModel

logger = logging.getLogger(__name__)

REPORT_COLUMN = "report_text"


class NoReportTextError(ValueError):
    """A report run whose training split has no report text; the message names the field."""


def training_reports(manifest: pd.DataFrame, cohort: str | None, source: str) -> list[str]:
    """The non-empty ``report_text`` of the training scans; none at all is an error."""
    if REPORT_COLUMN not in manifest.columns:
        raise NoReportTextError(
            f"{source}: the manifest has no {REPORT_COLUMN!r} column; a report model trains on "
            "each training scan's report text"
        )
    rows = manifest[manifest["split"] == "train"]
    if cohort is not None:
        rows = rows[rows["cohort"] == cohort]
    texts = [v.strip() for v in rows[REPORT_COLUMN] if isinstance(v, str) and v.strip()]
    if not texts:
        raise NoReportTextError(
            f"{source}: no training scan has text in {REPORT_COLUMN!r} "
            f"({len(rows)} training rows, all empty)"
        )
    if len(texts) < len(rows):
        logger.warning("%s: %d of %d training scans have no %s; they contribute no loss",
                       source, len(rows) - len(texts), len(rows), REPORT_COLUMN)
    return texts


def report_assets(cfg: TrainConfig, manifest: pd.DataFrame) -> dict[str, Any]:
    """``{"tokenizer": state}``: a tokenizer trained on the run's training reports."""
    from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig

    texts = training_reports(manifest, cfg.data.train_cohort, cfg.data.manifest)
    tokenizer = ReportTokenizer.train(texts, TokenizerConfig(vocab_size=cfg.report.vocab_size))
    logger.info("report tokenizer: %d entries from %d training reports",
                tokenizer.vocab_size, len(texts))
    return {"tokenizer": tokenizer.to_state()}


@torch.no_grad()
def report_loss(
    model: ReportGeneratingModel, batches: Iterable[dict[str, Any]], device: torch.device,
    bf16: bool,
) -> tuple[float, int]:
    """The summed teacher-forced loss (each batch's mean token loss times its reports) over
    the batches' scans with report text, and how many reports that was."""
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()  # type: ignore[attr-defined]
    total, count = 0.0, 0
    for batch in batches:
        texts = batch.get(REPORT_COLUMN) or []
        keep = [i for i, text in enumerate(texts) if text]
        if not keep:
            continue
        batch = to_device(batch, device)
        with autocast(device, bf16):
            loss = model.report_loss(batch["image"][keep], [texts[i] for i in keep])
        total, count = total + float(loss) * len(keep), count + len(keep)
    model.train(was_training)  # type: ignore[attr-defined]
    return total, count
