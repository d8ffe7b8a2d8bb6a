"""Evaluation from the predictions table: metrics, bootstrap CIs, curves, LoRA analysis, report."""
