"""Clinical efficacy of generated reports: CE precision / recall / F1 per finding, and CRG.

Both the generated and the reference report are labelled by the project's rules labeler
(:func:`hyperct.labels.reports.rules.label_report`) for the 18 conventional findings. A label
counts as positive only when it is 1; 0 (stated absent) and -1 (not mentioned) both count as
negative, the usual clinical-efficacy convention: a report that never names a finding does not
claim it.

Per finding, over the N exams: precision TP / (TP + FP), recall TP / (TP + FN),
F1 = 2 TP / (2 TP + FP + FN). A finding that is positive in no reference and no generated report
has no defined F1 (null) and is left out of the macro mean; a finding positive only in generated
reports has F1 0, one positive only in references F1 0.

CRG (arXiv 2505.17167, the VLM3D challenge's primary metric) pools the 18 x N decisions:
X = 18 N, A = reference positives, r = (X - A) / (2 A), U = (X - A) / 2,
s = r TP - r FN - FP, CRG = U / (2 U - s). It is 1 for a perfect labelling, 1/3 for a decoder
that never reports a finding and 0.2 for one that gets every decision wrong. It is undefined
(NaN) when A = 0 (r divides by zero) and when A = X (U = 0, so CRG is 0 / 0).

:func:`clinical_intervals` gives percentile bootstrap CIs of both, exams being the resampling
unit (as scans are for the AUCs); a resample's macro-F1 averages the findings with a defined F1
at the point estimate that are still defined in that resample.

>>> import numpy as np
>>> ref = np.array([[1, 0], [0, 0]]); gen = np.array([[1, 0], [0, 0]])
>>> crg(ref.astype(bool), gen.astype(bool))
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperct.evaluation.auc import resample_counts
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.labels.reports.outcome import FINDINGS
from hyperct.labels.reports.rules import label_report


@dataclass(frozen=True)
class LabelScore:
    """CE counts and scores of one finding over the exams (precision, recall, F1 may be NaN)."""

    finding: str
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


def positive_labels(reports: Sequence[str]) -> np.ndarray:
    """Rules-labeler positives of each report, shape (reports, 18 findings), bool."""
    out = np.zeros((len(reports), len(FINDINGS)), dtype=bool)
    for i, text in enumerate(reports):
        labels = label_report(text).labels
        out[i] = [labels[f] == 1 for f in FINDINGS]
    return out


def label_scores(reference: np.ndarray, generated: np.ndarray) -> list[LabelScore]:
    """Per-finding CE scores from positives of shape (exams, 18)."""
    tp, fp, fn = _confusion(reference, generated)
    f1 = _f1(tp, fp, fn)
    return [
        LabelScore(
            finding=name,
            tp=int(tp[j]),
            fp=int(fp[j]),
            fn=int(fn[j]),
            precision=_ratio(tp[j], tp[j] + fp[j]),
            recall=_ratio(tp[j], tp[j] + fn[j]),
            f1=float(f1[j]),
        )
        for j, name in enumerate(FINDINGS)
    ]


def macro_f1(scores: Sequence[LabelScore]) -> float:
    """Mean F1 over the findings with a defined F1; NaN when none has one."""
    defined = [s.f1 for s in scores if not math.isnan(s.f1)]
    return float(np.mean(defined)) if defined else math.nan


def crg(reference: np.ndarray, generated: np.ndarray) -> float:
    """CRG over all (exam, finding) decisions; NaN when A = 0 or A = X (see module docstring)."""
    tp, fp, fn = (c.sum() for c in _confusion(reference, generated))
    return float(_crg(reference.size, tp + fn, tp, fp))


def clinical_intervals(
    reference: np.ndarray, generated: np.ndarray, config: BootstrapConfig = BootstrapConfig()
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of ``ce_macro_f1`` and ``crg`` over bootstrap resamples of the exams."""
    _check_shapes(reference, generated)
    counts = resample_counts(len(reference), config.n_resamples, config.seed).astype(float)
    tp, fp, fn = (counts @ c for c in _confusion_per_exam(reference, generated))
    defined = (reference | generated).any(axis=0)  # F1 defined at the point estimate
    f1 = np.where(defined, _f1(tp, fp, fn), np.nan)
    n_defined = np.sum(~np.isnan(f1), axis=1)
    macro = np.where(n_defined > 0, np.nansum(f1, axis=1) / np.maximum(n_defined, 1), np.nan)
    tp_all, fn_all = tp.sum(axis=1), fn.sum(axis=1)
    crgs = _crg(reference.size, tp_all + fn_all, tp_all, fp.sum(axis=1))
    return {"ce_macro_f1": _percentiles(macro, config), "crg": _percentiles(crgs, config)}


def _confusion_per_exam(
    reference: np.ndarray, generated: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN indicators, each (exams, findings)."""
    _check_shapes(reference, generated)
    return reference & generated, ~reference & generated, reference & ~generated


def _confusion(
    reference: np.ndarray, generated: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN counts per finding."""
    return tuple(c.sum(axis=0) for c in _confusion_per_exam(reference, generated))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / den, np.nan)


def _crg(x: int, a: np.ndarray, tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """CRG from pooled counts (X decisions, A reference positives); NaN where A = 0 or A = X.

    U / (2U - s) with r = (X - A) / 2A, U = (X - A) / 2, s = r TP - r FN - FP, multiplied
    through by 2A so that only products of counts remain: a perfect report set scores exactly
    1 (the fractions r and U rounded it to 1 + 2e-16 for some A).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        num = a * (x - a)
        den = (x - a) * (3 * a - 2 * tp) + 2 * a * fp
        return np.where((a > 0) & (a < x), num / den, np.nan)


def _percentiles(values: np.ndarray, config: BootstrapConfig) -> tuple[float, float]:
    valid = values[~np.isnan(values)]
    if not len(valid):
        return math.nan, math.nan
    low, high = np.percentile(valid, config.percentiles)
    return float(low), float(high)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


def _check_shapes(reference: np.ndarray, generated: np.ndarray) -> None:
    if reference.shape != generated.shape or reference.ndim != 2:
        raise ValueError(
            f"reference {reference.shape} and generated {generated.shape} labels must be "
            "(exams, findings) arrays of one shape"
        )
