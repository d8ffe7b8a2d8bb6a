"""End-to-end training on a tiny synthetic cohort: run folder, model selection, exact resume."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hyperct.inference.predictions import read_predictions
from hyperct.training import load_config, train
from hyperct.inference.checkpoint import load_checkpoint
from hyperct.training.run_log import read_history
from hyperct.training import trainer as trainer_module
from hyperct.training.trainer import RunExistsError


def test_hyperct_run_writes_a_complete_run_folder(tiny_overrides: list[str]) -> None:
    cfg = load_config(None, tiny_overrides)
    result = train(cfg)
    run = Path(cfg.output_dir)
    for name in ("config.yaml", "best.pt", "last.pt", "history.csv", "run.json", "predictions.csv"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    history = read_history(run / "history.csv")
    assert [int(r["epoch"]) for r in history] == [1, 2]
    aucs = [float(r["val_mean_auc"]) for r in history]
    assert result.best_epoch == 1 + aucs.index(max(aucs))
    best = load_checkpoint(run / "best.pt")
    assert best.epoch == result.best_epoch and best.spec["slices"] == 9
    assert len(best.tasks) == 25 and best.backbone["name"] == "dinov3-tiny"
    preds = read_predictions(run / "predictions.csv")
    assert set(preds["split"]) == {"val", "test"} and preds["task"].nunique() == 25
    assert len(preds) == 12 * 25 and set(preds["method"]) == {"hyperct"}
    with pytest.raises(RunExistsError):
        train(cfg)


@pytest.mark.parametrize("method", ["hyperct", "uw", "dwa"])
def test_resume_matches_an_unbroken_run(tiny_overrides: list[str], tmp_path: Path, method: str) -> None:
    # dropout > 0 and a stateful weighting make the RNG and objective states matter
    tiny_overrides = [*tiny_overrides, f"method={method}", "model.dropout=0.2", "optim.step_size=1"]
    straight = load_config(None, [*tiny_overrides, f"output_dir={tmp_path / 'straight'}"])
    train(straight)
    broken = load_config(None, [*tiny_overrides, "optim.epochs=1",
                                f"output_dir={tmp_path / 'broken'}"])
    train(broken)
    train(load_config(None, [*tiny_overrides, f"output_dir={tmp_path / 'broken'}"]), resume=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "broken" / "last.pt")
    assert a.epoch == b.epoch == 2 and a.step == b.step
    assert a.model.keys() == b.model.keys()
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    ha = pd.read_csv(tmp_path / "straight" / "history.csv")
    hb = pd.read_csv(tmp_path / "broken" / "history.csv")
    assert ha["train_loss"].tolist() == hb["train_loss"].tolist()
    assert ha["val_mean_auc"].tolist() == hb["val_mean_auc"].tolist()


def test_resume_refuses_a_changed_recipe(tiny_overrides: list[str]) -> None:
    train(load_config(None, [*tiny_overrides, "optim.epochs=1"]))
    with pytest.raises(ValueError, match="optim.lr"):
        train(load_config(None, [*tiny_overrides, "optim.lr=1e-2"]), resume=True)


@pytest.mark.parametrize("method", ["hyperct", "ew"])
def test_anatomy_supervision_trains_its_head_and_checkpoints_it(
    tiny_overrides: list[str], method: str
) -> None:
    cfg = load_config(None, [*tiny_overrides, f"method={method}", "optim.epochs=1",
                             "anatomy.enabled=true", "anatomy.targets=small"])
    train(cfg)
    ckpt = load_checkpoint(Path(cfg.output_dir) / "last.pt")
    assert ckpt.extra["objective"]["anatomy"]  # the head is the objective's, saved for resume
    assert not any("seg" in k for k in ckpt.model)  # and never part of the model


def test_3d_run_with_anatomy_saves_an_inference_model_that_reproduces_its_predictions(
    tiny_overrides: list[str], cache3d: str, cohort: dict
) -> None:
    """The paper's 3D recipe through `train`; the saved model has no segmentation parameters
    and, reloaded for inference, gives exactly the predictions the run wrote."""
    from hyperct.inference.predict import load_trained_model, predict_manifest

    cfg = load_config(None, [*tiny_overrides, "method=resnet18_3d", f"data.cache3d={cache3d}",
                             "model3d.resnet18_3d.width=4", "optim.scheduler=cosine",
                             "optim.weight_decay=1e-4", "optim.max_grad_norm=5.0",
                             "anatomy.enabled=true", "anatomy.targets=small"])
    train(cfg)
    run = Path(cfg.output_dir)
    history = read_history(run / "history.csv")
    assert float(history[1]["lr"]) < float(history[0]["lr"])  # cosine decays every epoch
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt.spec["kind"] == "spacing_crop" and ckpt.extra["objective"]["anatomy"]
    model, _ = load_trained_model(run, device="cpu")
    assert not any("seg" in name for name, _ in model.named_modules())
    assert set(ckpt.model) == set(model.state_dict())  # batch-norm statistics included
    written = read_predictions(run / "predictions.csv")
    again = predict_manifest(checkpoint=run, manifest=cohort["manifest"], cache=cache3d,
                             splits=["val", "test"], device="cpu").table
    merged = written.merge(again, on=["scan_id", "task"], suffixes=("", "_again"))
    assert len(merged) == len(written) == 12 * 25
    # the table stores 6 significant digits
    assert np.allclose(merged["prob"], merged["prob_again"], rtol=2e-6, atol=0)


def test_methods_refuse_a_cache_of_the_other_kind(tiny_overrides: list[str], cache3d: str) -> None:
    with pytest.raises(ValueError, match="needs a cache prepared with a spacing_crop spec"):
        train(load_config(None, [*tiny_overrides, "method=resnet18_3d"]))
    with pytest.raises(ValueError, match="needs a cache prepared with a slice_stack spec"):
        train(load_config(None, [*tiny_overrides, f"data.cache={cache3d}"]))


def test_recipe_options_run_together(tiny_overrides: list[str], monkeypatch) -> None:
    freed = []
    monkeypatch.setattr(trainer_module, "return_freed_memory", lambda: freed.append(True))
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1", "optim.grad_accum=2",
                             "optim.max_grad_norm=1.0", "runtime.bf16=true",
                             "runtime.activation_checkpointing=true",
                             "runtime.return_freed_memory=true",
                             "sampling.strategy=inverse_prevalence"])
    train(cfg)
    assert freed == [True]
    (row,) = read_history(Path(cfg.output_dir) / "history.csv")
    assert int(row["steps"]) == 2  # 12 scans, batches of 4, two batches per step
    assert float(row["train_loss"]) == float(row["train_loss"])  # not NaN


def test_a_refused_resume_leaves_config_yaml_as_it_was(tiny_overrides: list[str]) -> None:
    cfg = load_config(None, [*tiny_overrides, "optim.epochs=1"])
    train(cfg)
    saved = (Path(cfg.output_dir) / "config.yaml").read_text()
    with pytest.raises(ValueError, match="optim.lr"):
        train(load_config(None, [*tiny_overrides, "optim.lr=1e-2"]), resume=True)
    assert (Path(cfg.output_dir) / "config.yaml").read_text() == saved


def test_scans_missing_from_the_cache_stop_the_run_before_training(
    tiny_overrides: list[str], cohort: dict, tmp_path: Path
) -> None:
    manifest = pd.read_csv(cohort["manifest"])
    ghost = manifest.iloc[-1].copy()
    ghost["scan_id"], ghost["split"] = "ghost", "test"
    path = tmp_path / "manifest.csv"
    pd.concat([manifest, ghost.to_frame().T], ignore_index=True).to_csv(path, index=False)
    cfg = load_config(None, [*tiny_overrides, f"data.manifest={path}"])
    with pytest.raises(FileNotFoundError, match=r"1 test scan\(s\) of .*manifest.csv are not in the cache.*ghost"):
        train(cfg)
    assert not Path(cfg.output_dir).exists()  # nothing written, no epoch trained


def test_data_manifest_unset_says_which_key_to_set(tiny_overrides: list[str]) -> None:
    cfg = load_config(None, [o for o in tiny_overrides if not o.startswith("data.manifest=")])
    with pytest.raises(ValueError, match=r"data.manifest is not set; set data.manifest in the "
                                         r"config \(or pass --set data.manifest=PATH\)"):
        train(cfg)


def test_a_kill_between_last_pt_and_history_csv_loses_no_row(tiny_overrides: list[str]) -> None:
    """last.pt is written first; a run killed before history.csv gets its row back on resume."""
    cfg = load_config(None, tiny_overrides)
    train(load_config(None, [*tiny_overrides, "optim.epochs=1"]))
    history = Path(cfg.output_dir) / "history.csv"
    history.write_text(history.read_text().splitlines()[0] + "\n")  # epoch 1's row never written
    train(cfg, resume=True)
    rows = read_history(history)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[0]["train_loss"]) == float(rows[0]["train_loss"])  # a real row, not NaN
