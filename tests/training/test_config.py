"""Training config: YAML + dotted overrides fill validated dataclasses; bad keys are named."""

from pathlib import Path

import pytest

from hyperct.training import ConfigError, load_config, save_config
from hyperct.models.build import model3d_config, model_config


def test_defaults_are_the_paper_recipe() -> None:
    cfg = load_config(None)
    o = cfg.optim
    assert (o.lr, o.weight_decay, o.batch_size, o.epochs, o.step_size, o.gamma) == (
        1e-5, 0.0, 8, 20, 15, 0.1
    )
    assert cfg.method == "hyperct" and cfg.sampling.strategy == "uniform"
    assert cfg.sampling.tasks_per_sample == 1
    assert len(cfg.task_names) == 25


def test_overrides_parse_values_and_create_sections() -> None:
    cfg = load_config("demo", ["optim.lr=1e-4", "model.rank=8", "method=ew",
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
        ("sampling.tasks_per_sample=0", "sampling.tasks_per_sample"),
        ("sampling.tasks_per_sample=two", "sampling.tasks_per_sample"),
        ("tasks=[Nonsense]", "Nonsense"),
        ("bogus=1", "bogus"),
        ("optim.scheduler=linear", "optim.scheduler"),
        ("anatomy.label_set=lungs", "anatomy.label_set"),
        ("anatomy.colour=red", "anatomy"),
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
    cfg = load_config("paper", ["seed=3"])
    path = save_config(cfg, tmp_path / "config.yaml")
    assert load_config(path) == cfg
    assert model_config(cfg.method, cfg.model).backbone == "dinov3-vitb16"


def test_3d_methods_read_model3d_and_their_own_cache() -> None:
    from hyperct.models.backbones3d import available_backbones3d
    from hyperct.config.run import METHODS_3D

    assert sorted(METHODS_3D) == available_backbones3d()
    cfg = load_config(None, ["method=resnet18_3d", "data.cache=c25", "data.cache3d=c3d",
                             "model3d.dropout=0.1", "model3d.resnet18_3d.width=8",
                             "model3d.swin_3d.embed_dim=12", "anatomy.enabled=true"])
    assert cfg.is_3d and cfg.run_cache == "c3d"
    config = model3d_config(cfg.method, cfg.model3d)
    assert config.backbone == "resnet18_3d" and config.dropout == 0.1
    assert config.backbone_kwargs == {"width": 8}  # the swin section applies to swin_3d only
    assert load_config(None, ["method=ew", "data.cache=c25", "data.cache3d=c3d"]).run_cache == "c25"
    with pytest.raises(ConfigError, match="model3d.widht"):
        model3d_config("resnet18_3d", {"widht": 8})


def test_anatomy3d_config_is_the_paper_recipe_and_builds_both_3d_models() -> None:
    from hyperct.preprocess.spec import load_spec

    cfg = load_config("anatomy3d")
    assert (cfg.optim.weight_decay, cfg.optim.scheduler, cfg.optim.max_grad_norm) == (
        1e-4, "cosine", 5.0)
    assert cfg.anatomy_config().label_set == "chest_lobes_heart" and cfg.anatomy_config().weight == 1
    assert model3d_config("swin_3d", cfg.model3d).backbone_kwargs["window_size"] == 4
    assert load_spec("anatomy3d-cpu").kind == "spacing_crop"


@pytest.mark.parametrize(("override", "match"), [
    ("report.decoding=sample", "report.decoding must be one of"),
    ("report.heads=3", "report.width 256 must be divisible by report.heads 3"),
    ("report.vocab_size=100", "report.vocab_size must exceed 260"),
    ("report.max_len=1", "report.max_len must be >= 2"),
    ("report.token_grid=[2, 2]", "report.token_grid must be three integers"),
    ("report.beam_width=0", "report.beam_width must be an integer >= 1"),
    ("report.vocab=5", "unknown config key 'report.vocab'"),
])
def test_report_section_is_validated_with_its_dotted_key(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, ["method=report3d", override])


def test_report_decoding_reaches_the_model_config() -> None:
    from hyperct.models.build import report_config

    cfg = load_config(None, ["method=report3d", "report.decoding=beam", "report.beam_width=4"])
    assert cfg.is_3d and report_config(cfg.report, {"format": "x"}).beam_width == 4
    greedy = load_config(None, ["method=report3d", "report.beam_width=4"])
    assert report_config(greedy.report, {"format": "x"}).beam_width == 1


@pytest.mark.parametrize(("override", "match"), [
    ("unict.dimm=8", r"unknown config key 'unict.dimm'"),
    ("unict.classes=[a]", r"unknown config key 'unict.classes' \(set by the run"),
    ("unict.seg_classes=[a]", r"unknown config key 'unict.seg_classes' \(set by the run"),
    ("unict.dim=10", r"unict.dim 10 is not divisible by heads 4"),
    ("unict.encoder=vit", r"unict.encoder 'vit' is unknown"),
    ("unict.weight_report=-1", r"unict.weight_report must be >= 0"),
])
def test_unict_section_is_validated_with_its_dotted_key(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, ["method=unict", override])


def test_unict_with_every_supervision_off_is_refused_naming_the_fields() -> None:
    off = [f"unict.supervise_{t}=false" for t in ("classification", "segmentation", "report")]
    with pytest.raises(ConfigError, match="unict.supervise_classification, "
                       "unict.supervise_segmentation, unict.supervise_report are all false"):
        load_config(None, ["method=unict", *off])
    assert not load_config(None, ["method=unict", *off[:2]]).unict_config().supervise_classification


def test_unict_reads_the_cache_its_encoder_reads() -> None:
    from hyperct.models.unict.encoders import ENCODERS

    paths = ["data.cache=c25", "data.cache3d=c3d"]
    for encoder, cache in (("ctscroll", "c25"), ("volume3d", "c3d"), ("dinov3", "c25")):
        cfg = load_config(None, ["method=unict", f"unict.encoder={encoder}", *paths])
        assert cfg.is_3d == (cache == "c3d") == (ENCODERS[encoder].kind == "3d")
        assert cfg.run_cache == cache
