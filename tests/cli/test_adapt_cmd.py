"""`hyperct adapt rexgroundingct`: the manifest it writes validates; bad scans end with exit 1."""

import logging

import pytest

from hyperct.cli.main import main


@pytest.fixture(autouse=True)
def quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def _run(monkeypatch, args: list[str]) -> int:
    return main(args)


def test_written_manifest_validates(monkeypatch, capsys, rex_tree, tmp_path) -> None:
    root = rex_tree()
    out = tmp_path / "out" / "manifest.csv"
    args = ["adapt", "rexgroundingct", str(root), "--out", str(out), "--no-progress"]
    assert _run(monkeypatch, args) == 0
    assert "wrote 5 scans" in capsys.readouterr().out
    assert (tmp_path / "out" / "manifest_findings.csv").is_file()
    assert _run(monkeypatch, ["manifest", "validate", str(out)]) == 0
    assert "valid" in capsys.readouterr().out


def test_bad_scan_is_listed_and_exits_1(monkeypatch, capsys, rex_tree, tmp_path) -> None:
    root = rex_tree()
    (root / "segmentations" / "train_2_a_1.nii.gz").unlink()
    out = tmp_path / "out" / "manifest.csv"
    args = ["adapt", "rexgroundingct", str(root), "--out", str(out), "--no-progress"]
    assert _run(monkeypatch, args) == 1
    err = capsys.readouterr().err
    assert "failed train_2_a_1:" in err and "train_2_a_1.nii.gz: finding mask not found" in err
    assert "manifest_errors.csv" in err and out.is_file()


def test_unknown_channel_axis_is_a_clean_error(monkeypatch, capsys, rex_tree, tmp_path) -> None:
    args = ["adapt", "rexgroundingct", str(rex_tree()), "--out", str(tmp_path / "m.csv")]
    assert _run(monkeypatch, [*args, "--channel-axis", "middle"]) == 2
    err = capsys.readouterr().err
    assert "channel axis must be one of ('first', 'last')" in err and "Traceback" not in err
