"""Fixtures of the UniCT tests: a report tokenizer and a tiny-model factory."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from unict_helpers import REPORTS, tiny_config

from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig
from hyperct.models.unict import UniCT


@pytest.fixture(scope="session")
def tokenizer() -> ReportTokenizer:
    return ReportTokenizer.train(REPORTS * 4, TokenizerConfig(vocab_size=300, min_frequency=1))


@pytest.fixture
def make_model(tokenizer: ReportTokenizer):
    """``make_model(encoder, report=True, **config)``: a tiny UniCT, seeded, in eval mode."""

    def make(encoder: str = "volume3d", report: bool = True, **overrides: Any) -> UniCT:
        torch.manual_seed(0)
        if not report:
            overrides.setdefault("supervise_report", False)
        config = tiny_config(encoder, **overrides)
        return UniCT(config, tokenizer=tokenizer if report else None).eval()

    return make
