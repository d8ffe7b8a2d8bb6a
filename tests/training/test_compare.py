"""STL (one model per task, resumable) and `compare` (one predictions table, one summary)."""

import json
from pathlib import Path

import pytest

from hyperct.config.run import ConfigError
from hyperct.inference.predictions import read_predictions
from hyperct.training import load_config, train
from hyperct.inference.checkpoint import load_checkpoint
from hyperct.training.budget import COUNT_COLUMN
from hyperct.training.compare import Protocol, compare_methods


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


FOUR = "tasks=[Emphysema, Cardiomegaly, Pleural effusion, Pulmonary hypertension]"


@pytest.mark.parametrize("unit", ["label-exposures", "backbone-passes"])
def test_equal_budgets_give_equal_counts_within_one_batch(
    tiny_overrides: list[str], tmp_path: Path, unit: str
) -> None:
    """HyperCT (2 tasks per sample) and EW trained to the budget that 2 epochs of HyperCT
    spend: EW stops mid-epoch, and both realise the budget to within one batch."""
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=2", FOUR,
                             "sampling.tasks_per_sample=2"])
    result = compare_methods(cfg=cfg, methods=["hyperct", "ew"], out=tmp_path / "cmp",
                             bootstrap=0, protocol=Protocol(budget=unit))
    runs = result.runs.set_index("variant")
    column = COUNT_COLUMN[unit]
    budget = json.loads((tmp_path / "cmp" / "compare.json").read_text())["budget_amount"]
    assert runs.at["hyperct", column] == budget == 48  # 12 scans x 2 tasks x 2 epochs
    per_batch = 4 * 4 if unit == "label-exposures" else 4  # batch of 4 scans, 4 tasks
    assert 0 <= runs.at["ew", column] - budget < per_batch
    # EW spends more labels but fewer backbone passes per step than HyperCT with k=2
    fewer = runs.at["ew", "steps"] < runs.at["hyperct", "steps"]
    assert fewer == (unit == "label-exposures")
    history = (tmp_path / "cmp" / "ew" / "history.csv").read_text()
    assert column in history.splitlines()[0]


def test_seeds_are_summarised_and_paired_with_hyperct(tiny_overrides: list[str], tmp_path: Path) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1", "tasks=[Emphysema, Cardiomegaly]"])
    result = compare_methods(cfg=cfg, methods=["hyperct", "ew"], out=tmp_path / "cmp",
                             bootstrap=50, protocol=Protocol(seeds=2))
    preds = read_predictions(result.predictions_path)
    assert set(zip(preds["method"], preds["run"])) == {
        (m, s) for m in ("hyperct", "ew") for s in ("seed0", "seed1")}
    assert (tmp_path / "cmp" / "ew" / "seed1" / "run.json").is_file()
    seeds = json.loads((tmp_path / "cmp" / "ew" / "seed1" / "run.json").read_text())["seed"]
    assert seeds == cfg.seed + 1
    stats = result.seeds.set_index(["cohort", "row", "method"])
    overall = stats.loc[("internal", "mean AUC: overall", "ew")]
    assert overall["seeds"] == 2 and overall["sd"] >= 0
    summary = result.summary.set_index(["cohort", "row"])
    assert summary.at[("internal", "mean AUC: overall"), "ew"] == pytest.approx(overall["mean"])
    versus = result.vs_hyperct
    assert set(versus["variant"]) == {"ew"} and versus["reference"].iloc[0] == "hyperct/seed0+1"
    row = versus[(versus["level"] == "overall") & (versus["cohort"] == "internal")].iloc[0]
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    assert "mean ± sd over seeds" in result.markdown and "### vs hyperct" in result.markdown


def test_the_lr_grid_is_chosen_on_validation(tiny_overrides: list[str], tmp_path: Path) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1", "tasks=[Emphysema, Cardiomegaly]"])
    result = compare_methods(cfg=cfg, methods=["ew"], out=tmp_path / "cmp", bootstrap=0,
                             protocol=Protocol(lr_grid=(1e-4, 3e-3)))
    runs = result.runs
    assert sorted(runs["lr"]) == [1e-4, 3e-3] and runs["selected"].sum() == 1
    best = runs.loc[runs["val_mean_auc"].fillna(-1).idxmax(), "lr"]
    assert runs.loc[runs["selected"], "lr"].item() == best
    chosen = json.loads((tmp_path / "cmp" / "compare.json").read_text())["chosen_lr"]["ew"]
    assert chosen == best and (tmp_path / "cmp" / "ew" / f"lr{best:g}" / "run.json").is_file()
    assert set(read_predictions(result.predictions_path)["run"]) == {"seed0"}
    assert (tmp_path / "cmp" / "lr_selection.csv").is_file()


def test_protocol_refuses_bad_options() -> None:
    with pytest.raises(ConfigError, match="--seeds"):
        Protocol(seeds=0)
    with pytest.raises(ConfigError, match="--budget must be one of"):
        Protocol(budget="labels")
    with pytest.raises(ConfigError, match="needs --budget"):
        Protocol(budget_amount=3)
    with pytest.raises(ConfigError, match="twice"):
        Protocol(lr_grid=(1e-3, 1e-3))
