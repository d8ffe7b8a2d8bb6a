"""STL (one model per task, resumable) and `compare` (one predictions table, one summary)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from hyperct.config.run import ConfigError
from hyperct.data.manifest import load_manifest
from hyperct.inference.predictions import read_predictions
from hyperct.training import load_config, train
from hyperct.inference.checkpoint import load_checkpoint
from hyperct.training.budget import COUNT_COLUMN
from hyperct.training.compare import (
    Pooling,
    Protocol,
    compare_methods,
    pooled_confidence,
    pooled_difference,
)
from hyperct.training.selection import seed_statistics


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
    with pytest.raises(ConfigError, match="--folds must be >= 2"):
        Protocol(folds=1)
    with pytest.raises(ConfigError, match="--folds and --seeds"):
        Protocol(folds=5, seeds=2)


def _fold_table() -> pd.DataFrame:
    """Two methods x two folds, one task: internal scans tested once (fold0: i1-i4, fold1:
    i5-i8), four external scans predicted by both folds. Method b predicts 0.5 internally and
    1 - a's probability externally."""
    internal = {"fold0": ([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]),  # AUC 3/4
                "fold1": ([1, 0, 1, 0], [0.8, 0.2, 0.7, 0.3])}  # AUC 1
    external = {"fold0": [0.7, 0.2, 0.6, 0.4], "fold1": [0.3, 0.2, 0.6, 0.4]}  # AUC 1, 3/4
    rows = []
    for method in ("a", "b"):
        for k, (fold, (labels, probs)) in enumerate(internal.items()):
            rows += [{"scan_id": f"i{4 * k + j + 1}", "cohort": "internal", "label": label,
                      "prob": prob if method == "a" else 0.5, "method": method, "run": fold}
                     for j, (label, prob) in enumerate(zip(labels, probs))]
            rows += [{"scan_id": f"e{j}", "cohort": "external", "label": (1, 0, 1, 0)[j],
                      "prob": prob if method == "a" else 1 - prob, "method": method, "run": fold}
                     for j, prob in enumerate(external[fold])]
    return pd.DataFrame(rows).assign(split="test", task="Emphysema")


def test_fold_summaries_equal_a_hand_computation() -> None:
    table = _fold_table()
    stats = seed_statistics(table, "test").set_index(["cohort", "row", "method"])
    inner = stats.loc[("internal", "Emphysema", "a")]
    assert inner["mean"] == pytest.approx(0.875) and inner["sd"] == pytest.approx(0.125 * 2 ** 0.5)
    pooling = Pooling(["fold0", "fold1"], ["internal"], 50)
    pooled = pooled_confidence(table, "test", pooling).set_index(["method", "cohort", "name"])
    assert set(pooled.index.get_level_values("cohort")) == {"internal"}
    assert pooled.at[("a", "internal", "Emphysema"), "auc"] == pytest.approx(15 / 16)
    assert pooled.at[("a", "internal", "Emphysema"), "n_scans"] == 8
    assert pooled.at[("b", "internal", "Emphysema"), "auc"] == pytest.approx(0.5)
    diff = pooled_difference(table, "a", "b", "test", pooling)
    task = diff[diff["level"] == "task"].set_index("cohort")
    assert task.at["internal", "difference"] == pytest.approx(0.5 - 15 / 16)
    assert task.at["internal", "reference"] == "a/out-of-fold"
    # external: both folds predict the same scans, the AUC is the mean over folds
    assert task.at["external", "auc_reference"] == pytest.approx((1 + 3 / 4) / 2)
    assert task.at["external", "auc_other"] == pytest.approx((0 + 1 / 4) / 2)
    assert task.at["external", "n_scans"] == 4 and task.at["internal", "n_scans"] == 8


@pytest.mark.slow
def test_folds_cross_validate_every_method(tiny_overrides: list[str], tmp_path: Path) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1", "tasks=[Emphysema, Cardiomegaly]"])
    result = compare_methods(cfg=cfg, methods=["hyperct", "ew"], out=tmp_path / "cmp",
                             bootstrap=50, protocol=Protocol(folds=2))
    out = tmp_path / "cmp"
    folds = [load_manifest(out / "folds" / f"fold{k}.csv", check_files=False) for k in (0, 1)]
    preds = read_predictions(result.predictions_path)
    for k, fold in enumerate(folds):
        own = preds[(preds["run"] == f"fold{k}") & (preds["method"] == "ew")]
        splits = own.groupby("scan_id")["split"].first()
        assert splits.to_dict() == fold.set_index("scan_id")["split"][splits.index].to_dict()
        assert json.loads((out / "ew" / f"fold{k}" / "run.json").read_text())["seed"] == cfg.seed
    stats = result.seeds.set_index(["cohort", "row", "method"])
    assert stats.at[("internal", "mean AUC: overall", "ew"), "folds"] == 2
    pooled = result.pooled
    internal_test = sum(((f["cohort"] == "internal") & (f["split"] == "test")).sum() for f in folds)
    overall = pooled[(pooled["level"] == "overall") & (pooled["cohort"] == "internal")]
    assert set(overall["method"]) == {"hyperct", "ew"} and set(overall["run"]) == {"out-of-fold"}
    assert (overall["n_scans"] == internal_test).all() and internal_test == 20
    versus = result.versus
    assert set(versus["cohort"]) == {"internal", "external"}
    assert result.reference == "hyperct" and (out / "vs_hyperct.csv").is_file()
    assert "mean ± sd over folds" in result.markdown and "pooled out-of-fold" in result.markdown
    assert json.loads((out / "compare.json").read_text())["folded_cohorts"] == ["internal"]


