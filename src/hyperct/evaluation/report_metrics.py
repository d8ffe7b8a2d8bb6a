"""Report-generation metrics, offline: BLEU-1..4, METEOR, ROUGE-L, CIDEr, CE-F1, CRG, diversity.

Inputs are two tables ``scan_id, report`` (generated and reference), one report per scan.

Tokenisation, used by every text metric here and by the cross-checks in the tests: lowercase,
then the tokens are the matches of :data:`TOKEN_PATTERN` - decimal numbers ("3.5"), and runs of
letters and digits that may be joined by a hyphen or an apostrophe ("well-defined"); all other
characters (punctuation) separate tokens and are dropped. The token lists, joined by single
spaces, go to pycocoevalcap's scorers, so its Java PTB tokenizer is not used.

* ``bleu_1`` .. ``bleu_4``: corpus BLEU (pycocoevalcap, brevity penalty on the closest
  reference length; no smoothing beyond its 1e-15 / 1e-9 guards against log 0).
* ``meteor``: METEOR 1.5 (the jar pycocoevalcap ships; needs Java), corpus score.
* ``rouge_l``: mean over reports of ROUGE-L F with beta = 1.2 (pycocoevalcap's definition).
* ``cider``: CIDEr (pycocoevalcap), document frequencies from the reference reports evaluated.
* ``ce_macro_f1``, ``crg``: see :mod:`hyperct.evaluation.clinical_efficacy`; their bootstrap
  CIs over exams are under ``ci`` in the JSON.
* ``distinct_reports``: distinct generated reports (as token sequences) / number of reports.
* ``distinct_2``: distinct bigrams / all bigrams over the generated corpus (bigrams within one
  report). A decoder that writes one report for every scan gets 1/N on both.

Metrics are in [0, 1] (CIDEr in [0, 10]); an undefined value (CRG with no reference positive,
distinct-2 without any bigram) is NaN, written as null in JSON.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.clinical_efficacy import (
    LabelScore,
    clinical_intervals,
    crg,
    label_scores,
    macro_f1,
    positive_labels,
)
from hyperct.io.atomic import write_text_atomic
from hyperct.labels.io import read_csv_text
from hyperct.labels.reports.table import ReportColumns, check_reports, text_problem

logger = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"\d+(?:\.\d+)+|[a-z0-9]+(?:['-][a-z0-9]+)*")
COLUMNS = ReportColumns(id_column="scan_id", text_column="report")
#: The keys of the metrics JSON, in order.
METRIC_KEYS = (
    "bleu_1",
    "bleu_2",
    "bleu_3",
    "bleu_4",
    "meteor",
    "rouge_l",
    "cider",
    "ce_macro_f1",
    "crg",
    "distinct_reports",
    "distinct_2",
)


@dataclass(frozen=True)
class ReportMetricsConfig:
    """meteor: run METEOR (starts Java, ~10 s to load its paraphrase table); off gives NaN.
    bootstrap: resamples of the exams for the CIs of ``ce_macro_f1`` and ``crg``."""

    meteor: bool = True
    bootstrap: BootstrapConfig = BootstrapConfig()


@dataclass
class ReportMetrics:
    """The corpus metrics (keys of :data:`METRIC_KEYS`), CE scores per finding, and bootstrap
    CIs (low, high) of the clinical metrics."""

    metrics: dict[str, float]
    ce_per_label: list[LabelScore]
    n_reports: int
    intervals: dict[str, tuple[float, float]]

    def to_json(self) -> str:
        """The metrics JSON: the metric keys at the top level; per-finding CE, CIs and the
        number of reports under their own keys."""
        payload: dict[str, Any] = {k: _json_number(v) for k, v in self.metrics.items()}
        payload["ce_per_label"] = [
            {k: _json_number(v) for k, v in asdict(s).items()} for s in self.ce_per_label
        ]
        payload["ci"] = {k: [_json_number(v) for v in ci] for k, ci in self.intervals.items()}
        payload["n_reports"] = self.n_reports
        return json.dumps(payload, indent=2) + "\n"


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of a report (see the module docstring)."""
    return TOKEN_PATTERN.findall(text.lower())


