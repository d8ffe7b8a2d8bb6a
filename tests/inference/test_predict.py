"""A trained run predicted through inference alone: the same probabilities the run wrote."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

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
                             cache=cohort["cache"], splits=["val", "test"], device="cpu").table
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


def _cache_without(cache: str, scan_id: str, folder: Path) -> Path:
    """A copy of ``cache`` that lacks ``scan_id``'s entry."""
    import shutil

    from hyperct.data.cache import ScanCache

    copy = Path(shutil.copytree(cache, folder / "cache"))
    ScanCache(copy).remove(scan_id)
    return copy


def test_three_shards_merged_equal_the_unsharded_table(
    trained_run: str, cohort: dict, tmp_path: Path
) -> None:
    from hyperct.data.shard import Shard
    from hyperct.inference.parts import merge_parts
    from hyperct.inference.predictions import write_predictions

    common = dict(checkpoint=trained_run, manifest=cohort["manifest"], cache=cohort["cache"],
                  device="cpu")
    whole = predict_manifest(**common, out=tmp_path / "whole.csv")
    assert whole.failed == {} and whole.main and len(whole.table) == 24 * 25
    parts = [tmp_path / f"part{i}.csv" for i in range(3)]
    sizes = [len(predict_manifest(**common, shard=Shard(i, 3), out=parts[i]).table) for i in range(3)]
    assert sum(sizes) == 24 * 25 and min(sizes) > 0
    merged = merge_parts(parts, manifest=cohort["manifest"])
    assert merged.gaps == {}
    write_predictions(merged.table, tmp_path / "merged.csv")
    _assert_same_table(tmp_path / "merged.csv", tmp_path / "whole.csv")


def test_a_scan_missing_from_the_cache_fails_alone(
    trained_run: str, cohort: dict, tmp_path: Path
) -> None:
    cache = _cache_without(cohort["cache"], "s20", tmp_path)
    result = predict_manifest(checkpoint=trained_run, manifest=cohort["manifest"], cache=cache,
                              splits=["test"], device="cpu")
    assert list(result.failed) == ["s20"] and "not in the cache" in result.failed["s20"]
    assert sorted(result.table["scan_id"].unique()) == [f"s{i}" for i in range(18, 24) if i != 20]

    from hyperct.data.cache import ScanCache

    ScanCache(cache).image_path("s21").write_bytes(b"\x93NUMPY truncated")
    again = predict_manifest(checkpoint=trained_run, manifest=cohort["manifest"], cache=cache,
                             splits=["test"], device="cpu")
    assert sorted(again.failed) == ["s20", "s21"] and "unreadable cache entry" in again.failed["s21"]


@pytest.mark.slow
def test_torchrun_two_processes_write_the_unsharded_table(
    trained_run: str, cohort: dict, tmp_path: Path
) -> None:
    import os

    whole = tmp_path / "whole.csv"
    predict_manifest(checkpoint=trained_run, manifest=cohort["manifest"], cache=cohort["cache"],
                     device="cpu", out=whole)
    script = tmp_path / "cli.py"
    script.write_text("from hyperct.cli.main import app\napp()\n")
    out = tmp_path / "ranks.csv"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script),
           "predict", "--manifest", cohort["manifest"], "--cache", cohort["cache"],
           "--checkpoint", trained_run, "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed: rank 1 of 2" in done.stderr
    _assert_same_table(out, whole)
    assert done.stdout.count("24 scans x 25 tasks") == 1  # rank 0 alone reports


def _assert_same_table(path: Path, reference: Path) -> None:
    """The same rows in the same order, every column but ``prob`` equal as written, and ``prob``
    equal to the table's 6 significant digits: a scan's float32 probability may differ in its
    last bit with the scans it is batched with (the batch's shape picks oneDNN's kernels), which
    can move the written sixth digit by one."""
    table, expected = pd.read_csv(path, dtype=str), pd.read_csv(reference, dtype=str)
    assert list(table.columns) == list(expected.columns) and len(table) == len(expected)
    others = [column for column in table.columns if column != "prob"]
    pd.testing.assert_frame_equal(table[others], expected[others])
    assert np.allclose(table["prob"].astype(float), expected["prob"].astype(float), rtol=0, atol=1e-6)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("bf16_arithmetic", "backbone"), [(False, torch.float32), (True, torch.bfloat16)])
def test_bf16_weights_load_in_float32_on_a_cpu_without_bf16(
    trained_run, monkeypatch, bf16_arithmetic, backbone
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16_arithmetic)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    model, _ = load_trained_model(trained_run, "cpu", {"backbone_dtype": "bfloat16"})
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert frozen == {backbone}
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}


def test_a_model_loaded_on_the_cpu_says_its_allocator(trained_run, caplog) -> None:
    import logging

    from hyperct.inference.heap import log_allocator

    log_allocator.cache_clear()
    with caplog.at_level(logging.INFO, logger="hyperct.inference.heap"):
        load_trained_model(trained_run, "cpu")
    assert any("CPU memory allocator" in r.getMessage() for r in caplog.records)
