"""`hyperct evaluate-reports`: JSON with the contract keys; unmatched ids end with exit 2."""

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from hyperct.cli.main import main
from hyperct.evaluation.report_metrics import METRIC_KEYS


@pytest.fixture
def quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture
def reports(shared_data: Path) -> list[str]:
    table = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv", nrows=8)
    return table["report_text"].tolist()


def _run(monkeypatch, args: list[str]) -> int:
    return main(args)


def _table(path: Path, ids: list[str], texts: list[str]) -> str:
    pd.DataFrame({"scan_id": ids, "report": texts}).to_csv(path, index=False)
    return str(path)


def test_writes_the_metrics_json(monkeypatch, tmp_path, reports, quiet_root_logger) -> None:
    ids = [f"s{i}" for i in range(4)]
    gen = _table(tmp_path / "gen.csv", ids, reports[4:8])
    ref = _table(tmp_path / "ref.csv", ids, reports[:4])
    out = tmp_path / "metrics.json"
    assert _run(monkeypatch, ["evaluate-reports", gen, ref, "--out", str(out), "--no-meteor"]) == 0
    payload = json.loads(out.read_text())
    assert set(METRIC_KEYS) <= set(payload)
    assert 0.0 < payload["bleu_1"] < 1.0 and payload["meteor"] is None


def test_unmatched_ids_exit_2_with_the_ids(
    monkeypatch, capsys, tmp_path, reports, quiet_root_logger
) -> None:
    gen = _table(tmp_path / "gen.csv", ["s0", "s9"], reports[:2])
    ref = _table(tmp_path / "ref.csv", ["s0", "s1"], reports[:2])
    out = tmp_path / "metrics.json"
    assert _run(monkeypatch, ["evaluate-reports", gen, ref, "--out", str(out), "--no-meteor"]) == 2
    err = capsys.readouterr().err
    assert "no generated report: s1" in err and "no reference report: s9" in err
    assert "Traceback" not in err and not out.exists()
