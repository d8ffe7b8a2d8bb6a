"""The `hyperct` entry point: bad input ends with its message and exit code 2, no traceback."""

import logging
import sys

import pytest

from hyperct.cli.main import main


@pytest.fixture
def quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def _run(monkeypatch, args: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["hyperct", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code)


def test_bad_input_prints_the_message_and_exits_2(
    monkeypatch, capsys, tmp_path, quiet_root_logger
) -> None:
    missing = tmp_path / "nope.yaml"
    assert _run(monkeypatch, ["train", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"error: config file not found: {missing}" in err and "Traceback" not in err


def test_verbose_keeps_the_traceback(monkeypatch, tmp_path, quiet_root_logger) -> None:
    monkeypatch.setattr(sys, "argv", ["hyperct", "-v", "train", str(tmp_path / "nope.yaml")])
    with pytest.raises(FileNotFoundError, match="config file not found"):
        main()
