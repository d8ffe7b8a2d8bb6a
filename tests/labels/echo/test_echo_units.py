import numpy as np
import pandas as pd
import pytest

from hyperct.labels.echo.units import UnitError, resolve_unit, to_numbers


def test_lvidd_mm_inferred_and_converted():
    out = resolve_unit(pd.Series([48.0, 55.0, np.nan]), "lvidd", "auto", "cm")
    assert out.tolist()[:2] == pytest.approx([4.8, 5.5]) and np.isnan(out[2])


def test_lvidd_mixed_units_refused_with_column_and_values():
    with pytest.raises(UnitError, match=r"column 'lvidd_cm': ambiguous unit.*\[5\.1\].*\[48\.0\]"):
        resolve_unit(pd.Series([5.1, 48.0]), "lvidd_cm", "auto", "cm")


def test_explicit_unit_wins_over_inference():
    out = resolve_unit(pd.Series([5.1, 48.0]), "lvidd_cm", "mm", "cm")
    assert out.tolist() == pytest.approx([0.51, 4.8])


def test_unit_column_per_row():
    units = pd.Series(["cm", "mm"], name="lvidd_unit")
    out = resolve_unit(pd.Series([5.1, 48.0]), "lvidd_cm", "auto", "cm", units)
    assert out.tolist() == pytest.approx([5.1, 4.8])
    with pytest.raises(UnitError, match="unknown unit"):
        resolve_unit(pd.Series([5.1]), "lvidd_cm", "auto", "cm", pd.Series(["inch"], name="u"))


def test_lvef_fraction_and_mixture():
    assert resolve_unit(
        pd.Series([0.55, 0.3]), "lvef", "auto", "percent"
    ).tolist() == pytest.approx([55, 30])
    with pytest.raises(UnitError, match="'lvef'"):
        resolve_unit(pd.Series([0.55, 60.0]), "lvef", "auto", "percent")


def test_non_numbers_recorded():
    problems: list[str] = []
    out = to_numbers(pd.Series(["5.2", "", "abc", "4,9"]), "lvidd_cm", problems)
    assert out[0] == 5.2 and np.isnan(out[1]) and np.isnan(out[2]) and out[3] == 4.9
    assert problems == ["echo row 4, column 'lvidd_cm': 'abc' is not a number"]
