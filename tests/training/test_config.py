"""Training config: YAML + dotted overrides fill validated dataclasses; bad keys are named."""

from pathlib import Path

import pytest

from hyperct.training import ConfigError, load_config, save_config
from hyperct.training.model_setup import model_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_paper_recipe() -> None:
    cfg = load_config(None)
    o = cfg.optim
    assert (o.lr, o.weight_decay, o.batch_size, o.epochs, o.step_size, o.gamma) == (
        1e-5, 0.0, 8, 20, 15, 0.1
    )
    assert cfg.method == "hyperct" and cfg.sampling.strategy == "uniform"
    assert len(cfg.task_names) == 25


def test_overrides_parse_values_and_create_sections() -> None:
    cfg = load_config(CONFIGS / "demo.yaml", ["optim.lr=1e-4", "model.rank=8", "method=ew",
                                              "tasks=[Emphysema, cardiomegaly]"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.model["rank"] == 8 and cfg.method == "ew"
    assert cfg.task_names == ("Cardiomegaly", "Emphysema")  # catalogue order, full names


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optim.lrr=1", "optim.lrr"),
        ("optim.lr=-1", "optim.lr"),
        ("optim.batch_size=many", "optim.batch_size"),
        ("method=adam", "method"),
        ("sampling.strategy=random", "sampling.strategy"),
        ("tasks=[Nonsense]", "Nonsense"),
        ("bogus=1", "bogus"),
    ],
)
def test_bad_values_and_unknown_keys_are_named(override: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(None, [override])


def test_unknown_model_key_is_named_and_family_keys_are_shared() -> None:
    with pytest.raises(ConfigError, match="model.rnak"):
        model_config("hyperct", {"rnak": 4})
    # a HyperCT-only key does not stop a baseline built from the same config
    assert model_config("ew", {"backbone": "dinov3-tiny", "task_dim": 8}).backbone == "dinov3-tiny"


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "paper.yaml", ["seed=3"])
    path = save_config(cfg, tmp_path / "config.yaml")
    assert load_config(path) == cfg
    assert model_config(cfg.method, cfg.model).backbone == "dinov3-vitb16"
