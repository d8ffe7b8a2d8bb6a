"""Multi-task weighting methods, created by name.

>>> from hyperct.mtl import create_weighting
>>> weighting = create_weighting("dwa", num_tasks=25, temperature=2.0)

Loss weightings (one backward pass): ``ew``, ``uw``, ``rlw``, ``dwa``, ``gls``, ``famo``.
Gradient methods (per-task gradients of the shared parameters): ``mgda``, ``pcgrad``,
``cagrad``, ``nash_mtl``. See :mod:`hyperct.mtl.base` for the contract of ``backward``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hyperct.mtl.base import GradientWeighting, LossWeighting, Weighting
from hyperct.mtl.cagrad import CAGrad, CAGradConfig
from hyperct.mtl.dwa import DWA, DWAConfig
from hyperct.mtl.ew import EW
from hyperct.mtl.famo import FAMO, FAMOConfig
from hyperct.mtl.gls import GLS, GLSConfig
from hyperct.mtl.mgda import MGDA, MGDAConfig
from hyperct.mtl.nash_mtl import NashMTL, NashMTLConfig
from hyperct.mtl.pcgrad import PCGrad, PCGradConfig
from hyperct.mtl.rlw import RLW, RLWConfig
from hyperct.mtl.uw import UW, UWConfig

WEIGHTING_METHODS: dict[str, type[Weighting]] = {
    "ew": EW,
    "uw": UW,
    "rlw": RLW,
    "dwa": DWA,
    "gls": GLS,
    "famo": FAMO,
    "mgda": MGDA,
    "pcgrad": PCGrad,
    "cagrad": CAGrad,
    "nash_mtl": NashMTL,
}

CONFIG_CLASSES: dict[str, type[Any]] = {
    "uw": UWConfig,
    "rlw": RLWConfig,
    "dwa": DWAConfig,
    "gls": GLSConfig,
    "famo": FAMOConfig,
    "mgda": MGDAConfig,
    "pcgrad": PCGradConfig,
    "cagrad": CAGradConfig,
    "nash_mtl": NashMTLConfig,
}


def create_weighting(name: str, num_tasks: int, **kwargs: Any) -> Weighting:
    """Build a weighting method by name; ``kwargs`` fill the method's config dataclass.

    Names are case-insensitive and ``-`` equals ``_`` (``"Nash-MTL"`` is ``nash_mtl``).
    """
    key = name.lower().replace("-", "_")
    if key not in WEIGHTING_METHODS:
        raise ValueError(f"unknown weighting method {name!r}; known: {sorted(WEIGHTING_METHODS)}")
    method = WEIGHTING_METHODS[key]
    config_class = CONFIG_CLASSES.get(key)
    if config_class is None:
        if kwargs:
            raise TypeError(f"weighting method {key!r} takes no options, got {sorted(kwargs)}")
        return method(num_tasks)
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(f"unknown options {unknown} for {key!r}; known: {sorted(fields)}")
    return method(num_tasks, config_class(**kwargs))


__all__ = [
    "CONFIG_CLASSES",
    "WEIGHTING_METHODS",
    "CAGrad",
    "CAGradConfig",
    "DWA",
    "DWAConfig",
    "EW",
    "FAMO",
    "FAMOConfig",
    "GLS",
    "GLSConfig",
    "GradientWeighting",
    "LossWeighting",
    "MGDA",
    "MGDAConfig",
    "NashMTL",
    "NashMTLConfig",
    "PCGrad",
    "PCGradConfig",
    "RLW",
    "RLWConfig",
    "UW",
    "UWConfig",
    "Weighting",
    "create_weighting",
]
