"""Specs: validation, JSON round trip, stable hash, lookup by name or file."""

from pathlib import Path

import pytest

from hyperct.preprocess.spec import (
    SliceStackSpec,
    SpacingCropSpec,
    load_spec,
    spec_from_dict,
    spec_from_json,
)


@pytest.mark.parametrize(
    "spec", [SliceStackSpec(), SpacingCropSpec(), SliceStackSpec(slices=30, size=32)]
)
def test_json_round_trip_and_hash(spec) -> None:
    back = spec_from_json(spec.to_json())
    assert back == spec and type(back) is type(spec)
    assert back.hash() == spec.hash()


def test_hash_is_stable_and_content_sensitive() -> None:
    assert SliceStackSpec().hash() == SliceStackSpec().hash()
    assert SliceStackSpec().hash() != SliceStackSpec(size=224).hash()
    assert SliceStackSpec().hash() != SpacingCropSpec().hash()


def test_defaults_are_the_papers() -> None:
    paper = SliceStackSpec()
    assert paper.grid_shape == (165, 144, 144) and paper.n_images == 55
    assert paper.hu_window == (-1000.0, 1000.0)
    three_d = SpacingCropSpec()
    assert three_d.spacing_zyx == (3.0, 1.5, 1.5)
    assert three_d.pad_shape_zyx == (120, 240, 240) and three_d.crop_shape_zyx == (96, 192, 192)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SliceStackSpec(slices=2), "slices must be >= 3"),
        (lambda: SliceStackSpec(hu_window=(100.0, -100.0)), "hu_window"),
        (lambda: SliceStackSpec(std=(0.2, 0.0, 0.2)), "std"),
        (lambda: SpacingCropSpec(crop_shape_zyx=(200, 10, 10)), "exceeds pad_shape_zyx"),
        (lambda: SpacingCropSpec(spacing_zyx=(0.0, 1.5, 1.5)), "spacing_zyx"),
    ],
)
def test_invalid_specs_refused(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_load_spec_by_name_and_file(tmp_path: Path) -> None:
    assert load_spec("paper") == SliceStackSpec()
    assert load_spec("anatomy3d") == SpacingCropSpec()
    path = tmp_path / "spec.json"
    path.write_text(SliceStackSpec(size=64).to_json())
    assert load_spec(path) == SliceStackSpec(size=64)
    with pytest.raises(ValueError, match="neither a named spec"):
        load_spec("nope")
    with pytest.raises(ValueError, match="unknown field"):
        spec_from_dict({"kind": "slice_stack", "slices": 9, "colour": 1})
