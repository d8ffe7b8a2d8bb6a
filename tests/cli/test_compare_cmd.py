"""`hyperct compare`: the protocol options are checked before anything trains."""

from pathlib import Path

import pytest

from hyperct.cli.errors import ExitCode
from hyperct.cli.main import main


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--lr-grid", "1e-3,fast"], "--lr-grid must be comma-separated numbers"),
     (["--budget", "minutes"], "--budget must be one of"),
     (["--seeds", "0"], "--seeds must be >= 1"),
     (["--budget-amount", "5"], "--budget-amount needs --budget"),
     (["--folds", "1"], "--folds must be >= 2"),
     (["--folds", "3", "--seeds", "2"], "--folds and --seeds > 1 together are not supported"),
     (["--variant", "broken"], "must look like NAME=METHOD:KEY=VALUE"),
     (["--methods", "unict-ablations,fancy"], "unknown 'fancy'"),
     (["--methods", "unict,seg-only", "--reference", "seg-only"], "not trained to classify")],
)
def test_bad_protocol_options_exit_2_naming_the_option(
    args: list[str], message: str, tmp_path: Path, capsys
) -> None:
    code = main(["compare", "demo", "--methods", "hyperct,ew", "--out", str(tmp_path / "c"), *args])
    assert code == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
