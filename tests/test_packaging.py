"""Installed, not only cloned: the wheel, installed into a fresh venv, runs from another folder.

Offline and fast: the wheel is built without build isolation from a copy of the sources, the
venv has no pip of its own and sees this interpreter's packages (torch, ...) through a ``.pth``
line, which does not run that folder's own ``.pth`` files, so the editable checkout stays out.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _ok(cmd: list[str], cwd: Path) -> str:
    done = _run(cmd, cwd)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the wheel of this checkout installed (not editable); returns its folder."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    _ok([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(root / "dist"), str(source)], root)
    [wheel] = (root / "dist").glob("hyperct-*.whl")

    venv = root / "venv"
    _ok([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_ok([str(python), "-c", where], root).strip())
    (purelib / "shared_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _ok([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--quiet", str(wheel)], root)
    return venv


@pytest.mark.slow
def test_the_installed_cli_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    python, hyperct = installed / "bin" / "python", installed / "bin" / "hyperct"
    where = _ok([str(python), "-c", "import hyperct; print(hyperct.__file__)"], tmp_path).strip()
    assert Path(where).is_relative_to(installed), where

    assert "config" in _ok([str(hyperct), "--help"], tmp_path)
    shipped = (REPO / "src" / "hyperct" / "configs" / "paper.yaml").read_text()
    assert _ok([str(hyperct), "config", "show", "paper"], tmp_path) == shipped

    demo_defaults = (
        "from hyperct.demo import DemoConfig; from hyperct.preprocess.spec import load_spec; "
        "from hyperct.training import load_config; c = DemoConfig(); "
        "print(load_config(c.train_config).model['backbone'], load_spec(c.spec).kind)"
    )
    assert _ok([str(python), "-c", demo_defaults], tmp_path).split() == ["dinov3-tiny",
                                                                         "slice_stack"]
    trained = _run([str(hyperct), "train", "paper", "--set", "data.manifest=nowhere.csv"],
                   tmp_path)
    assert trained.returncode == 2 and "nowhere.csv" in trained.stderr, trained.stderr
    assert "config file not found" not in trained.stderr
