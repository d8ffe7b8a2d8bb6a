"""A new task learned on a trained HyperCT: only its embedding changes; old tasks are untouched."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from hyperct.training import load_config, train
from hyperct.inference.checkpoint import load_checkpoint
from hyperct.training.new_task import train_new_task
from hyperct.inference.scans import predict_scans
from hyperct.inference.predict import load_trained_model


def test_new_task_trains_only_its_embedding(tiny_overrides: list[str], cohort: dict, tmp_path: Path,
                                            real_ct: Path) -> None:
    base_cfg = load_config(None, [*tiny_overrides, "optim.epochs=1"])
    train(base_cfg)
    manifest = pd.read_csv(cohort["manifest"])
    manifest["Blob burden"] = manifest["Emphysema"]  # a task the catalogue does not have
    new_manifest = tmp_path / "manifest_new.csv"
    manifest.to_csv(new_manifest, index=False)
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=2", "optim.lr=5e-2",
                             f"data.manifest={new_manifest}", f"output_dir={tmp_path / 'new'}"])
    result = train_new_task(run=base_cfg.output_dir, task="Blob burden", cfg=cfg)
    assert result.best_epoch in (1, 2)

    old = load_checkpoint(Path(base_cfg.output_dir) / "best.pt").model
    new = load_checkpoint(tmp_path / "new" / "best.pt")
    assert new.tasks[-1] == "Blob burden" and len(new.tasks) == 26
    changed = [k for k in new.model if k not in old or not torch.equal(new.model[k], old[k])]
    assert changed and all("task_embedding" in k for k in changed)

    model, _ = load_trained_model(tmp_path / "new", device="cpu")
    assert model.task_names[-1] == "Blob burden"
    probs = predict_scans(paths=[real_ct / "ts_chest_crop.nii.gz"], checkpoint=tmp_path / "new",
                          device="cpu")
    assert probs.shape == (1, 26) and probs.columns[-1] == "Blob burden"


def test_new_task_uses_the_trainers_schedule(tiny_overrides: list[str], cohort: dict,
                                              tmp_path: Path) -> None:
    from hyperct.training.run_log import read_history

    base_cfg = load_config(None, [*tiny_overrides, "optim.epochs=1"])
    train(base_cfg)
    manifest = pd.read_csv(cohort["manifest"])
    manifest["Blob burden"] = manifest["Emphysema"]
    new_manifest = tmp_path / "manifest_new.csv"
    manifest.to_csv(new_manifest, index=False)
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=2", "optim.scheduler=cosine",
                             f"data.manifest={new_manifest}", f"output_dir={tmp_path / 'new'}"])
    train_new_task(run=base_cfg.output_dir, task="Blob burden", cfg=cfg)
    rows = read_history(tmp_path / "new" / "history.csv")
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[1] == pytest.approx(lrs[0] / 2)  # cosine over 2 epochs; StepLR(2) would keep it
    assert "val_auc/Blob burden" in rows[0]
