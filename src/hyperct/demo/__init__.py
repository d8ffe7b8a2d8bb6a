"""The demo: the whole pipeline on a synthetic cohort (``pipeline``), with the stand-in backbone
it pretrains where the DINOv3 weights are absent (``backbone``)."""

from hyperct.demo.pipeline import MARKER, DemoConfig, DemoResult, overall_auc_table, run_demo

__all__ = ["MARKER", "DemoConfig", "DemoResult", "overall_auc_table", "run_demo"]