def test_a_custom_variant_is_its_own_column(tiny_overrides: list[str], tmp_path: Path) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1", "tasks=[Emphysema, Cardiomegaly]"])
    result = compare_methods(cfg=cfg, methods=["ew"], custom=["ew-fast=ew:optim.lr=0.01"],
                             out=tmp_path / "cmp", bootstrap=0)
    assert {"ew", "ew-fast"} <= set(result.summary.columns)
    saved = load_config(str(tmp_path / "cmp" / "ew-fast" / "config.yaml"))
    assert saved.optim.lr == 0.01 and saved.method == "ew" and cfg.optim.lr != 0.01
    assert result.reference == "ew"
    variants = json.loads((tmp_path / "cmp" / "compare.json").read_text())["variants"]
    assert variants["ew-fast"] == {"method": "ew", "overrides": ["optim.lr=0.01"],
                                   "outputs": ["classification"]}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"protocol": Protocol(lr_grid=(1e-3, 1e-4))}, "--lr-grid chooses on validation AUC"),
    ({"reference": "seg-only"}, "'seg-only' is not trained to classify"),
    ({"reference": "mgda"}, "'mgda' is not a compared variant"),
])
def test_compare_refuses_before_training(
    tiny_overrides: list[str], tmp_path: Path, kwargs: dict, message: str
) -> None:
    cfg = load_config(None, tiny_overrides)
    with pytest.raises(ConfigError, match=message):
        compare_methods(cfg=cfg, methods=["unict", "seg-only"], out=tmp_path / "cmp", **kwargs)
    assert not (tmp_path / "cmp").exists()


#: A seconds-sized UniCT on the 8 x 16 x 16 crops of the findings cohort's 3D cache.
TINY_UNICT = [
    "unict.encoder=volume3d", "unict.backbone3d_kwargs={width: 4}", "unict.dim=16",
    "unict.heads=2", "unict.cls_latents=2", "unict.report_latents=2", "unict.seg_embed=4",
    "unict.seg_upsample=1", "unict.decoder={width: 16, layers: 1, heads: 2, max_len: 24}",
    "report.vocab_size=300", "tasks=[Emphysema, Cardiomegaly]", "optim.epochs=1",
]


@pytest.mark.slow
def test_two_unict_variants_cross_validated(
    tiny_overrides: list[str], findings_cohort: dict[str, str], tmp_path: Path
) -> None:
    cfg = load_config(None, [*tiny_overrides, *TINY_UNICT,
                             f"data.manifest={findings_cohort['manifest']}",
                             f"data.cache={findings_cohort['cache']}",
                             f"data.cache3d={findings_cohort['cache3d']}"])
    out = tmp_path / "cmp"
    result = compare_methods(cfg=cfg, methods=["unict", "cls-only"], out=out, bootstrap=20,
                             protocol=Protocol(folds=2))
    for variant in ("unict", "cls-only"):
        for k in (0, 1):
            saved = load_config(str(out / variant / f"fold{k}" / "config.yaml"))
            assert saved.data.manifest == str(out / "folds" / f"fold{k}.csv")
    assert load_config(str(out / "cls-only" / "fold0" / "config.yaml")).unict_config().fusion is False
    assert (out / "unict" / "fold1" / "reports.csv").is_file()
    assert not (out / "cls-only" / "fold1" / "reports.csv").is_file()
    assert result.reference == "unict" and set(result.versus["variant"]) == {"cls-only"}
    assert set(result.pooled["method"]) == {"unict", "cls-only"}
    scored = result.outputs
    report = scored[scored["output"] == "report"]
    assert set(report["variant"]) == {"unict"}
    assert set(report["run"]) == {"fold0", "fold1", "out-of-fold"}
    internal_test = sum(
        ((f["cohort"] == "internal") & (f["split"] == "test")).sum()
        for f in (load_manifest(out / "folds" / f"fold{k}.csv", check_files=False) for k in (0, 1)))
    pooled = report[report["run"] == "out-of-fold"]
    assert set(pooled["cohort"]) == {"internal"} and (pooled["n_scans"] == internal_test).all()
    assert set(scored.loc[scored["output"] == "classification", "variant"]) == {"unict", "cls-only"}
    assert "each variant's own outputs" in result.markdown and "| ce_macro_f1 |" in result.markdown
