"""`hyperct demo`'s options are DemoConfig's fields: the same defaults and help, written once."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import typer

from hyperct.cli.main import app, main
from hyperct.demo import DemoConfig, DemoResult


@pytest.fixture
def captured(monkeypatch, tmp_path) -> list[DemoConfig]:
    """Replace the pipeline by one that records its config and returns a one-row summary."""
    configs: list[DemoConfig] = []

    def fake_run_demo(config: DemoConfig) -> DemoResult:
        configs.append(config)
        summary = pd.DataFrame({"cohort": ["internal"], "row": ["mean AUC: overall"],
                                **{m: [0.5] for m in config.methods}})
        return DemoResult(tmp_path, tmp_path / "report.html", summary, None, None, {"x": 60.0})

    monkeypatch.setattr("hyperct.demo.run_demo", fake_run_demo)
    return configs


def _demo_params() -> dict[str, object]:
    command = typer.main.get_command(app).commands["demo"]
    return {param.name: param for param in command.params}


def test_every_field_is_an_option_with_its_help() -> None:
    params = _demo_params()
    fields = dataclasses.fields(DemoConfig)
    assert set(params) == {f.name for f in fields}
    for f in fields:
        assert params[f.name].help == f.metadata["help"], f.name


def test_the_cli_defaults_are_the_dataclass_defaults(captured, capsys) -> None:
    assert main(["demo"]) == 0
    assert captured == [DemoConfig()]
    for f in dataclasses.fields(DemoConfig):  # field by field, for a readable failure
        assert getattr(captured[0], f.name) == f.default, f.name
    assert "mean AUC: overall" in capsys.readouterr().out


def test_options_fill_their_fields(captured, tmp_path) -> None:
    args = ["demo", "--config", "paper", "--spec", "paper", "--n", "60", "--methods", "hyperct, stl",
            "--set", "optim.epochs=1", "--set", "seed=2", "--real-ct", str(tmp_path / "ct.nii.gz"),
            "--out", str(tmp_path / "o"), "--force", "--backbone-pretraining", "ssl"]
    assert main(args) == 0
    cfg = captured[0]
    assert (cfg.train_config, cfg.spec, cfg.n_scans) == ("paper", "paper", 60)
    assert cfg.methods == ("hyperct", "stl") and cfg.overrides == ("optim.epochs=1", "seed=2")
    assert cfg.real_ct == tmp_path / "ct.nii.gz" and cfg.out == tmp_path / "o" and cfg.force
    assert cfg.backbone_pretraining == "ssl"


def test_a_bad_value_is_bad_input(captured, capsys) -> None:
    assert main(["demo", "--n", "10"]) == 2
    assert capsys.readouterr().err.startswith("error: n_scans must be at least 40")
    assert captured == []


def test_the_default_config_and_spec_load_from_any_folder(monkeypatch, tmp_path: Path) -> None:
    from hyperct.preprocess.spec import load_spec
    from hyperct.training import load_config

    monkeypatch.chdir(tmp_path)
    cfg = DemoConfig()
    assert load_config(cfg.train_config).model["backbone"] == "dinov3-tiny"
    assert load_spec(cfg.spec).kind == "slice_stack"
