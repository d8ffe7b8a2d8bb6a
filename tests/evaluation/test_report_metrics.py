"""Report metrics on real CT-RATE report text, cross-checked against sacrebleu and rouge-score.

Tokenisation in every comparison is hyperct's own (``tokenize``), handed to sacrebleu as
space-joined tokens with ``tokenize="none"`` and to rouge-score as its tokenizer, so the
libraries see exactly the tokens pycocoevalcap sees.
"""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from hyperct.evaluation.report_metrics import (
    METRIC_KEYS,
    ReportMetricsConfig,
    diversity,
    evaluate_report_files,
    report_metrics,
    tokenize,
)

NO_METEOR = ReportMetricsConfig(meteor=False)


@pytest.fixture(scope="module")
def ctrate_reports(shared_data: Path) -> list[str]:
    table = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv", nrows=32)
    return table["report_text"].tolist()


@pytest.fixture(scope="module")
def pairs(ctrate_reports: list[str]) -> tuple[list[str], list[str]]:
    """Generated = another scan's real report, so every score is between the extremes."""
    return ctrate_reports[16:32], ctrate_reports[:16]


@pytest.fixture(scope="module")
def scored(pairs: tuple[list[str], list[str]]):
    return report_metrics(*pairs, config=NO_METEOR)


def test_tokenize_keeps_decimals_and_hyphenated_words_and_drops_punctuation() -> None:
    assert tokenize("Well-defined 3.5 mm nodule, (left) lobe; patient's.") == [
        "well-defined", "3.5", "mm", "nodule", "left", "lobe", "patient's",
    ]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_corpus_bleu_agrees_with_sacrebleu(pairs, scored, order: int) -> None:
    gen, ref = pairs
    bleu = BLEU(tokenize="none", smooth_method="none", max_ngram_order=order)
    expected = bleu.corpus_score(
        [" ".join(tokenize(t)) for t in gen], [[" ".join(tokenize(t)) for t in ref]]
    ).score / 100
    # Same formula; pycocoevalcap only adds 1e-15 / 1e-9 to each n-gram count and total.
    assert 0.05 < expected < 0.9
    assert scored.metrics[f"bleu_{order}"] == pytest.approx(expected, rel=1e-6)


def test_rouge_l_agrees_with_rouge_score(pairs, scored) -> None:
    class Tokens:
        def tokenize(self, text: str) -> list[str]:
            return tokenize(text)

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Tokens())
    beta2 = 1.2**2  # pycocoevalcap's ROUGE-L is F with beta 1.2 from the same LCS P and R
    f_values = []
    for g, r in zip(*pairs):
        s = scorer.score(r, g)["rougeL"]
        p, rec = s.precision, s.recall
        f_values.append((1 + beta2) * p * rec / (rec + beta2 * p) if p and rec else 0.0)
    assert scored.metrics["rouge_l"] == pytest.approx(sum(f_values) / len(f_values), rel=1e-9)


def test_identical_reports_score_perfectly(ctrate_reports) -> None:
    refs = ctrate_reports[:12]
    out = report_metrics(refs, refs, config=NO_METEOR).metrics
    assert out["bleu_4"] == pytest.approx(1.0, abs=1e-9)
    assert out["rouge_l"] == pytest.approx(1.0)
    assert out["ce_macro_f1"] == 1.0 and out["crg"] == 1.0
    assert math.isnan(out["meteor"])


def test_one_report_for_every_scan_scores_visibly_badly(ctrate_reports, scored) -> None:
    refs = ctrate_reports[:12]
    constant = report_metrics([refs[1]] * len(refs), refs, config=NO_METEOR).metrics
    assert constant["distinct_reports"] == pytest.approx(1 / len(refs))
    assert constant["distinct_2"] <= 1 / len(refs)
    assert scored.metrics["distinct_reports"] > 0.9
    assert scored.metrics["distinct_2"] > 5 * constant["distinct_2"]


def test_diversity_counts_distinct_reports_and_bigrams() -> None:
    out = diversity([["a", "b", "c"], ["a", "b", "c"], ["a", "b", "d"]])
    assert out["distinct_reports"] == pytest.approx(2 / 3)
    assert out["distinct_2"] == pytest.approx(3 / 6)  # ab, bc, bd of 6 bigrams
    assert math.isnan(diversity([["a"], ["b"]])["distinct_2"])


def test_metrics_have_exactly_the_contract_keys(scored) -> None:
    assert tuple(scored.metrics) == METRIC_KEYS
    payload = json.loads(scored.to_json())
    assert set(payload) == {*METRIC_KEYS, "ce_per_label", "ci", "n_reports"}
    for key in ("ce_macro_f1", "crg"):
        low, high = payload["ci"][key]
        assert low <= payload[key] <= high
    assert payload["meteor"] is None and len(payload["ce_per_label"]) == 18


def _table(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["scan_id", "report"]).to_csv(path, index=False)
    return path


def test_files_in_any_order_are_paired_by_scan_id(tmp_path, ctrate_reports) -> None:
    ids = [f"scan_{i}" for i in range(6)]
    gen = _table(tmp_path / "gen.csv", list(zip(ids[::-1], ctrate_reports[:6][::-1])))
    ref = _table(tmp_path / "ref.csv", list(zip(ids, ctrate_reports[:6])))
    result = evaluate_report_files(gen, ref, tmp_path / "m.json", config=NO_METEOR)
    assert result.metrics["bleu_4"] == pytest.approx(1.0, abs=1e-9)
    assert json.loads((tmp_path / "m.json").read_text())["n_reports"] == 6


def test_unmatched_ids_are_listed(tmp_path, ctrate_reports) -> None:
    gen = _table(tmp_path / "gen.csv", [("a", ctrate_reports[0]), ("x", ctrate_reports[1])])
    ref = _table(tmp_path / "ref.csv", [("a", ctrate_reports[0]), ("b", ctrate_reports[1])])
    with pytest.raises(ValueError, match=r"no generated report: b;.*no reference report: x"):
        evaluate_report_files(gen, ref, tmp_path / "m.json", config=NO_METEOR)
    assert not (tmp_path / "m.json").exists()


def test_an_empty_report_is_named_by_row_and_id(tmp_path, ctrate_reports) -> None:
    gen = _table(tmp_path / "gen.csv", [("a", ctrate_reports[0]), ("b", "  ")])
    ref = _table(tmp_path / "ref.csv", [("a", ctrate_reports[0]), ("b", ctrate_reports[1])])
    with pytest.raises(ValueError, match=r"gen.csv: 1 unusable.*row 3 \(scan_id 'b'\): empty"):
        evaluate_report_files(gen, ref, tmp_path / "m.json", config=NO_METEOR)


def test_a_missing_column_is_named(tmp_path) -> None:
    path = tmp_path / "gen.csv"
    pd.DataFrame({"scan_id": ["a"], "text": ["Normal."]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['report'\]"):
        evaluate_report_files(path, path, tmp_path / "m.json", config=NO_METEOR)


@pytest.mark.slow
def test_meteor_runs_offline_from_the_shipped_jar(ctrate_reports) -> None:
    refs = ctrate_reports[:4]
    half_right = [refs[0], refs[1], refs[3], refs[2]]  # one Java start: it loads for seconds
    meteor = report_metrics(half_right, refs).metrics["meteor"]
    assert 0.3 < meteor < 0.95
