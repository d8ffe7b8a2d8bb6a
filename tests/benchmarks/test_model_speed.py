"""Every model_speed row states the issue's goals and its floor and authors' ratios."""

import subprocess
import sys

import pytest

from benchmarks.floor import floor_seconds
from benchmarks.model_speed import (
    PREDICT_CASES,
    PREDICT_FLOOR_CASE,
    TRAIN_CASES,
    TRAIN_FLOOR_CASE,
    Reference,
    for_precision,
    predict_row,
    train_rows,
)
from hyperct.inference.heap import child_environment, preload_library

REF = Reference(
    floor_gflops=400.0,
    authors_train_s=24.6,
    authors_predict_s=118.0,
    authors_source="recorded anchor",
)


def _result(seconds: list[float], rss_gb: float = 3.5) -> dict:
    return {"times_s": seconds, "peak_rss_gb": rss_gb, "peak_heap_gb": 2.0, "load": [1.0, 1.0]}


def test_train_rows_judge_speed_against_the_authors_and_memory_against_4_gb():
    speed, memory = train_rows("x", _result([9.0, 8.0, 7.0], rss_gb=4.2), REF)
    assert speed["value"] == 8.0
    assert speed["goal"] == ">= 3x the authors' code (<= 8.2 s)"
    assert speed["met"] is True
    assert speed["vs_authors"] == round(8.0 / 24.6, 3)
    assert speed["vs_floor"] == round(8.0 / floor_seconds(TRAIN_FLOOR_CASE, 400.0), 2)
    assert speed["authors_source"] == "recorded anchor"
    assert memory["goal"] == "<= 4 GB" and memory["met"] is False
    assert memory["peak_heap_gb"] == 2.0


def test_train_goal_follows_authors_seconds_measured_in_the_same_run():
    ref = Reference(400.0, authors_train_s=30.0, authors_predict_s=118.0, authors_source="same run")
    speed, _ = train_rows("x", _result([9.5]), ref)
    assert speed["goal"] == ">= 3x the authors' code (<= 10.0 s)" and speed["met"] is True


def test_a_case_is_judged_on_the_faster_floor_of_its_own_process():
    result = {**_result([10.0]), "floor_gflops": [300.0, 500.0]}
    speed, _ = train_rows("x", result, REF)
    predict = predict_row("exact", True, result, REF)
    assert speed["floor_gflops"] == predict["floor_gflops"] == [300.0, 500.0]
    assert speed["vs_floor"] == round(10.0 / floor_seconds(TRAIN_FLOOR_CASE, 500.0), 2)
    assert predict["floor_s"] == round(floor_seconds(PREDICT_FLOOR_CASE, 500.0), 3)
    assert train_rows("x", _result([10.0]), REF)[0]["floor_gflops"] == [400.0]


def test_exact_predict_rows_are_judged_on_the_floor_ratio():
    floor = floor_seconds(PREDICT_FLOOR_CASE, 400.0)
    fast = predict_row("exact", True, _result([1.4 * floor]), REF)
    slow = predict_row("exact", True, _result([1.6 * floor]), REF)
    approximate = predict_row("K=4", False, _result([0.5 * floor]), REF)
    assert fast["goal"] == f"<= 1.5x bf16 floor ({1.5 * floor:.1f} s)"
    assert (fast["met"], slow["met"], approximate["met"]) == (True, False, None)
    assert fast["vs_floor"] == 1.4 and fast["vs_authors"] == round(1.4 * floor / 118.0, 3)
    assert all("20.0" not in row["goal"] for row in (fast, slow, approximate))


def test_without_bf16_arithmetic_the_cases_run_once_each_in_fp32():
    cases = for_precision(TRAIN_CASES, "fp32")
    assert {case["precision"] for case in cases} == {"fp32"}
    assert all("bf16" not in case["label"] for case in cases)
    runs = [(case.get("checkpointing"), case.get("return_freed_memory"), case.get("allocator"))
            for case in cases]
    assert len(runs) == len(set(runs)) == len(TRAIN_CASES) - 1  # autocast + selective merged
    assert [case["label"] for case in for_precision(PREDICT_CASES, "fp32")][:2] == [
        "fp32", "fp32, tcmalloc"]  # autocast and bf16 weights: the same float32 computation
    assert for_precision(TRAIN_CASES, "bf16") == TRAIN_CASES


def test_an_fp32_run_judges_prediction_on_the_fp32_floor():
    ref = Reference(100.0, 24.6, 118.0, "recorded anchor", precision="fp32")
    floor = floor_seconds(PREDICT_FLOOR_CASE, 100.0)
    row = predict_row("exact", True, _result([1.2 * floor]), ref)
    assert row["goal"] == f"<= 1.5x fp32 floor ({1.5 * floor:.1f} s)" and row["met"] is True


LOADED = "from hyperct.inference.heap import allocator; print(allocator())"


def _allocator_of_child(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", LOADED], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


def test_a_case_without_an_allocator_runs_under_glibc():
    assert _allocator_of_child(child_environment(None)) == "glibc"


@pytest.mark.skipif(preload_library("tcmalloc") is None,
                    reason="libtcmalloc-minimal4 is not installed (make test installs it)")
def test_a_tcmalloc_case_runs_with_tcmalloc_preloaded():
    env = child_environment("tcmalloc")
    assert env is not None and "tcmalloc" in env["LD_PRELOAD"]
    assert _allocator_of_child(env) == "tcmalloc"
