"""The shipped configs and specs resolve by name from any folder; a path still works."""

from pathlib import Path

import pytest

from hyperct.configs import config_names, config_source, spec_names, spec_source
from hyperct.preprocess.spec import load_spec
from hyperct.training import load_config


def test_the_shipped_names() -> None:
    assert config_names() == ["anatomy3d", "demo", "paper"]
    assert spec_names() == ["anatomy3d-cpu", "demo"]


@pytest.mark.parametrize("name", ["anatomy3d", "demo", "paper"])
def test_every_named_config_loads_from_another_folder(name, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_source(name).is_file()
    assert load_config(name).output_dir == f"runs/{name}"


def test_named_specs_load_from_another_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    demo, small3d = load_spec("demo"), load_spec("anatomy3d-cpu")
    assert (demo.kind, demo.slices, demo.size) == ("slice_stack", 48, 64)
    assert (small3d.kind, small3d.spacing_zyx) == ("spacing_crop", (6.0, 6.0, 6.0))
    assert load_spec("anatomy3d").spacing_zyx != small3d.spacing_zyx  # the paper's, unchanged


def test_a_path_is_still_a_path(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    Path("paper").write_text("method: ew\n")  # a file that has a shipped config's name
    assert load_config("./paper").method == "ew" and load_config("paper").method == "hyperct"
    Path("mine.yaml").write_text("method: mgda\n")
    assert load_config(tmp_path / "mine.yaml").method == "mgda"
    Path("mine.json").write_text(load_spec("demo").to_json())
    assert load_spec("mine.json") == load_spec("demo") and spec_source("x.json") == Path("x.json")


def test_an_unknown_name_lists_the_named_ones(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="named configs: anatomy3d, demo, paper"):
        load_config("papr")
    with pytest.raises(ValueError, match=r"\['anatomy3d', 'anatomy3d-cpu', 'demo', 'paper'\]"):
        load_spec("dmeo")
