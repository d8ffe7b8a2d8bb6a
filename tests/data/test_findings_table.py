"""The findings table's mask channels: the adapter's table read back, bad tables refused."""

from pathlib import Path

import pandas as pd
import pytest

from hyperct.data.adapters.rexgroundingct import adapt_rexgroundingct
from hyperct.data.findings_table import default_findings_table, read_mask_categories


def test_adapter_table_gives_each_scans_channel_categories(rex_tree, tmp_path: Path) -> None:
    adapt_rexgroundingct(rex_tree(), tmp_path / "rex.csv")
    table = default_findings_table(tmp_path / "rex.csv")
    assert table == tmp_path / "rex_findings.csv"
    categories = read_mask_categories(table)
    assert categories["train_1_a_1"] == ("2d", "1c") and categories["valid_6_b_2"] == ("2b", "2a")
    assert default_findings_table(tmp_path / "other.csv") is None


@pytest.mark.parametrize(
    "rows,message",
    [
        ([("s1", "0", "2d"), ("s1", "2", "1c")], r"scan s1: mask channels \[0, 2\] are not 0 .. 1"),
        ([("s1", "0", "9z")], "scan s1: unknown ReXGroundingCT category code '9z'"),
        ([("s1", "x", "2d")], "scan s1: mask_channel is not a whole number"),
    ],
)
def test_bad_table_is_refused_naming_the_scan(tmp_path: Path, rows: list, message: str) -> None:
    path = tmp_path / "t_findings.csv"
    pd.DataFrame(rows, columns=["scan_id", "mask_channel", "category"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=message):
        read_mask_categories(path)


def test_table_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"scan_id": ["s1"], "category": ["2d"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['mask_channel'\]"):
        read_mask_categories(path)
