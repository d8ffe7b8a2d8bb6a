"""`hyperct train --method report3d` then `hyperct predict` of a CT file prints its report."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.labels.io import read_csv_text

TINY = ["method=report3d", "report.encoder_kwargs={width: 4}", "report.token_grid=[1, 2, 2]",
        "report.vocab_size=300", "report.layers=1", "report.width=32", "report.heads=2",
        "report.max_len=16", "optim.epochs=1", "optim.batch_size=4", "runtime.bf16=false",
        "runtime.progress=false", "runtime.device=cpu"]


@pytest.fixture
def report_manifest(cohort: dict, tmp_path: Path) -> Path:
    """The synthetic cohort's manifest with a report per scan (absolute paths)."""
    df = pd.read_csv(cohort["manifest"])
    df["path"] = [str(Path(cohort["root"]) / p) for p in df["path"]]
    df["report_text"] = ["Emphysema is seen." if e == 1 else "No emphysema." for e in df["Emphysema"]]
    path = tmp_path / "manifest.csv"
    df.drop(columns="anatomy_path").to_csv(path, index=False)
    return path


def test_train_then_predict_writes_the_report(
    report_manifest: Path, cache3d: str, cohort: dict, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    runner = CliRunner()
    sets = [f"--set={s}" for s in [*TINY, f"data.manifest={report_manifest}",
                                   f"data.cache3d={cache3d}", f"output_dir={run}"]]
    result = runner.invoke(app, ["train", *sets])
    assert result.exit_code == 0, result.output
    assert "val loss" in result.output and (run / "reports.csv").is_file()

    scan, out = Path(cohort["root"]) / "scan12.nii.gz", tmp_path / "report.json"
    result = runner.invoke(app, ["predict", str(scan), "--checkpoint", str(run), "--out", str(out),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert list(written) == [str(scan)] and list(written[str(scan)]) == ["report"]
    generated = read_csv_text(run / "reports.csv").set_index("scan_id")
    assert written[str(scan)]["report"] == generated.loc["s12", "report"]

    refused = runner.invoke(app, ["predict", "--manifest", str(report_manifest), "--cache",
                                  cache3d, "--checkpoint", str(run), "--device", "cpu"])
    assert refused.exit_code == 2 and "reports.csv" in refused.output


def test_a_run_without_report_text_is_refused_naming_the_field(
    report_manifest: Path, cache3d: str, tmp_path: Path
) -> None:
    df = pd.read_csv(report_manifest)
    df["report_text"] = ""
    df.to_csv(report_manifest, index=False)
    sets = [f"--set={s}" for s in [*TINY, f"data.manifest={report_manifest}",
                                   f"data.cache3d={cache3d}", f"output_dir={tmp_path / 'run'}"]]
    result = CliRunner().invoke(app, ["train", *sets])
    assert result.exit_code == 2 and "report_text" in result.output
    assert not (tmp_path / "run").exists()
