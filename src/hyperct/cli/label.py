"""`hyperct label`: curate task labels from reports (rules, LLM, learned) and echo exams."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from hyperct.cli.errors import exit_if_failed

app = typer.Typer(
    help="Curate task labels from radiology reports and echo exams.", no_args_is_help=True
)
logger = logging.getLogger(__name__)


@app.command("reports")
def reports(
    reports_csv: Path = typer.Argument(..., help="CSV with an id column and a report-text column."),
    out: Path = typer.Option(..., "--out", help="Labels CSV to write (id + 18 findings, 1/0/-1)."),
    method: str = typer.Option(
        "rules", help="rules (offline), llm (OpenAI-compatible endpoint) or learned."
    ),
    id_column: str = typer.Option("AccessionNo", help="Id column of the reports CSV."),
    text_column: str = typer.Option("report_text", help="Report-text column of the reports CSV."),
    evidence: Path = typer.Option(None, help="Evidence CSV (default: <out>.evidence.csv)."),
    into: Path = typer.Option(
        None, "--into", help="Manifest whose task columns to update by scan id."
    ),
    uncertain_label: int = typer.Option(1, help="Label for hedged mentions (rules): 1, 0 or -1."),
    convention: str = typer.Option(
        "ctrate", help="Rules: label as CT-RATE's annotators ('ctrate') or as the task catalogue."
    ),
    unmentioned: str = typer.Option(
        "missing", help="A finding the report never mentions: 'missing' (-1) or 'absent' (0, "
        "CT-RATE's convention)."
    ),
    model: Path = typer.Option(None, "--model", help="Learned model file (--method learned)."),
    base_url: str = typer.Option(
        "http://127.0.0.1:8000/v1", help="LLM endpoint base URL (.../v1)."
    ),
    llm_model: str = typer.Option("", help="LLM model name served by the endpoint."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", help="Environment variable holding the API key."
    ),
    workers: int = typer.Option(4, help="LLM requests in flight."),
    cache_dir: Path = typer.Option(Path(".hyperct_llm_cache"), help="LLM reply cache folder."),
) -> None:
    """Label reports for the 18 conventional findings, with evidence for auditing."""
    from hyperct.labels.reports.batch import label_reports_file
    from hyperct.labels.reports.rules import RulesConfig
    from hyperct.labels.reports.table import ReportColumns

    options: dict[str, object] = {}
    if method == "rules":
        options["rules_config"] = RulesConfig(
            uncertain_label=uncertain_label, convention=convention
        )
    elif method == "llm":
        from hyperct.labels.reports.llm import LLMConfig

        options["llm_config"] = LLMConfig(
            base_url=base_url,
            model=llm_model,
            api_key_env=api_key_env,
            workers=workers,
            cache_dir=cache_dir,
        )
    elif method == "learned":
        if model is None:
            raise typer.BadParameter("--method learned needs --model PATH")
        options["model_path"] = model
    run = label_reports_file(
        reports_path=reports_csv,
        out_path=out,
        method=method,
        columns=ReportColumns(id_column=id_column, text_column=text_column),
        evidence_path=evidence,
        into=into,
        unmentioned=unmentioned,
        **options,
    )
    typer.echo(f"wrote {out} ({len(run.labels)} reports)")
    exit_if_failed(run.failures, "label reports")


@app.command("train-learned")
def train_learned(
    reports_csv: Path = typer.Argument(
        ..., help="CSV with ids, report text and the 18 finding columns."
    ),
    out: Path = typer.Option(..., "--out", help="Model file to write (joblib)."),
    id_column: str = typer.Option("AccessionNo", help="Id column."),
    text_column: str = typer.Option("report_text", help="Report-text column."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Train the TF-IDF + logistic-regression labeler on labelled reports."""
    from hyperct.labels.reports.learned import LearnedConfig, train_learned_file

    train_learned_file(
        reports_path=reports_csv,
        out_path=out,
        config=LearnedConfig(seed=seed, id_column=id_column, text_column=text_column),
    )
    typer.echo(f"wrote {out}")


