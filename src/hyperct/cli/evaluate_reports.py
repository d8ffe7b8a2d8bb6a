"""`hyperct evaluate-reports`: BLEU, METEOR, ROUGE-L, CIDEr, CE-F1, CRG and diversity as JSON."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate_reports(
    generated: Path = typer.Argument(..., help="Generated reports CSV: scan_id, report."),
    reference: Path = typer.Argument(..., help="Reference reports CSV: scan_id, report."),
    out: Path = typer.Option(..., "--out", help="Metrics JSON to write."),
    no_meteor: bool = typer.Option(
        False, "--no-meteor", help="Skip METEOR (it needs Java); its value is then null."
    ),
) -> None:
    """Report-generation metrics of generated vs reference reports, as JSON.

    BLEU-1..4, METEOR, ROUGE-L, CIDEr, CE macro-F1, CRG and diversity; both tables must hold
    the same scans.
    """
    from hyperct.evaluation.report_metrics import ReportMetricsConfig, evaluate_report_files

    result = evaluate_report_files(
        generated_path=generated,
        reference_path=reference,
        out_path=out,
        config=ReportMetricsConfig(meteor=not no_meteor),
    )
    summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    typer.echo(f"wrote {out} ({result.n_reports} reports): {summary}")
