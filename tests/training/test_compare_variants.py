"""Compare entries: methods, the named UniCT variants, the preset, custom variants."""

import pytest

from hyperct.config.run import ConfigError
from hyperct.training import load_config
from hyperct.training.compare_variants import (
    NAMED,
    PRESETS,
    Entry,
    entry_config,
    outputs,
    parse_entries,
)


def test_the_preset_expands_to_the_nine_unict_configurations() -> None:
    cfg = load_config(None)
    entries = parse_entries(["unict-ablations"])
    assert [e.name for e in entries] == list(PRESETS["unict-ablations"])
    assert set(NAMED) - set(PRESETS["unict-ablations"]) == {"unict-report-guidance"}
    assert len(entries) == 9
    configs = {e.name: entry_config(cfg, e).unict_config() for e in entries}
    assert {n for n, c in configs.items() if not c.fusion} == {
        "unict-no-fusion", "cls-only", "seg-only", "report-only"}
    assert {n for n, c in configs.items() if not c.modulation} == {
        "unict-no-modulation", "cls-only", "seg-only", "report-only"}
    guided = entry_config(cfg, NAMED["unict-report-guidance"]).unict_config()
    assert guided.report_guidance and not any(c.report_guidance for c in configs.values())
    supervised = {n: (c.supervise_classification, c.supervise_segmentation, c.supervise_report)
                  for n, c in configs.items()}
    assert supervised["unict"] == supervised["unict-no-fusion"] == (True, True, True)
    assert supervised["unict-no-cls"] == (False, True, True)
    assert supervised["unict-no-seg"] == (True, False, True)
    assert supervised["unict-no-report"] == (True, True, False)
    assert supervised["cls-only"] == (True, False, False)
    assert supervised["seg-only"] == (False, True, False)
    assert supervised["report-only"] == (False, False, True)
    assert all(entry_config(cfg, e).method == "unict" for e in entries)


def test_outputs_follow_the_supervisions_and_the_method() -> None:
    cfg = load_config(None)
    assert outputs(entry_config(cfg, NAMED["unict-no-seg"])) == ("classification", "report")
    assert outputs(entry_config(cfg, NAMED["seg-only"])) == ("segmentation",)
    assert outputs(entry_config(cfg, Entry("ew", "ew"))) == ("classification",)
    assert outputs(entry_config(cfg, Entry("report3d", "report3d"))) == ("report",)


def test_methods_named_variants_and_custom_ones_mix() -> None:
    entries = parse_entries(["hyperct", "cls-only"],
                            ["ew-fast=ew:optim.lr=0.001;optim.epochs=3", "mgda2=mgda"])
    assert entries == [Entry("hyperct", "hyperct"), NAMED["cls-only"],
                       Entry("ew-fast", "ew", ("optim.lr=0.001", "optim.epochs=3")),
                       Entry("mgda2", "mgda")]
    sub = entry_config(load_config(None), entries[2])
    assert sub.optim.lr == 0.001 and sub.optim.epochs == 3 and sub.method == "ew"


@pytest.mark.parametrize(("methods", "custom", "message"), [
    (["hyperct", "fancy"], [], "unknown 'fancy'"),
    ([], [], "none given"),
    (["unict", "unict-ablations"], [], r"\['unict'\] given twice"),
    ([], ["broken"], "must look like NAME=METHOD"),
    ([], ["x=nomethod:optim.lr=1"], "unknown method 'nomethod'"),
    ([], ["cls-only=unict:unict.fusion=false"], "'cls-only' is a built-in name"),
])
def test_bad_entries_are_refused(methods: list[str], custom: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_entries(methods, custom)


def test_bad_overrides_name_the_variant() -> None:
    cfg = load_config(None)
    with pytest.raises(ConfigError, match="variant 'x'.*'seed' is set by the comparison"):
        entry_config(cfg, Entry("x", "ew", ("seed=3",)))
    with pytest.raises(ConfigError, match="variant 'y'.*unict.fusionn"):
        entry_config(cfg, Entry("y", "unict", ("unict.fusionn=false",)))
