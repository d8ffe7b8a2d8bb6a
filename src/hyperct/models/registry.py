"""Every model family, by name, with the methods that train it: the one place a family registers.

A family is a model class implementing :class:`hyperct.models.interface.ScreeningModel` (and the
protocols of the capabilities it declares), its config dataclass, the run-config section its
fields come from (``model`` for 2.5D families, ``model3d`` for 3D ones) and the training methods
that build it (``report`` for the report generators, whose config also carries the tokenizer;
``unict`` for UniCT, whose tokenizer is passed beside its config). How a family takes a report
tokenizer is part of its registration (:attr:`ModelFamily.tokenizer`), so
``create_model(name, tokenizer=..., **config_fields)`` builds any family directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from hyperct.config.run import METHODS_3D, METHODS_REPORT, METHODS_UNICT, WEIGHTING_METHODS
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.models.report.tokenizer import ReportTokenizer
from hyperct.models.report3d import ReportGenerator3D, ReportGenerator3DConfig
from hyperct.models.unict import UniCT, UniCTConfig


@dataclass(frozen=True)
class ModelFamily:
    """A model class, its config class, where its config fields live, who trains it and how it
    takes a report tokenizer: ``none`` (it writes no reports), ``config`` (required, as the
    config's ``tokenizer`` field, :meth:`ReportTokenizer.to_state`) or ``argument`` (optional,
    ``model(config, tokenizer)``; without one the model has no report head)."""

    model: type[nn.Module]
    config: type
    section: Literal["model", "model3d", "report", "unict"]
    methods: tuple[str, ...]
    tokenizer: Literal["none", "config", "argument"] = "none"


FAMILIES: dict[str, ModelFamily] = {
    "hyperct": ModelFamily(HyperCT, HyperCTConfig, "model", ("hyperct",)),
    "shared-lora": ModelFamily(
        SharedLoRAMultiTask, MultiTaskConfig, "model", (*WEIGHTING_METHODS, "stl")
    ),
    "classifier3d": ModelFamily(Classifier3D, Classifier3DConfig, "model3d", METHODS_3D),
    "report3d": ModelFamily(
        ReportGenerator3D, ReportGenerator3DConfig, "report", METHODS_REPORT, tokenizer="config"
    ),
    "unict": ModelFamily(UniCT, UniCTConfig, "unict", METHODS_UNICT, tokenizer="argument"),
}


def family_of(method: str) -> ModelFamily:
    """The family training ``method`` builds."""
    for family in FAMILIES.values():
        if method in family.methods:
            return family
    raise KeyError(f"no model family trains method {method!r}")


def model_config(name: str, **fields: Any) -> Any:
    """The typed config of family ``name`` with ``fields`` set (validated on construction)."""
    if name not in FAMILIES:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(FAMILIES)}")
    return FAMILIES[name].config(**fields)


def create_model(name: str, tokenizer: ReportTokenizer | None = None, **fields: Any) -> nn.Module:
    """Build model family ``name`` (``"hyperct"``, ``"shared-lora"``, ``"classifier3d"``,
    ``"report3d"``, ``"unict"``) from its config ``fields`` and, for a family that writes reports,
    the report ``tokenizer`` (``report3d`` needs one; ``unict`` without one has no report head,
    so it needs ``supervise_report=False``).

    >>> model = create_model("hyperct", backbone="dinov3-tiny")  # doctest: +SKIP
    >>> model = create_model("unict", tokenizer=tokenizer, encoder="volume3d")  # doctest: +SKIP
    """
    if name not in FAMILIES:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(FAMILIES)}")
    family = FAMILIES[name]
    if family.tokenizer == "none":
        if tokenizer is not None:
            raise ValueError(f"model {name!r} writes no reports; it takes no tokenizer")
        return family.model(model_config(name, **fields))
    if tokenizer is not None and not isinstance(tokenizer, ReportTokenizer):
        raise TypeError(f"model {name!r}: tokenizer must be a ReportTokenizer, got {type(tokenizer).__name__}")
    if family.tokenizer == "config":
        if tokenizer is None:
            raise ValueError(f"model {name!r} needs its report tokenizer (tokenizer=)")
        return family.model(model_config(name, tokenizer=tokenizer.to_state(), **fields))
    return family.model(model_config(name, **fields), tokenizer)
