"""STL (one model per task, resumable) and `compare` (one predictions table, one summary)."""

from pathlib import Path

from hyperct.evaluation.predictions import read_predictions
from hyperct.training import load_config, train
from hyperct.training.compare import compare_methods


def test_stl_trains_one_run_per_task_and_merges(tiny_overrides: list[str], tmp_path: Path) -> None:
    cfg = load_config(None, [*tiny_overrides, "method=stl", "optim.epochs=1",
                             "tasks=[Emphysema, Cardiomegaly]", f"output_dir={tmp_path / 'stl'}"])
    train(cfg)
    run = tmp_path / "stl"
    assert (run / "emphysema" / "best.pt").is_file() and (run / "cardiomegaly" / "best.pt").is_file()
    preds = read_predictions(run / "predictions.csv")
    assert set(preds["task"]) == {"Emphysema", "Cardiomegaly"} and set(preds["method"]) == {"stl"}
    stamp = (run / "emphysema" / "best.pt").stat().st_mtime_ns
    train(cfg)  # finished task runs are kept, not retrained
    assert (run / "emphysema" / "best.pt").stat().st_mtime_ns == stamp


def test_compare_writes_one_table_and_a_summary(tiny_overrides: list[str], tmp_path: Path) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1",
                             "tasks=[Emphysema, Cardiomegaly]"])
    result = compare_methods(cfg=cfg, methods=["hyperct", "ew", "mgda"], out=tmp_path / "cmp")
    preds = read_predictions(result.predictions_path)
    assert set(preds["method"]) == {"hyperct", "ew", "mgda"}
    summary = result.summary
    assert {"hyperct", "ew", "mgda"} <= set(summary.columns)
    assert set(summary["cohort"]) == {"internal", "external"}
    rows = set(summary["row"])
    assert {"Emphysema", "Cardiomegaly", "mean AUC: overall", "mean AUC: conventional"} <= rows
    assert "| Emphysema |" in result.markdown
    assert (tmp_path / "cmp" / "summary.md").read_text() == result.markdown
