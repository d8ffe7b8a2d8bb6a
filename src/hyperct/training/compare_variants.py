"""The entries of a comparison: methods, named variants (a method plus config overrides), presets.

A variant is one compared configuration: a method trained with dotted config overrides on top of
the comparison's config, under its own name (its folder and its column in every table).

Named variants of UniCT (the paper's ablations and the single-task models with its encoder):

==========================  =================================================================
``unict``                   the full model
``unict-no-fusion``         ``unict.fusion=false`` (no cross-task attention)
``unict-no-modulation``     ``unict.modulation=false`` (masks do not modulate the other tasks)
``unict-no-cls``            ``unict.supervise_classification=false``
``unict-no-seg``            ``unict.supervise_segmentation=false``
``unict-no-report``         ``unict.supervise_report=false``
``cls-only``                classification supervised only
``seg-only``                segmentation supervised only
``report-only``             report supervised only
``unict-report-guidance``   ``unict.report_guidance=true`` (the report reads the classifier's
                            decisions)
==========================  =================================================================

A single-task model also switches fusion and modulation off: with one task there is nothing to
fuse, and modulation would feed the classification or report branch masks from a segmentation
decoder no loss trains. The preset ``unict-ablations`` names the paper's nine (all but
``unict-report-guidance``). Custom variants are
``NAME=METHOD:KEY=VALUE;KEY=VALUE`` (keys as for ``--set``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hyperct.config.files import apply_overrides
from hyperct.config.run import (
    METHODS,
    METHODS_REPORT,
    METHODS_UNICT,
    ConfigError,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)

#: Keys a variant may not override: the comparison sets them for every run.
PROTECTED_KEYS = ("method", "output_dir", "seed", "data.manifest")
#: The outputs a run can be scored on.
OUTPUTS = ("classification", "segmentation", "report")


@dataclass(frozen=True)
class Entry:
    """A compared configuration: its name, its method and its config overrides."""

    name: str
    method: str
    overrides: tuple[str, ...] = ()


def _unict(name: str, *off: str) -> Entry:
    return Entry(name, "unict", tuple(f"unict.{key}=false" for key in off))


_SINGLE = ("fusion", "modulation")
#: The paper's nine: UniCT, its five ablations, the three single-task models.
_PAPER = (
    _unict("unict"),
    _unict("unict-no-fusion", "fusion"),
    _unict("unict-no-modulation", "modulation"),
    _unict("unict-no-cls", "supervise_classification"),
    _unict("unict-no-seg", "supervise_segmentation"),
    _unict("unict-no-report", "supervise_report"),
    _unict("cls-only", "supervise_segmentation", "supervise_report", *_SINGLE),
    _unict("seg-only", "supervise_classification", "supervise_report", *_SINGLE),
    _unict("report-only", "supervise_classification", "supervise_segmentation", *_SINGLE),
)
NAMED: dict[str, Entry] = {e.name: e for e in (
    *_PAPER, Entry("unict-report-guidance", "unict", ("unict.report_guidance=true",)))}
PRESETS: dict[str, tuple[str, ...]] = {"unict-ablations": tuple(e.name for e in _PAPER)}


def parse_entries(methods: Sequence[str], custom: Sequence[str] = ()) -> list[Entry]:
    """The entries of ``--methods`` (methods, named variants, presets) and ``--variant``
    (custom ``NAME=METHOD:KEY=VALUE;...``), in order; a name given twice is refused."""
    entries: list[Entry] = []
    for item in methods:
        if item in PRESETS:
            entries += [NAMED[name] for name in PRESETS[item]]
        elif item in NAMED:
            entries.append(NAMED[item])
        elif item in METHODS:
            entries.append(Entry(item, item))
        else:
            raise ConfigError(f"--methods: unknown {item!r}; choose from the methods {METHODS}, "
                              f"the variants {tuple(NAMED)} or the presets {tuple(PRESETS)}")
    entries += [parse_custom(text) for text in custom]
    if not entries:
        raise ConfigError("--methods: none given")
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"--methods/--variant: {twice} given twice")
    return entries


def parse_custom(text: str) -> Entry:
    """``NAME=METHOD:KEY=VALUE;KEY=VALUE`` (overrides optional: ``NAME=METHOD``)."""
    name, sep, rest = text.partition("=")
    method, _, overrides = rest.partition(":")
    name, method = name.strip(), method.strip()
    if not sep or not name or not method:
        raise ConfigError(f"--variant {text!r} must look like NAME=METHOD:KEY=VALUE;KEY=VALUE")
    if method not in METHODS:
        raise ConfigError(f"--variant {text!r}: unknown method {method!r}; choose from {METHODS}")
    if name in NAMED or name in PRESETS or (name in METHODS and name != method):
        raise ConfigError(f"--variant {text!r}: {name!r} is a built-in name; choose another")
    return Entry(name, method, tuple(o.strip() for o in overrides.split(";") if o.strip()))


def entry_config(cfg: TrainConfig, entry: Entry) -> TrainConfig:
    """``cfg`` with the entry's method and overrides applied; errors name the variant."""
    for item in entry.overrides:
        key = item.partition("=")[0].strip()
        if key in PROTECTED_KEYS:
            raise ConfigError(f"variant {entry.name!r}: {key!r} is set by the comparison for "
                              f"every run and cannot be overridden")
    raw = config_to_dict(cfg)
    raw["method"] = entry.method
    try:
        return config_from_dict(apply_overrides(raw, entry.overrides))
    except ConfigError as err:
        raise ConfigError(f"variant {entry.name!r}: {err}") from None


def outputs(cfg: TrainConfig) -> tuple[str, ...]:
    """What a run of ``cfg`` is trained to output (of :data:`OUTPUTS`), so a comparison scores
    each variant on its own outputs only."""
    if cfg.method in METHODS_UNICT:
        unict = cfg.unict_config()
        flags = (unict.supervise_classification, unict.supervise_segmentation,
                 unict.supervise_report)
        return tuple(out for out, on in zip(OUTPUTS, flags) if on)
    if cfg.method in METHODS_REPORT:
        return ("report",)
    return ("classification",)
