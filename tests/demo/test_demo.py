import pandas as pd
import pytest

from hyperct.demo.pipeline import MARKER, DemoConfig, _fresh_output, overall_auc_table


def test_fresh_output_refuses_foreign_folders_and_replaces_its_own(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty"):
        _fresh_output(foreign, force=False)
    with pytest.raises(FileExistsError, match="not written by `hyperct demo`"):
        _fresh_output(foreign, force=True)
    assert (foreign / "thesis.tex").read_text() == "precious"

    demo = tmp_path / "demo"
    _fresh_output(demo, force=False)
    (demo / "old.csv").write_text("x")
    _fresh_output(demo, force=True)
    assert (demo / MARKER).is_file() and not (demo / "old.csv").exists()


def test_overall_table_keeps_group_rows_and_drops_undefined_ones():
    summary = pd.DataFrame({
        "cohort": ["internal"] * 3 + ["prospective"] * 2,
        "row": ["Emphysema", "mean AUC: conventional", "mean AUC: overall",
                "mean AUC: conventional", "mean AUC: overall"],
        "hyperct": [0.9, 0.8, 0.75, float("nan"), 0.6],
        "ew": [0.7, 0.7, 0.65, float("nan"), 0.55],
    })
    table = overall_auc_table(summary, ["hyperct", "ew", "mgda"])
    assert list(table.columns) == ["cohort", "row", "hyperct", "ew"]
    assert table["row"].tolist() == ["mean AUC: conventional", "mean AUC: overall", "mean AUC: overall"]
    assert table["hyperct"].tolist() == [0.8, 0.75, 0.6]


def test_demo_config_validates():
    with pytest.raises(ValueError, match="n_scans"):
        DemoConfig(n_scans=10)
    with pytest.raises(ValueError, match="methods"):
        DemoConfig(methods=())
    with pytest.raises(ValueError, match="backbone_pretraining"):
        DemoConfig(backbone_pretraining="dino")
    assert DemoConfig().backbone_pretraining == "supervised"
