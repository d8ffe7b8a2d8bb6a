"""A UniCT run's outputs through the CLI on real CTs: `hyperct predict` (manifest and raw scans)
writes masks on each CT's own grid, reports and the fusion attention."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.data.cache import ScanCache
from hyperct.data.prepare import prepare_cache
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.run_outputs import run_output_sections
from hyperct.evaluation.sources import Source
from hyperct.io.read import read_ct
from hyperct.io.volume import Volume
from hyperct.io.write import write_nifti
from hyperct.preprocess.spec import SpacingCropSpec
from hyperct.tasks import TASK_NAMES, task_by_name

#: 4 mm voxels: both CTs fit the crop, so every finding voxel can be predicted.
SPEC = SpacingCropSpec(
    spacing_zyx=(4.0, 4.0, 4.0), pad_shape_zyx=(48, 80, 96), crop_shape_zyx=(44, 80, 96)
)
SCANS = ("ts_chest_crop.nii.gz", "ts_example_ct_sm.nii.gz")  # LPS and RAS on disk
REPORTS = ("Emphysema in both upper lobes.", "No emphysema. No pleural effusion.")

pytestmark = pytest.mark.slow  # the module's cohort: two real CTs prepared, then predicted


@pytest.fixture(scope="module")
def cohort(real_ct: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two real CTs (test split) with an emphysema label, a report and a finding mask
    (the phantom's task bitmask: emphysema in a box of the middle half of each axis), and
    their cache."""
    root = tmp_path_factory.mktemp("unict_cohort")
    emphysema = task_by_name("Emphysema")
    rows = []
    for i, name in enumerate(SCANS):
        ct = read_ct(real_ct / name)
        box = np.zeros(ct.shape, np.int32)
        box[tuple(slice(n // 4, 3 * n // 4) for n in ct.shape)] = 1
        bits = box << emphysema.id
        mask = write_nifti(Volume(bits, ct.spacing, ct.affine), root / f"findings{i}.nii.gz",
                           axcodes=ct.meta["original_axcodes"])
        labels = {t: -1 for t in TASK_NAMES}
        labels[emphysema.name] = 1 - i
        rows.append({"scan_id": f"ct{i}", "patient_id": f"p{i}", "path": str(real_ct / name),
                     "cohort": "internal", "split": "test", "report_text": REPORTS[i],
                     "findings_mask_path": str(mask), **labels})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    report = prepare_cache(root / "manifest.csv", SPEC, root / "cache", progress=False)
    assert report.ok, report.failed
    return {"root": root, "manifest": root / "manifest.csv", "cache": root / "cache"}


@pytest.fixture(scope="module")
def unict_run(cohort: dict[str, Path], make_unict_run) -> Path:
    """A (random-weight) UniCT run folder over the cohort, with its cache's finding channels."""
    data = {"manifest": str(cohort["manifest"]), "cache3d": str(cohort["cache"])}
    return make_unict_run(cohort["root"] / "run", data,
                          list(ScanCache(cohort["cache"]).read_finding_channels()))


@pytest.fixture(scope="module")
def predicted(cohort: dict[str, Path], unict_run: Path) -> Path:
    """`hyperct predict --manifest` into the run folder (what `hyperct evaluate` reads)."""
    result = CliRunner().invoke(app, [
        "predict", "--checkpoint", str(unict_run), "--manifest", str(cohort["manifest"]),
        "--cache", str(cohort["cache"]), "--out", str(unict_run / "predictions.csv"),
        "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    return unict_run


def test_predict_manifest_writes_masks_on_each_ct_grid_reports_and_attention(
    predicted: Path, real_ct: Path
) -> None:
    channels = json.loads((predicted / "masks" / "channels.json").read_text())["channels"]
    assert len(channels) == 14  # one per finding category of the cache
    for i, name in enumerate(SCANS):
        source, mask = nib.load(real_ct / name), nib.load(predicted / "masks" / f"ct{i}.nii.gz")
        assert mask.shape == (*source.shape, len(channels))
        np.testing.assert_allclose(mask.affine, source.affine, atol=1e-6)
    table = pd.read_csv(predicted / "predictions.csv")
    assert set(table["scan_id"]) == {"ct0", "ct1"} and set(table["task"]) == set(TASK_NAMES)
    reports = pd.read_csv(predicted / "reports.csv", keep_default_na=False)
    assert reports["scan_id"].tolist() == ["ct0", "ct1"]
    attention = pd.read_csv(predicted / "fusion_attention.csv")
    tasks = ["classification", "segmentation", "report"]
    assert attention.columns.tolist() == ["scan_id", "query", *tasks]
    np.testing.assert_allclose(attention[tasks].sum(axis=1), 1.0, atol=1e-5)


def test_predict_raw_scans_writes_their_masks_beside_the_probabilities(
    unict_run: Path, real_ct: Path, tmp_path: Path
) -> None:
    scans = [real_ct / name for name in SCANS]
    out = tmp_path / "out" / "probs.csv"
    runner = CliRunner()
    refused = runner.invoke(app, ["predict", *map(str, scans), "--checkpoint", str(unict_run)])
    assert refused.exit_code == 2 and "--out" in refused.output
    result = runner.invoke(app, ["predict", *map(str, scans), "--checkpoint", str(unict_run),
                                 "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    probs = pd.read_csv(out, index_col="scan")
    assert list(probs.index) == list(map(str, scans)) and probs.shape[1] == len(TASK_NAMES)
    for name in SCANS:
        stem = name.removesuffix(".nii.gz")
        source, mask = nib.load(real_ct / name), nib.load(out.parent / "masks" / f"{stem}.nii.gz")
        assert mask.shape[:3] == source.shape
        np.testing.assert_allclose(mask.affine, source.affine, atol=1e-6)
    reports = pd.read_csv(out.parent / "reports.csv", keep_default_na=False)
    assert reports["scan_id"].tolist() == ["ts_chest_crop", "ts_example_ct_sm"]


def test_evaluate_adds_segmentation_reports_and_the_fusion_attention(
    predicted: Path, cohort: dict[str, Path], real_ct: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(predicted), "--resamples", "20",
                                      "--no-lora", "--no-meteor", "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "eval"
    page = (out / "report.html").read_text()
    for title in ("Segmentation", "Report generation", "Fusion attention"):
        assert f">{title}</h2>" in page, title

    per_scan = pd.read_csv(predicted / "fusion_attention.csv")
    tasks = ["classification", "segmentation", "report"]
    mean = pd.read_csv(out / "fusion_attention.csv").set_index("query")
    assert list(mean.index) == list(mean.columns) == tasks
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(mean.to_numpy(), per_scan.groupby("query")[tasks].mean()
                               .loc[tasks].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(np.load(out / "fusion_attention.npy"), mean.to_numpy(), atol=1e-6)
    assert (out / "plots" / "fusion_attention.png").stat().st_size > 1000

    metrics = json.loads((out / "report_metrics.json").read_text())
    assert metrics["n_reports"] == 2
    emphysema = ScanCache(cohort["cache"]).read_finding_channels().index("1c Emphysema")
    for i, name in enumerate(SCANS):  # the references: the finding masks, on the CT's grid
        ref = np.asarray(nib.load(out / "reference_masks" / f"ct{i}.nii.gz").dataobj)
        truth = np.asarray(nib.load(cohort["root"] / f"findings{i}.nii.gz").dataobj) > 0
        assert truth.shape == nib.load(real_ct / name).shape
        dice = 2 * (ref[..., emphysema].astype(bool) & truth).sum() / (ref[..., emphysema].sum()
                                                                       + truth.sum())
        assert ref.shape == (*truth.shape, 14) and dice > 0.9, (name, dice)
    summary = pd.read_csv(out / "segmentation_summary.csv")
    findings = summary[summary["metric"] == "global_dice"].set_index("category")["n_findings"]
    assert findings["1c Emphysema"] == findings["all"] == 2  # the only finding drawn, per scan

    oracle = tmp_path / "oracle_run"  # the references as predictions score Dice 1
    shutil.copytree(predicted, oracle, ignore=shutil.ignore_patterns("evaluation"))
    for ref in (out / "reference_masks").iterdir():
        shutil.copy(ref, oracle / "masks" / ref.name)
    sections = run_output_sections(Source(oracle / "predictions.csv", oracle), tmp_path / "oracle",
                                   ["test"], BootstrapConfig(n_resamples=10), skip=["reports"])
    assert [s.title for s in sections] == ["Segmentation", "Fusion attention"]
    scores = pd.read_csv(tmp_path / "oracle" / "segmentation_summary.csv")
    best = scores[scores["category"] == "all"].set_index("metric")["value"]
    assert best["global_dice"] == pytest.approx(1.0) and best["hit_rate"] == pytest.approx(1.0)


def test_explain_a_unict_run_gives_a_saliency_map_on_the_ct_grid(
    unict_run: Path, real_ct: Path, tmp_path: Path
) -> None:
    scan = real_ct / "ts_chest_crop.nii.gz"
    result = CliRunner().invoke(app, ["explain", str(scan), "--checkpoint", str(unict_run),
                                      "--task", "emphysema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    heat = nib.load(tmp_path / "ts_chest_crop_emphysema_saliency.nii.gz")
    ct = read_ct(scan)
    assert heat.shape == ct.shape
    np.testing.assert_allclose(heat.affine, ct.affine, atol=1e-4)
    values = np.asarray(heat.dataobj)
    assert values.min() >= 0.0 and values.max() == pytest.approx(1.0) and values.std() > 0.01
    record = json.loads((tmp_path / "ts_chest_crop_emphysema_saliency.json").read_text())
    assert record["block"] is None and record["task"] == "Emphysema"
    assert (tmp_path / "ts_chest_crop_emphysema_axial.png").is_file()
