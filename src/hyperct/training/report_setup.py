"""What a report-writing run needs besides the common loop: its tokenizer, trained on the
training split's ``report_text`` before the model is built (the validation loss that selects
its best epoch is its objective's, :meth:`~hyperct.training.objectives.Objective.validation_loss`)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from hyperct.config.run import TrainConfig

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
