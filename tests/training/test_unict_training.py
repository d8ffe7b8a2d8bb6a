"""`--method unict` end to end on the tiny synthetic cohort with finding masks and reports, and
the UniCT objective's invariants on single batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cohort_helpers import TINY_UNICT, straight_and_resumed
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.inference.checkpoint import load_checkpoint
from hyperct.labels.io import read_csv_text
from hyperct.training import load_config, train

PARTS = ("classification", "segmentation", "report")


@pytest.fixture
def unict_overrides(
    findings_cohort: dict[str, str], tiny_overrides: list[str], tmp_path: Path
) -> list[str]:
    return [*tiny_overrides, *TINY_UNICT, f"data.manifest={findings_cohort['manifest']}",
            f"data.cache={findings_cohort['cache']}", f"data.cache3d={findings_cohort['cache3d']}",
            f"output_dir={tmp_path / 'run'}"]


def _cli_train(overrides: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["train", *(f"--set={s}" for s in overrides)])
    return result.exit_code, result.output


@pytest.mark.slow
def test_unict_run_writes_predictions_reports_and_a_loss_per_task(
    unict_overrides: list[str]
) -> None:
    code, output = _cli_train(unict_overrides)
    assert code == 0, output
    run = Path(load_config(None, unict_overrides).output_dir)
    for name in ("config.yaml", "best.pt", "last.pt", "history.csv", "run.json",
                 "predictions.csv", "reports.csv"):
        assert (run / name).is_file(), name
    history = pd.read_csv(run / "history.csv")
    for part in PARTS:
        assert np.isfinite(history[f"train_loss/{part}"]).all()
    aucs = history["val_mean_auc"].tolist()
    assert "val mean AUC" in output and load_checkpoint(run / "best.pt").epoch == 1 + int(
        np.nanargmax(aucs))
    predictions = pd.read_csv(run / "predictions.csv")
    assert set(predictions["task"]) == {"Emphysema", "Cardiomegaly"}
    assert set(predictions["split"]) == {"val", "test"}
    reports = read_csv_text(run / "reports.csv")
    assert len(reports) == 12 and reports["report"].map(lambda t: isinstance(t, str)).all()


@pytest.mark.slow
def test_resume_matches_an_unbroken_run(unict_overrides: list[str], tmp_path: Path) -> None:
    ha, hb = straight_and_resumed(unict_overrides, tmp_path)
    columns = ["train_loss", "val_mean_auc", *(f"train_loss/{p}" for p in PARTS)]
    assert ha[columns].equals(hb[columns])


@pytest.mark.parametrize("part", PARTS)
def test_a_supervision_switched_off_leaves_no_loss_column(
    unict_overrides: list[str], part: str
) -> None:
    cfg = load_config(None, [*unict_overrides, f"unict.supervise_{part}=false", "optim.epochs=1"])
    result = train(cfg)
    run = Path(cfg.output_dir)
    history = pd.read_csv(run / "history.csv")
    assert f"train_loss/{part}" not in history.columns
    assert all(f"train_loss/{p}" in history.columns for p in PARTS if p != part)
    assert (run / "reports.csv").is_file() == (part != "report")
    if part == "classification":  # nothing classified: the lowest validation total loss
        assert "val_mean_auc" not in history.columns and np.isfinite(history["val_loss"]).all()
        assert result.selection == "val loss"


def test_the_ctscroll_encoder_trains_on_the_slice_stack_cache(unict_overrides: list[str]) -> None:
    cfg = load_config(None, [*unict_overrides, "unict.encoder=ctscroll", "unict.cnn_depth=10",
                             "unict.cnn_width=4", "unict.slice_window=3", "optim.epochs=1"])
    assert not cfg.is_3d
    train(cfg)
    history = pd.read_csv(Path(cfg.output_dir) / "history.csv")
    assert np.isfinite(history[[f"train_loss/{p}" for p in PARTS]]).all().all()
    assert (Path(cfg.output_dir) / "reports.csv").is_file()


def test_bf16_trains_with_finite_losses(unict_overrides: list[str]) -> None:
    cfg = load_config(None, [*unict_overrides, "runtime.bf16=true", "optim.epochs=1"])
    train(cfg)
    history = pd.read_csv(Path(cfg.output_dir) / "history.csv")
    assert np.isfinite(history[["train_loss", *(f"train_loss/{p}" for p in PARTS)]]).all().all()


def _refused(overrides: list[str], run: Path, *named: str) -> None:
    """The CLI exits 2 with a one-line error naming ``named`` and writes no run folder."""
    code, output = _cli_train(overrides)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(name in errors[0] for name in named), output
    assert not run.exists()


def test_every_supervision_off_is_refused_naming_the_fields(
    unict_overrides: list[str], tmp_path: Path
) -> None:
    off = [f"unict.supervise_{p}=false" for p in PARTS]
    _refused([*unict_overrides, *off], tmp_path / "run", *(f"unict.supervise_{p}" for p in PARTS))


def test_segmentation_without_finding_masks_in_the_cache_is_refused(
    unict_overrides: list[str], cohort: dict, cache3d: str, tmp_path: Path
) -> None:
    from cohort_helpers import report_manifest

    manifest = report_manifest(cohort, tmp_path / "data")
    overrides = [*unict_overrides, f"data.manifest={manifest}", f"data.cache3d={cache3d}"]
    _refused(overrides, tmp_path / "run", cache3d, "unict.supervise_segmentation")


def test_segmentation_on_partial_triplets_is_refused(
    unict_overrides: list[str], findings_cohort: dict[str, str], tmp_path: Path
) -> None:
    from hyperct.data.prepare import prepare_cache
    from hyperct.preprocess.spec import SliceStackSpec

    cache = tmp_path / "cache10"
    spec = SliceStackSpec(slices=10, size=16)
    assert prepare_cache(findings_cohort["manifest"], spec, cache, progress=False).ok
    overrides = [*unict_overrides, "unict.encoder=ctscroll", "unict.cnn_depth=10",
                 "unict.cnn_width=4", f"data.cache={cache}"]
    _refused(overrides, tmp_path / "run", str(cache), "multiple of 3",
             "unict.supervise_segmentation")


def test_a_report_head_without_report_text_is_refused(
    unict_overrides: list[str], findings_cohort: dict[str, str], tmp_path: Path
) -> None:
    df = pd.read_csv(findings_cohort["manifest"])
    df["report_text"] = ""
    manifest = tmp_path / "no_reports.csv"
    df.to_csv(manifest, index=False)
    _refused([*unict_overrides, f"data.manifest={manifest}"], tmp_path / "run", "report_text",
             "unict.supervise_report")
    code, output = _cli_train([*unict_overrides, f"data.manifest={manifest}",
                               "unict.supervise_report=false", "optim.epochs=1"])
    assert code == 0, output


@pytest.mark.parametrize("encoder", [
    pytest.param([], id="volume3d", marks=pytest.mark.slow),
    pytest.param(["unict.encoder=ctscroll", "unict.cnn_depth=10", "unict.cnn_width=4",
                  "unict.slice_window=3"], id="ctscroll"),  # 2.5D: masks cut to the slices
])
def test_a_run_scores_its_val_and_test_masks(
    unict_overrides: list[str], findings_cohort: dict[str, str], encoder: list[str],
    tmp_path: Path,
) -> None:
    """segmentation_findings.csv: a row with a Dice for every val and test scan whose model
    input holds a finding (the cohort's masks have one category), no row for a scan without a
    mask."""
    import json
    import shutil

    from hyperct.data.cache import ScanCache
    from hyperct.data.manifest import load_manifest
    from hyperct.evaluation.segmentation_files import FINDINGS_CSV
    from hyperct.inference.predict import split_dataset

    manifest = load_manifest(findings_cohort["manifest"], check_files=False)
    caches = {}
    for name in ("cache", "cache3d"):  # copies where one val and one test scan lose the mask
        caches[name] = shutil.copytree(findings_cohort[name], tmp_path / name)
        for split in ("val", "test"):
            scan_id = str(manifest.loc[manifest["split"] == split, "scan_id"].iloc[0])
            ScanCache(caches[name]).findings_path(scan_id).unlink()
    cfg = load_config(None, [*unict_overrides, *encoder, "optim.epochs=1",
                             *(f"data.{name}={path}" for name, path in caches.items())])
    train(cfg)
    run = Path(cfg.output_dir)
    findings = pd.read_csv(run / FINDINGS_CSV, dtype={"scan_id": str})
    items = [item for split in ("val", "test")
             for item in split_dataset(manifest, cfg.run_cache, split)]
    masked = {i["scan_id"] for i in items if i["has_findings_mask"]}
    with_finding = findings[findings["dice"].notna()]
    assert len(masked) == len(items) - 2 and len(with_finding)
    assert set(with_finding["scan_id"]) == {
        i["scan_id"] for i in items if i["has_findings_mask"] and i["findings_mask"].any()}
    assert set(findings["scan_id"]) <= masked
    assert with_finding["dice"].between(0, 1).all()
    assert (with_finding["ref_instances"] > 0).all()
    truth = manifest.assign(scan_id=manifest["scan_id"].astype(str)).set_index("scan_id")
    assert (findings["split"] == findings["scan_id"].map(truth["split"])).all()
    assert (findings["cohort"] == findings["scan_id"].map(truth["cohort"])).all()
    assert FINDINGS_CSV in json.loads((run / "run.json").read_text())["outputs"]
    assert (run / "reports.csv").is_file()
