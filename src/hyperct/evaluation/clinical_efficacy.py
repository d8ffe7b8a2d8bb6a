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
    _check_shapes(reference, generated)
    tp = (reference & generated).sum(axis=0)
    fp = (~reference & generated).sum(axis=0)
    fn = (reference & ~generated).sum(axis=0)
    return [
        LabelScore(
            finding=name,
            tp=int(tp[j]),
            fp=int(fp[j]),
            fn=int(fn[j]),
            precision=_ratio(tp[j], tp[j] + fp[j]),
            recall=_ratio(tp[j], tp[j] + fn[j]),
            f1=_ratio(2 * tp[j], 2 * tp[j] + fp[j] + fn[j]),
        )
        for j, name in enumerate(FINDINGS)
    ]


def macro_f1(scores: Sequence[LabelScore]) -> float:
    """Mean F1 over the findings with a defined F1; NaN when none has one."""
    defined = [s.f1 for s in scores if not math.isnan(s.f1)]
    return float(np.mean(defined)) if defined else math.nan


def crg(reference: np.ndarray, generated: np.ndarray) -> float:
    """CRG over all (exam, finding) decisions; NaN when A = 0 or A = X (see module docstring)."""
    _check_shapes(reference, generated)
    x = reference.size
    a = int(reference.sum())
    if a == 0 or a == x:
        return math.nan
    tp = int((reference & generated).sum())
    fn = a - tp
    fp = int((~reference & generated).sum())
    r = (x - a) / (2 * a)
    u = (x - a) / 2
    s = r * tp - r * fn - fp
    return u / (2 * u - s)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


def _check_shapes(reference: np.ndarray, generated: np.ndarray) -> None:
    if reference.shape != generated.shape or reference.ndim != 2:
        raise ValueError(
            f"reference {reference.shape} and generated {generated.shape} labels must be "
            "(exams, findings) arrays of one shape"
        )
