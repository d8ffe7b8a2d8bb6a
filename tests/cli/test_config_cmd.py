"""`hyperct config list|show|write`: the shipped configs and specs, printed or copied for editing."""

import json

import yaml

from hyperct.cli.main import main
from hyperct.configs import config_source
from hyperct.preprocess.spec import SliceStackSpec, load_spec
from hyperct.training import load_config


def test_list_names_every_config_and_spec(capsys) -> None:
    assert main(["config", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("anatomy3d", "demo", "paper", "anatomy3d-cpu"):
        assert f"  {name} " in out
    assert "The HyperCT paper's recipe" in out


def test_show_prints_the_shipped_file(capsys) -> None:
    assert main(["config", "show", "paper"]) == 0
    out = capsys.readouterr().out
    assert out == config_source("paper").read_text()
    assert yaml.safe_load(out)["optim"]["lr"] == 1e-5
    assert main(["config", "show", "paper", "--spec"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SliceStackSpec().to_json())


def test_write_copies_a_config_to_edit_and_train_from(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["config", "write", "demo", "mine.yaml"]) == 0
    assert "hyperct train mine.yaml" in capsys.readouterr().out
    assert load_config("mine.yaml") == load_config("demo")
    (tmp_path / "mine.yaml").write_text("method: ew\n")
    assert main(["config", "write", "demo", "mine.yaml"]) == 2  # an edited copy is kept
    assert "mine.yaml exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "mine.yaml").read_text() == "method: ew\n"
    assert main(["config", "write", "demo", "mine.yaml", "--force"]) == 0
    assert load_config("mine.yaml") == load_config("demo")
    assert main(["config", "write", "anatomy3d-cpu", "spec.json", "--spec"]) == 0
    assert load_spec("spec.json") == load_spec("anatomy3d-cpu")


def test_an_unknown_name_is_bad_input(capsys, tmp_path) -> None:
    assert main(["config", "show", "papr"]) == 2
    assert capsys.readouterr().err == (
        "error: no named config 'papr'; named configs: anatomy3d, demo, paper\n"
    )
    assert main(["config", "write", "dmeo", str(tmp_path / "s.json"), "--spec"]) == 2
    assert "named specs: anatomy3d, anatomy3d-cpu, demo, paper" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_train_takes_a_name_from_any_folder(capsys, monkeypatch, tmp_path) -> None:
    """The config resolves by name; training then stops at the missing manifest it names."""
    monkeypatch.chdir(tmp_path)
    code = main(["train", "demo", "--set", "data.manifest=nowhere.csv", "--set", "output_dir=run"])
    err = capsys.readouterr().err
    assert code == 2 and "nowhere.csv" in err and "config file not found" not in err
