"""A trained run predicted through inference alone: the same probabilities the run wrote."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperct.inference.predict import load_trained_model, predict_manifest
from hyperct.inference.predictions import read_predictions
from hyperct.inference.scans import predict_scans
from hyperct.tasks import TASK_NAMES


def test_inference_imports_no_training() -> None:
    """What the HTTP service and UniCT will use must load without the training part."""
    code = (
        "import sys; import hyperct.inference.predict, hyperct.inference.scans, "
        "hyperct.evaluation.lora, hyperct.explain.api; "
        "print([m for m in sys.modules if m.startswith('hyperct.training')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("method", ["hyperct", "ew"])
def test_predict_manifest_reproduces_the_runs_predictions(
    tiny_overrides: list[str], cohort: dict, real_ct: Path, method: str
) -> None:
    from hyperct.training import load_config, train

    cfg = load_config(None, [*tiny_overrides, f"method={method}", "optim.epochs=1"])
    train(cfg)
    written = read_predictions(Path(cfg.output_dir) / "predictions.csv")
    again = predict_manifest(checkpoint=cfg.output_dir, manifest=cohort["manifest"],
                             cache=cohort["cache"], splits=["val", "test"], device="cpu")
    merged = written.merge(again, on=["scan_id", "task"], suffixes=("", "_again"))
    assert len(merged) == len(written) == 12 * 25
    # the table stores 6 significant digits; float32 sums differ in the last bits
    assert np.allclose(merged["prob"], merged["prob_again"], rtol=0, atol=1e-6)

    model, ckpt = load_trained_model(cfg.output_dir, device="cpu")
    assert model.task_names == list(TASK_NAMES) == ckpt.tasks
    probs = predict_scans(paths=[real_ct / "ts_chest_crop.nii.gz"], checkpoint=cfg.output_dir,
                          device="cpu")
    assert probs.shape == (1, 25) and list(probs.columns) == list(TASK_NAMES)
    assert ((probs.to_numpy() > 0) & (probs.to_numpy() < 1)).all()
