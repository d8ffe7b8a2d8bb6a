"""Fixtures for the report-generation parts: real CT-RATE reports, a tokenizer trained on them."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from hyperct.models.report.tokenizer import ReportTokenizer, TokenizerConfig


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads; one avoids spinning on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def ctrate_reports(shared_data: Path) -> list[str]:
    table = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv")
    return table["report_text"].tolist()


@pytest.fixture(scope="session")
def report_tokenizer(ctrate_reports: list[str]) -> ReportTokenizer:
    return ReportTokenizer.train(ctrate_reports, TokenizerConfig(vocab_size=2000))


@pytest.fixture(scope="session")
def short_reports(ctrate_reports: list[str]) -> list[str]:
    """Four distinct real report openings (first two sentences), short enough to overfit fast."""
    openings = [". ".join(r.split(". ")[:2]) + "." for r in ctrate_reports]
    distinct = [text for text in dict.fromkeys(openings) if len(text) <= 110]
    return distinct[:4]