@app.command("echo")
def echo(
    ct: Path = typer.Option(..., "--ct", help="CT table: scan_id, patient_id, study_date, sex."),
    echo_csv: Path = typer.Option(..., "--echo", help="Echo table: one row per exam."),
    out: Path = typer.Option(..., "--out", help="Labels CSV to write (scan id + 7 tasks)."),
    audit: Path = typer.Option(None, help="Audit CSV (default: <out>.audit.csv)."),
    window_days: int = typer.Option(180, help="Largest gap between CT and echo exam, in days."),
    lvidd_unit: str = typer.Option("auto", help="LVIDd unit: auto, cm or mm."),
    lvef_unit: str = typer.Option("auto", help="LVEF unit: auto, percent or fraction."),
    date_format: str = typer.Option(None, help="strftime format of the dates (default ISO 8601)."),
    into: Path = typer.Option(
        None, "--into", help="Manifest whose task columns to update by scan id."
    ),
    ct_scan_id: str = typer.Option("scan_id", help="CT table: scan id column."),
    ct_patient_id: str = typer.Option("patient_id", help="CT table: patient id column."),
    ct_date: str = typer.Option("study_date", help="CT table: study date column."),
    ct_sex: str = typer.Option("sex", help="CT table: sex column."),
    echo_patient_id: str = typer.Option("patient_id", help="Echo table: patient id column."),
    echo_date: str = typer.Option("exam_date", help="Echo table: exam date column."),
    echo_lvef: str = typer.Option("lvef_percent", help="Echo table: LVEF column."),
    echo_lvidd: str = typer.Option("lvidd_cm", help="Echo table: LVIDd column."),
    echo_lavi: str = typer.Option("lavi_ml_m2", help="Echo table: LAVI column."),
    echo_e_a: str = typer.Option("e_a_ratio", help="Echo table: E/A column."),
    echo_tr: str = typer.Option(
        "tr_peak_velocity_m_s", help="Echo table: peak TR velocity column."
    ),
    echo_pasp: str = typer.Option("pasp_mmhg", help="Echo table: PASP column."),
    echo_rv: str = typer.Option(
        "rv_systolic_function", help="Echo table: RV systolic function column."
    ),
) -> None:
    """Match each CT to its nearest echo exam and label the 7 opportunistic tasks."""
    from hyperct.labels.echo.config import CtColumns, EchoColumns, EchoConfig
    from hyperct.labels.echo.curate import curate_echo_files

    config = EchoConfig(
        window_days=window_days,
        lvidd_unit=lvidd_unit,
        lvef_unit=lvef_unit,
        date_format=date_format,
        ct_columns=CtColumns(
            scan_id=ct_scan_id, patient_id=ct_patient_id, study_date=ct_date, sex=ct_sex
        ),
        echo_columns=EchoColumns(
            patient_id=echo_patient_id,
            exam_date=echo_date,
            lvef=echo_lvef,
            lvidd=echo_lvidd,
            lavi=echo_lavi,
            e_a=echo_e_a,
            tr_velocity=echo_tr,
            pasp=echo_pasp,
            rv_function=echo_rv,
        ),
    )
    result = curate_echo_files(
        ct_path=ct, echo_path=echo_csv, out_path=out, audit_path=audit, config=config, into=into
    )
    typer.echo(f"wrote {out} ({len(result.labels)} scans)")
    exit_if_failed(result.problems, "label echo")


@app.command("evaluate")
def evaluate(
    pred: Path = typer.Argument(..., help="Predicted labels CSV."),
    gold: Path = typer.Argument(..., help="Gold labels CSV."),
    id_column: str = typer.Option("AccessionNo", help="Id column shared by both files."),
    evidence: Path = typer.Option(
        None, help="Evidence CSV (default: <pred>.evidence.csv if present)."
    ),
    out_dir: Path = typer.Option(None, help="Folder for per_task.csv and disagreements.csv."),
    show: int = typer.Option(20, help="Disagreements to print."),
) -> None:
    """Per-finding precision, recall, F1, support; macro/micro F1; disagreements + evidence."""
    from rich.table import Table

    from hyperct.cli.output import plain_console
    from hyperct.labels.evaluate import evaluate_files

    result = evaluate_files(
        pred_path=pred, gold_path=gold, id_column=id_column, evidence_path=evidence, out_dir=out_dir
    )
    table = Table(title=f"macro F1 {result.macro_f1:.3f}  micro F1 {result.micro_f1:.3f}")
    for col in ("task", "precision", "recall", "f1", "support"):
        table.add_column(col)
    for row in result.per_task.itertuples():
        table.add_row(
            row.task, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}", str(row.support)
        )
    console = plain_console()
    console.print(table)
    for row in result.disagreements.head(show).to_dict("records"):
        console.print(
            f"{row[id_column]} {row['task']}: pred {row['pred']} gold {row['gold']} "
            f"| {row.get('phrase', '')} | {row.get('sentence', '')}"
        )
    exit_if_failed(result.problems, "label evaluate")
