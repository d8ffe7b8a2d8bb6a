"""CE-F1 and CRG: hand-computed counts, the undefined cases, and labels from real sentences."""

import math

import numpy as np
import pytest

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.clinical_efficacy import (
    clinical_intervals,
    crg,
    label_scores,
    macro_f1,
    positive_labels,
)
from hyperct.labels.reports.outcome import FINDINGS


def _labels(n: int, positives: list[tuple[int, int]]) -> np.ndarray:
    out = np.zeros((n, len(FINDINGS)), dtype=bool)
    for exam, finding in positives:
        out[exam, finding] = True
    return out


def test_positive_labels_count_only_present_findings() -> None:
    text = "No pleural effusion. Minimal atelectasis in the left lower lobe."
    row = dict(zip(FINDINGS, positive_labels([text])[0]))
    assert row["Atelectasis"]
    assert not row["Pleural effusion"]  # stated absent (0)
    assert not row["Emphysema"]  # never mentioned (-1)


def test_label_scores_match_hand_counts() -> None:
    ref = _labels(3, [(0, 0), (1, 0), (2, 0), (0, 1)])
    gen = _labels(3, [(0, 0), (1, 0), (1, 1), (2, 2)])
    scores = {s.finding: s for s in label_scores(ref, gen)}
    first = scores[FINDINGS[0]]
    assert (first.tp, first.fp, first.fn) == (2, 0, 1)
    assert first.precision == 1.0 and first.recall == pytest.approx(2 / 3)
    assert first.f1 == pytest.approx(0.8)
    assert (scores[FINDINGS[1]].tp, scores[FINDINGS[1]].fp, scores[FINDINGS[1]].fn) == (0, 1, 1)
    assert scores[FINDINGS[1]].f1 == 0.0
    assert scores[FINDINGS[2]].f1 == 0.0 and math.isnan(scores[FINDINGS[2]].recall)
    assert math.isnan(scores[FINDINGS[3]].f1)  # positive nowhere: no F1


def test_macro_f1_leaves_out_findings_positive_nowhere() -> None:
    ref = _labels(3, [(0, 0), (1, 0), (2, 0), (0, 1)])
    gen = _labels(3, [(0, 0), (1, 0), (1, 1), (2, 2)])
    assert macro_f1(label_scores(ref, gen)) == pytest.approx((0.8 + 0.0 + 0.0) / 3)
    none = np.zeros((2, len(FINDINGS)), dtype=bool)
    assert math.isnan(macro_f1(label_scores(none, none)))


def test_crg_on_a_hand_computed_case() -> None:
    # X = 36, A = 4, TP = 3, FN = 1, FP = 2: r = 32 / 8 = 4, U = 16, s = 12 - 4 - 2 = 6.
    ref = _labels(2, [(0, 0), (0, 1), (1, 2), (1, 3)])
    gen = _labels(2, [(0, 0), (0, 1), (1, 2), (0, 5), (1, 6)])
    assert crg(ref, gen) == pytest.approx(16 / (32 - 6))


def test_crg_bounds_perfect_silent_and_all_wrong() -> None:
    ref = _labels(4, [(0, 0), (1, 3), (2, 3), (3, 17)])
    assert crg(ref, ref) == pytest.approx(1.0)
    assert crg(ref, np.zeros_like(ref)) == pytest.approx(1 / 3)
    assert crg(ref, ~ref) == pytest.approx(0.2)


@pytest.mark.parametrize("exams, positives", [(2, 7), (12, 37), (30, 101)])
def test_a_perfect_report_set_scores_exactly_one(exams: int, positives: int) -> None:
    # The fractions r and U of the formula rounded some of these to 1 + 2e-16.
    cells = [(i // len(FINDINGS), i % len(FINDINGS)) for i in range(0, 3 * positives, 3)]
    ref = _labels(exams, cells)
    assert ref.sum() == positives
    assert crg(ref, ref) == 1.0
    low, high = clinical_intervals(ref, ref, BootstrapConfig(n_resamples=50))["crg"]
    assert low == high == 1.0


def test_crg_is_undefined_without_positives_or_negatives() -> None:
    none = np.zeros((3, len(FINDINGS)), dtype=bool)
    assert math.isnan(crg(none, none))  # A = 0
    assert math.isnan(crg(none, ~none))
    everything = np.ones_like(none)
    assert math.isnan(crg(everything, everything))  # A = X


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="one shape"):
        crg(np.zeros((2, 18), bool), np.zeros((3, 18), bool))


def test_intervals_bracket_the_point_and_separate_a_silent_decoder() -> None:
    rng = np.random.default_rng(0)
    ref = rng.random((120, len(FINDINGS))) < 0.2
    good = ref ^ (rng.random(ref.shape) < 0.05)  # 5 % of decisions flipped
    config = BootstrapConfig(n_resamples=300, seed=2)
    good_ci = clinical_intervals(ref, good, config)
    for key, value in (("ce_macro_f1", macro_f1(label_scores(ref, good))), ("crg", crg(ref, good))):
        low, high = good_ci[key]
        assert low <= value <= high and high - low < 0.2
    silent_ci = clinical_intervals(ref, np.zeros_like(ref), config)
    assert silent_ci["crg"] == pytest.approx((1 / 3, 1 / 3))
    assert good_ci["crg"][0] > silent_ci["crg"][1]
    assert clinical_intervals(ref, ref, config)["ce_macro_f1"] == (1.0, 1.0)
