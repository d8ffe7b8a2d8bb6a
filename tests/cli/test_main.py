"""The `hyperct` entry point: one error style and the exit codes 0 / 1 / 2 / 3 for every command."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct.cli.errors import ExitCode
from hyperct.cli.main import main
from hyperct.tasks import TASK_NAMES


@pytest.fixture(autouse=True)
def restore_root_logger():
    """`-v` sets the root logger to DEBUG; later tests must not inherit it."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def _tiny_cohort(root: Path, missing: str | None = None) -> Path:
    """Three small noise CTs and their manifest; the scan ``missing`` points at no file."""
    from hyperct.io.volume import Volume
    from hyperct.io.write import write_nifti

    rng = np.random.default_rng(0)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    rows = []
    for i, split in enumerate(["train", "val", "test"]):
        scan_id = f"s{i}"
        if scan_id != missing:
            hu = rng.normal(-300, 300, (8, 16, 16)).astype(np.int16)
            write_nifti(Volume(hu, (2.0, 1.0, 1.0), affine), root / f"{scan_id}.nii.gz")
        rows.append({"scan_id": scan_id, "patient_id": f"p{i}", "path": f"{scan_id}.nii.gz",
                     "cohort": "internal", "split": split, **{t: 0 for t in TASK_NAMES}})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def _spec(root: Path) -> Path:
    from hyperct.preprocess.spec import SliceStackSpec

    path = root / "spec.json"
    path.write_text(SliceStackSpec(slices=6, size=16).to_json())
    return path


def test_success_exits_0(capsys) -> None:
    assert main(["tasks", "--group", "opportunistic"]) == ExitCode.OK
    assert "Pulmonary hypertension" in capsys.readouterr().out


def test_usage_errors_exit_2_with_one_error_line(capsys) -> None:
    assert main(["train", "--no-such-option"]) == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.startswith("error: No such option: --no-such-option")
    assert main(["prepare"]) == ExitCode.BAD_INPUT
    assert "error: Missing argument 'manifest'" in capsys.readouterr().err
    assert main(["predict", "--checkpoint", "run"]) == ExitCode.BAD_INPUT  # raised by the command
    assert "error: Invalid value: give SCAN files" in capsys.readouterr().err


