"""End to end on a briefly trained tiny HyperCT run: `hyperct explain`, then `hyperct evaluate`
with the LoRA analysis of the checkpoint and the saliency example in the report."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.io.read import read_ct
from hyperct.tasks import TASK_NAMES

TINY = [
    "model.backbone=dinov3-tiny",
    "model.rank=2",
    "model.task_dim=8",
    "model.module_dim=4",
    "model.latent_dim=8",
    "model.hyper_output_dim=8",
    "optim.epochs=1",
    "optim.batch_size=4",
    "optim.lr=1e-2",
    "runtime.bf16=false",
    "runtime.progress=false",
    "runtime.device=cpu",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HyperCT trained one epoch on eight noise volumes (predictions.csv + best.pt)."""
    from hyperct.data.prepare import prepare_cache
    from hyperct.io.volume import Volume
    from hyperct.io.write import write_nifti
    from hyperct.preprocess.spec import SliceStackSpec

    root = tmp_path_factory.mktemp("explain_run")
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    rows = []
    for i, split in enumerate(["train"] * 4 + ["val"] * 2 + ["test"] * 2):
        write_nifti(
            Volume(rng.normal(-300, 300, (8, 24, 24)).astype(np.int16), (2.0, 1.0, 1.0), affine),
            root / f"c{i}.nii.gz",
        )
        labels = {t: int(k % 2 == i % 2) for k, t in enumerate(TASK_NAMES)}
        rows.append(
            {
                "scan_id": f"c{i}",
                "patient_id": f"p{i}",
                "path": f"c{i}.nii.gz",
                "cohort": "internal",
                "split": split,
                **labels,
            }
        )
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    prepare_cache(
        root / "manifest.csv", SliceStackSpec(slices=6, size=32), root / "cache", progress=False
    )
    sets = [
        *TINY,
        f"data.manifest={root / 'manifest.csv'}",
        f"data.cache={root / 'cache'}",
        f"output_dir={root / 'run'}",
    ]
    result = CliRunner().invoke(app, ["train", *[f"--set={s}" for s in sets]])
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.mark.slow
def test_explain_then_evaluate(run: Path, real_ct: Path) -> None:
    scan = real_ct / "ts_chest_crop.nii.gz"
    runner = CliRunner()
    result = runner.invoke(
        app, ["explain", str(scan), "--checkpoint", str(run), "--task", "emphysema"]
    )
    assert result.exit_code == 0, result.output
    heat = nib.load(run / "explain" / "ts_chest_crop_emphysema_saliency.nii.gz")
    ct = read_ct(scan)
    assert heat.shape == ct.shape  # on the original CT grid, with the CT's own affine
    np.testing.assert_allclose(heat.affine, ct.affine, atol=1e-4)
    assert (
        0.0 <= float(np.asarray(heat.dataobj).min())
        and float(np.asarray(heat.dataobj).max()) <= 1.0
    )
    assert (run / "explain" / "ts_chest_crop_emphysema_axial.png").is_file()

    result = runner.invoke(
        app, ["evaluate", str(run), "--resamples", "20", "--split", "test", "--split", "val"]
    )
    assert result.exit_code == 0, result.output
    page = (run / "evaluation" / "report.html").read_text()
    assert "LoRA analysis" in page and "Saliency examples" in page
    assert (run / "evaluation" / "lora_tasks.csv").is_file()
    assert (run / "evaluation" / "lora_module_similarity.csv").is_file()
