import pandas as pd
import pytest

from hyperct.labels.evaluate import evaluate_labels


def test_hand_computed_scores():
    pred = pd.DataFrame(
        {
            "AccessionNo": ["a", "b", "c", "d"],
            "Emphysema": [1, 1, -1, 0],
            "Cardiomegaly": [1, 0, 0, 0],
        }
    )
    gold = pd.DataFrame(
        {
            "AccessionNo": ["a", "b", "c", "d"],
            "Emphysema": [1, 0, 1, 0],
            "Cardiomegaly": [1, 0, 0, 0],
        }
    )
    result = evaluate_labels(pred, gold)
    emph = result.per_task.set_index("task").loc["Emphysema"]
    assert (emph.tp, emph.fp, emph.fn, emph.support) == (1, 1, 1, 2)
    assert emph.f1 == pytest.approx(0.5)
    assert result.macro_f1 == pytest.approx((0.5 + 1.0) / 2)
    assert result.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # tp 2, fp 1, fn 1
    assert set(map(tuple, result.disagreements[["AccessionNo", "task"]].values)) == {
        ("b", "Emphysema"),
        ("c", "Emphysema"),
    }


def test_missing_predictions_and_bad_values_reported():
    pred = pd.DataFrame({"AccessionNo": ["a"], "Emphysema": ["yes"]})
    gold = pd.DataFrame({"AccessionNo": ["a", "b"], "Emphysema": [1, 0]})
    result = evaluate_labels(pred, gold)
    assert any("have no prediction" in p for p in result.problems)
    assert any("'yes'" in p for p in result.problems)


def test_no_id_column():
    with pytest.raises(ValueError, match="no id column"):
        evaluate_labels(pd.DataFrame({"x": [1]}), pd.DataFrame({"AccessionNo": ["a"]}))