def test_bad_input_prints_the_message_and_exits_2(capsys, tmp_path) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["train", str(missing)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file not found: {missing}") and "Traceback" not in err


def test_a_path_that_looks_like_markup_prints_as_it_is(capsys, tmp_path) -> None:
    folder = tmp_path / "a[/y]"
    folder.mkdir(parents=True)
    missing = folder / "m[red].csv"
    assert main(["manifest", "validate", str(missing)]) == ExitCode.BAD_INPUT
    assert capsys.readouterr().err == f"error: {missing}: manifest not found\n"

    manifest = _tiny_cohort(folder)
    assert main(["manifest", "validate", str(manifest)]) == ExitCode.OK
    assert capsys.readouterr().out.startswith(f"valid {manifest}: 3 scans")
    assert main(["manifest", "summary", str(manifest)]) == ExitCode.OK
    assert "manifest.csv" in capsys.readouterr().out


def test_an_invalid_manifest_exits_2_naming_row_and_column(capsys, tmp_path) -> None:
    manifest = _tiny_cohort(tmp_path)
    frame = pd.read_csv(manifest).astype({"Emphysema": object})
    frame.loc[1, "Emphysema"] = "yes"
    frame.to_csv(manifest, index=False)
    assert main(["manifest", "validate", str(manifest)]) == ExitCode.BAD_INPUT
    assert "line 3 (scan_id=s1), column 'Emphysema'" in capsys.readouterr().err


def test_a_batch_job_with_failed_items_exits_1_and_lists_them(capsys, tmp_path) -> None:
    manifest = _tiny_cohort(tmp_path, missing="s1")
    args = ["prepare", str(manifest), "--out", str(tmp_path / "cache"),
            "--spec", str(_spec(tmp_path)), "--no-progress"]
    assert main(args) == ExitCode.FAILED_ITEMS
    err = capsys.readouterr().err
    assert "prepared 2, already cached 0, failed 1 of 3 scans" in err
    assert "failed: s1: " in err and "prepare: 1 item(s) failed" in err


def test_an_unexpected_exception_exits_3_in_one_line(monkeypatch, capsys, tmp_path) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("hyperct.data.manifest.load_manifest", broken)
    manifest = _tiny_cohort(tmp_path)
    assert main(["manifest", "validate", str(manifest)]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal error (ZeroDivisionError: division by zero)")
    assert "--verbose" in err
    assert main(["-v", "manifest", "validate", str(manifest)]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and "in broken" in err and "internal error" in err


def test_verbose_adds_the_traceback_and_keeps_the_exit_code(monkeypatch, capsys, tmp_path) -> None:
    assert main(["-v", "train", str(tmp_path / "nope.yaml")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" in err and "FileNotFoundError" in err
    last = err.rstrip().splitlines()[-1]
    assert last.startswith(f"error: config file not found: {tmp_path / 'nope.yaml'}")


def test_the_console_entry_exits_with_the_code(tmp_path) -> None:
    """`python -m hyperct.cli.main` is what the `hyperct` script runs: its process exit status."""
    folder = tmp_path / "b[/y]"
    folder.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "hyperct.cli.main", "manifest", "validate",
                           str(folder / "m.csv")], capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.BAD_INPUT
    assert done.stderr == f"error: {folder / 'm.csv'}: manifest not found\n"
    done = subprocess.run([sys.executable, "-m", "hyperct.cli.main", "--bogus"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.BAD_INPUT and done.stderr.startswith("error: No such option")


#: The `hyperct` script pip wrote beside this interpreter (run with it, as its shebang would).
SCRIPT = Path(sys.executable).with_name("hyperct")


def _console(args: list[str], allocator_choice: str | None, entry: tuple[str, ...] = (
        "-m", "hyperct.cli.main"), cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The console entry in a child under glibc's malloc, with ``HYPERCT_ALLOCATOR`` set."""
    from hyperct.inference.heap import child_environment

    env = child_environment(None)
    if allocator_choice is not None:
        env["HYPERCT_ALLOCATOR"] = allocator_choice
    return subprocess.run([sys.executable, *entry, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def _needs_tcmalloc() -> None:
    from hyperct.inference.heap import preload_library

    if not sys.platform.startswith("linux") or preload_library("tcmalloc") is None:
        pytest.skip("needs Linux and libtcmalloc-minimal4 (make test installs it)")


def test_a_model_command_reruns_itself_under_tcmalloc_unless_glibc_is_chosen() -> None:
    _needs_tcmalloc()
    rerun = _console(["-v", "predict", "--help"], None)
    assert rerun.returncode == ExitCode.OK and "Usage: hyperct predict" in rerun.stdout
    assert "predict runs under tcmalloc's malloc" in rerun.stderr
    kept = _console(["-v", "predict", "--help"], "glibc")
    assert kept.returncode == ExitCode.OK and "predict runs under glibc's malloc" in kept.stderr


def test_the_console_script_reruns_itself_not_a_package_in_the_working_directory(tmp_path):
    _needs_tcmalloc()
    if not SCRIPT.is_file():
        pytest.skip(f"no console script at {SCRIPT}")
    (tmp_path / "hyperct").mkdir()
    (tmp_path / "hyperct" / "__init__.py").write_text("raise SystemExit('the wrong hyperct')\n")
    rerun = _console(["-v", "predict", "--help"], None, (str(SCRIPT),), cwd=tmp_path)
    assert rerun.returncode == ExitCode.OK, rerun.stderr
    assert "predict runs under tcmalloc's malloc" in rerun.stderr


def test_a_bad_allocator_choice_is_a_bad_input_of_model_commands_only() -> None:
    bad = _console(["predict", "--help"], "fast")
    assert bad.returncode == ExitCode.BAD_INPUT
    assert bad.stderr == ("error: HYPERCT_ALLOCATOR='fast' is not one of auto, glibc, tcmalloc, "
                          "jemalloc\n")
    assert _console(["tasks"], "fast").returncode == ExitCode.OK


def test_called_from_python_a_command_never_replaces_the_process(capsys, caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="hyperct.cli.main"):
        assert main(["predict", "--help"]) == ExitCode.OK
    assert "Usage: hyperct predict" in capsys.readouterr().out
    assert "runs under" not in caplog.text
