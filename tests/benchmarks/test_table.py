import json

from benchmarks.record import save_result
from benchmarks import record, table


def test_table_lists_every_metric_with_machine_and_goal(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "RESULTS_DIR", tmp_path)
    save_result("toy", [{"metric": "seconds per scan", "value": 1.25, "unit": "s",
                         "goal": "<= 2 s", "anchor": None, "met": True}], notes="two | workers")
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "other", "date": "2026-11-23T10:00:00",
                                                     "machine": {"cpu": "X", "cores": 2}, "metrics": []}))
    readme = tmp_path / "README.md"
    table.write_readme(tmp_path, readme)
    text = readme.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| toy |"))
    assert "| 1.25 | s | <= 2 s |" in row and "| yes |" in row
    assert "cores" in row
    assert "two / workers" in text


def test_speed_rows_show_their_floor_and_authors_ratios(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "RESULTS_DIR", tmp_path)
    save_result("speed", [{"metric": "step", "value": 20.0, "unit": "s", "goal": None,
                           "anchor": None, "met": None, "vs_floor": 2.41, "vs_authors": 0.51},
                          {"metric": "rss", "value": 4.0, "unit": "GB", "goal": None,
                           "anchor": None, "met": None}])
    readme = tmp_path / "README.md"
    table.write_readme(tmp_path, readme)
    lines = readme.read_text().splitlines()
    header = next(line for line in lines if line.startswith("| benchmark |"))
    step = next(line for line in lines if line.startswith("| speed | step |"))
    rss = next(line for line in lines if line.startswith("| speed | rss |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    cells = [c.strip() for c in step.strip("|").split("|")]
    assert len(cells) == len(columns)
    assert cells[columns.index("vs floor")] == "2.41"
    assert cells[columns.index("vs authors")] == "0.51"
    assert [c.strip() for c in rss.strip("|").split("|")][columns.index("vs floor")] == ""


def test_the_machine_column_says_whether_the_cpu_does_bf16():
    _machine = table._machine
    base = {"cpu": "AMD EPYC", "cores": 2, "torch": "2.13.0+cpu"}
    assert _machine(base) == "AMD EPYC, 2 cores, torch 2.13.0+cpu"
    assert _machine({**base, "cpu_capability": "AVX2", "cpu_bf16": False}).startswith("AMD EPYC (AVX2, no bf16)")
    assert _machine({**base, "cpu_capability": "AVX512", "cpu_bf16": True}).startswith("AMD EPYC (AVX512, bf16)")
