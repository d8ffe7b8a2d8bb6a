"""The benchmark's sizes: the hour-sized cut keeps what the issue asks for; options override."""

from benchmarks.mtl_compare import FULL, HOUR, METHODS, resolve_size


def test_hour_size_keeps_cohort_methods_seeds_and_grid_and_cuts_per_run_cost():
    size = resolve_size("hour", {})
    assert size["n"] >= 400
    assert tuple(size["methods"]) == METHODS
    assert size["seeds"] == 3
    assert len(size["lr_grid"].split(",")) == 2
    assert size["slices"] * size["px"] ** 2 / size["patch"] ** 2 < (
        FULL["slices"] * FULL["px"] ** 2 / FULL["patch"] ** 2
    )
    assert size == HOUR


def test_set_options_override_the_size_and_unset_ones_do_not():
    size = resolve_size("hour", {"n": 500, "seeds": None, "methods": "hyperct, ew", "work": "x"})
    assert size["n"] == 500
    assert size["seeds"] == HOUR["seeds"]
    assert size["methods"] == ("hyperct", "ew")
    assert "work" not in size
