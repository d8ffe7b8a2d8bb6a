"""Synthetic chest-CT cohort: anatomy, 18 findings, cardiac state, echo exams, reports, masks.

>>> from hyperct.phantom import PhantomConfig, generate_cohort
>>> paths = generate_cohort(PhantomConfig(n=20, seed=0, preset="small"), "phantom_out")  # doctest: +SKIP
"""

from hyperct.phantom.cohort import CohortPaths, generate_cohort
from hyperct.phantom.config import PRESETS, PhantomConfig
from hyperct.phantom.render import RenderedScan, ScanSpec, render_scan

__all__ = [
    "CohortPaths",
    "PRESETS",
    "PhantomConfig",
    "RenderedScan",
    "ScanSpec",
    "generate_cohort",
    "render_scan",
]
