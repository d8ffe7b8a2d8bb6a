"""Every model family, by name, with the methods that train it: the one place a family registers.

A family is a model class implementing :class:`hyperct.models.interface.ScreeningModel` (and the
protocols of the capabilities it declares), its config dataclass, the run-config section its
fields come from (``model`` for 2.5D families, ``model3d`` for 3D ones) and the training methods
that build it (``report`` for the report generators, whose config also carries the tokenizer;
``unict`` for UniCT, whose tokenizer is passed beside its config).
``create_model("hyperct", **config_fields)`` builds one directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from hyperct.config.run import METHODS_3D, METHODS_REPORT, METHODS_UNICT, WEIGHTING_METHODS
from hyperct.models.classifier3d import Classifier3D, Classifier3DConfig
from hyperct.models.hyperct import HyperCT, HyperCTConfig
from hyperct.models.multitask import MultiTaskConfig, SharedLoRAMultiTask
from hyperct.models.report3d import ReportGenerator3D, ReportGenerator3DConfig
from hyperct.models.unict import UniCT, UniCTConfig


@dataclass(frozen=True)
class ModelFamily:
    """A model class, its config class, where its config fields live and who trains it."""

    model: type[nn.Module]
    config: type
    section: Literal["model", "model3d", "report", "unict"]
    methods: tuple[str, ...]


FAMILIES: dict[str, ModelFamily] = {
    "hyperct": ModelFamily(HyperCT, HyperCTConfig, "model", ("hyperct",)),
    "shared-lora": ModelFamily(
        SharedLoRAMultiTask, MultiTaskConfig, "model", (*WEIGHTING_METHODS, "stl")
    ),
    "classifier3d": ModelFamily(Classifier3D, Classifier3DConfig, "model3d", METHODS_3D),
    "report3d": ModelFamily(ReportGenerator3D, ReportGenerator3DConfig, "report", METHODS_REPORT),
    "unict": ModelFamily(UniCT, UniCTConfig, "unict", METHODS_UNICT),
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


def create_model(name: str, **fields: Any) -> nn.Module:
    """Build model family ``name`` (``"hyperct"``, ``"shared-lora"``, ``"classifier3d"``,
    ``"report3d"``, ``"unict"``: without a tokenizer, so with ``supervise_report=False``).

    >>> model = create_model("hyperct", backbone="dinov3-tiny")  # doctest: +SKIP
    """
    config = model_config(name, **fields)
    return FAMILIES[name].model(config)
