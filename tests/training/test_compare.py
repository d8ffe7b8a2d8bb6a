"""STL (one model per task, resumable) and `compare` (one predictions table, one summary)."""

from pathlib import Path

from hyperct.inference.predictions import read_predictions
from hyperct.training import load_config, train
from hyperct.inference.checkpoint import load_checkpoint
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


def test_compare_runs_each_method_with_and_without_anatomy(
    tiny_overrides: list[str], cache3d: str, tmp_path: Path
) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1", f"data.cache3d={cache3d}",
                             "model3d.resnet18_3d.width=4", "anatomy.targets=small",
                             "tasks=[Emphysema, Cardiomegaly]"])
    result = compare_methods(cfg=cfg, methods=["hyperct", "resnet18_3d"], out=tmp_path / "cmp",
                             anatomy="both", bootstrap=50)
    variants = ["hyperct", "hyperct+anatomy", "resnet18_3d", "resnet18_3d+anatomy"]
    assert set(read_predictions(result.predictions_path)["method"]) == set(variants)
    assert set(variants) <= set(result.summary.columns)
    timing = result.timing.set_index("variant")
    assert (timing["seconds_per_step"] > 0).all()
    assert timing["ratio_to_without_anatomy"].notna().tolist() == [False, True, False, True]
    pairs = result.anatomy_pairs
    assert set(pairs["method"]) == {"hyperct", "resnet18_3d"}
    overall = pairs[pairs["level"] == "overall"]
    assert (overall["ci_low"] <= overall["difference"]).all()
    assert (overall["difference"] <= overall["ci_high"]).all()
    assert (tmp_path / "cmp" / "anatomy_pairs.csv").is_file()
    assert "### anatomy: AUC with - without" in result.markdown
    for variant in variants:
        objective = load_checkpoint(tmp_path / "cmp" / variant / "last.pt").extra["objective"]
        assert ("anatomy" in objective) == variant.endswith("+anatomy")