def report_metrics(
    generated: Sequence[str],
    reference: Sequence[str],
    config: ReportMetricsConfig = ReportMetricsConfig(),
) -> ReportMetrics:
    """All metrics for paired lists of generated and reference reports (same order)."""
    if len(generated) != len(reference) or not generated:
        raise ValueError(
            f"need one generated report per reference report, got {len(generated)} generated "
            f"and {len(reference)} reference"
        )
    gen_tokens = [tokenize(t) for t in generated]
    ref_tokens = [tokenize(t) for t in reference]
    metrics = _ngram_metrics(gen_tokens, ref_tokens, config)
    ref_pos, gen_pos = positive_labels(reference), positive_labels(generated)
    per_label = label_scores(ref_pos, gen_pos)
    metrics["ce_macro_f1"] = macro_f1(per_label)
    metrics["crg"] = crg(ref_pos, gen_pos)
    metrics.update(diversity(gen_tokens))
    return ReportMetrics(
        metrics={k: metrics[k] for k in METRIC_KEYS},
        ce_per_label=per_label,
        n_reports=len(generated),
        intervals=clinical_intervals(ref_pos, gen_pos, config.bootstrap),
    )


def diversity(token_lists: Sequence[Sequence[str]]) -> dict[str, float]:
    """``distinct_reports`` and ``distinct_2`` of a corpus of tokenised reports."""
    distinct = len({tuple(t) for t in token_lists}) / len(token_lists)
    bigrams = [(a, b) for tokens in token_lists for a, b in zip(tokens, tokens[1:])]
    distinct_2 = len(set(bigrams)) / len(bigrams) if bigrams else math.nan
    return {"distinct_reports": distinct, "distinct_2": distinct_2}


def read_report_table(path: str | Path) -> pd.DataFrame:
    """A ``scan_id, report`` CSV, checked: columns, unique ids, every report with words."""
    df = check_reports(read_csv_text(path), COLUMNS, source=str(path))
    bad = [
        f"row {i + 2} (scan_id {sid!r}): {problem}"
        for i, (sid, text) in enumerate(zip(df[COLUMNS.id_column], df[COLUMNS.text_column]))
        if (problem := text_problem(text))
    ]
    if bad:
        raise ValueError(f"{path}: {len(bad)} unusable report(s): " + "; ".join(bad[:10]))
    if df.empty:
        raise ValueError(f"{path}: no reports")
    return df


def paired_reports(generated: pd.DataFrame, reference: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Generated and reference texts in the reference's order; ids must match exactly."""
    gen = generated.set_index(COLUMNS.id_column)[COLUMNS.text_column]
    ref = reference.set_index(COLUMNS.id_column)[COLUMNS.text_column]
    no_gen = [i for i in ref.index if i not in gen.index]
    no_ref = [i for i in gen.index if i not in ref.index]
    if no_gen or no_ref:
        parts = []
        if no_gen:
            parts.append(f"{len(no_gen)} reference scan_id(s) have no generated report: "
                         f"{_id_list(no_gen)}")
        if no_ref:
            parts.append(f"{len(no_ref)} generated scan_id(s) have no reference report: "
                         f"{_id_list(no_ref)}")
        raise ValueError("report tables do not match; " + "; ".join(parts))
    return gen.loc[ref.index].tolist(), ref.tolist()


def evaluate_report_files(
    generated_path: str | Path,
    reference_path: str | Path,
    out_path: str | Path,
    config: ReportMetricsConfig = ReportMetricsConfig(),
) -> ReportMetrics:
    """Read both tables, compute the metrics and write the JSON atomically."""
    gen, ref = paired_reports(read_report_table(generated_path), read_report_table(reference_path))
    if config.meteor and shutil.which("java") is None:
        raise OSError("METEOR needs Java on the PATH (install a JRE, or skip it with --no-meteor)")
    result = report_metrics(gen, ref, config)
    write_text_atomic(out_path, result.to_json())
    logger.info("report metrics of %d reports written to %s", len(gen), out_path)
    return result


def _ngram_metrics(
    gen_tokens: list[list[str]], ref_tokens: list[list[str]], config: ReportMetricsConfig
) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    res = {i: [" ".join(t)] for i, t in enumerate(gen_tokens)}
    gts = {i: [" ".join(t)] for i, t in enumerate(ref_tokens)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"bleu_{n + 1}": float(b) for n, b in enumerate(bleu)}
    out["meteor"] = _meteor(gts, res) if config.meteor else math.nan
    out["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
    out["cider"] = float(Cider().compute_score(gts, res)[0])
    return out


def _meteor(gts: dict[int, list[str]], res: dict[int, list[str]]) -> float:
    from pycocoevalcap.meteor.meteor import Meteor

    return float(Meteor().compute_score(gts, res)[0])


def _id_list(ids: list[str], limit: int = 20) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def _json_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
