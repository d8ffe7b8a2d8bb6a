"""`hyperct train` then `hyperct predict` on a real CT and on a manifest, through the CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct import read_ct
from hyperct.cli.main import app
from hyperct.inference.predictions import read_predictions
from hyperct.io.volume import Volume
from hyperct.io.write import write_nifti
from hyperct.tasks import TASK_NAMES

TINY = ["model.backbone=dinov3-tiny", "model.rank=2", "model.task_dim=8", "model.module_dim=4",
        "model.latent_dim=8", "model.hyper_output_dim=8", "optim.epochs=1", "optim.batch_size=4",
        "optim.lr=1e-3", "runtime.bf16=false", "runtime.progress=false", "runtime.device=cpu"]


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory) -> tuple[Path, Path]:
    """Ten noise volumes with random labels, a manifest and a 6 x 32 x 32 cache."""
    from hyperct.data.prepare import prepare_cache
    from hyperct.io.volume import Volume
    from hyperct.io.write import write_nifti
    from hyperct.preprocess.spec import SliceStackSpec

    root = tmp_path_factory.mktemp("cli_cohort")
    rng = np.random.default_rng(1)
    affine = np.array([[0, 0, -1.0, 0], [0, -1.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 0, 1]])
    rows = []
    for i, split in enumerate(["train"] * 6 + ["val"] * 2 + ["test"] * 2):
        hu = rng.normal(-300, 300, (8, 24, 24)).astype(np.int16)
        write_nifti(Volume(hu, (2.0, 1.0, 1.0), affine), root / f"c{i}.nii.gz")
        labels = {t: int(rng.integers(-1, 2)) for t in TASK_NAMES}
        labels["Emphysema"] = i % 2
        rows.append({"scan_id": f"c{i}", "patient_id": f"q{i}", "path": f"c{i}.nii.gz",
                     "cohort": "internal", "split": split, **labels})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    prepare_cache(root / "manifest.csv", SliceStackSpec(slices=6, size=32), root / "cache",
                  progress=False)
    return root / "manifest.csv", root / "cache"


def test_train_then_predict_a_real_ct_and_a_manifest(small_cohort, real_ct: Path, tmp_path: Path) -> None:
    manifest, cache = small_cohort
    run = tmp_path / "run"
    runner = CliRunner()
    sets = [f"--set={s}" for s in [*TINY, f"data.manifest={manifest}", f"data.cache={cache}",
                                   f"output_dir={run}"]]
    result = runner.invoke(app, ["train", *sets])
    assert result.exit_code == 0, result.output
    assert "best epoch 1 of 1" in " ".join(result.output.split()) and (run / "best.pt").is_file()

    out = tmp_path / "probs.json"
    scan, series = real_ct / "ts_chest_crop.nii.gz", real_ct / "dicom_series"
    result = runner.invoke(app, ["predict", str(scan), str(series), "--checkpoint", str(run),
                                 "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert list(written) == [str(scan), str(series)]
    probs = written[str(scan)]
    assert list(probs) == list(TASK_NAMES)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert "Emphysema" in result.output

    shifted = tmp_path / "shifted.nii.gz"  # stored values: HU + 1024, the rescale never applied
    ct = read_ct(scan)
    write_nifti(Volume((ct.array + 1024).astype(np.int16), ct.spacing, ct.affine), shifted)
    base = ["predict", str(shifted), "--checkpoint", str(run), "--device", "cpu"]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2 and "not plausible CT" in refused.output
    assert runner.invoke(app, [*base, "--allow-implausible"]).exit_code == 0

    table = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", "--manifest", str(manifest), "--cache", str(cache),
                                 "--checkpoint", str(run), "--out", str(table), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    preds = read_predictions(table)
    assert len(preds) == 10 * 25 and set(preds["split"]) == {"train", "val", "test"}


def test_unknown_override_is_reported_with_its_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--set", "optim.lrate=1", "--set",
                                      f"output_dir={tmp_path}"])
    assert result.exit_code == 2
    assert "error: " in result.output and "optim.lrate" in result.output
