"""Sharded prepare into one cache folder: the same cache as one run, errors per shard, combined."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.data.cache import ScanCache
from hyperct.data.prepare import prepare_cache
from hyperct.data.prepare_errors import combine_errors
from hyperct.data.shard import Shard
from hyperct.preprocess.spec import SliceStackSpec

SPEC = SliceStackSpec(slices=9, size=32)


@pytest.fixture
def manifest(cohort: dict, tmp_path: Path) -> Path:
    """Ten of the synthetic cohort's scans (absolute paths), one of them unreadable."""
    frame = pd.read_csv(cohort["manifest"]).head(10)
    for column in ("path", "anatomy_path"):
        frame[column] = [str(Path(cohort["root"]) / p) for p in frame[column]]
    (tmp_path / "broken.nii.gz").write_bytes(b"not a nifti")
    frame.loc[3, ["path", "anatomy_path"]] = [str(tmp_path / "broken.nii.gz"), ""]
    frame.to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def _entries(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if not p.name.startswith("errors")}


def test_two_shards_give_the_cache_of_one_run(manifest: Path, tmp_path: Path) -> None:
    whole = prepare_cache(manifest, SPEC, tmp_path / "one", progress=False)
    reports = [prepare_cache(manifest, SPEC, tmp_path / "two", progress=False, shard=Shard(i, 2))
               for i in range(2)]
    assert sum(r.total for r in reports) == whole.total == 10
    assert min(r.total for r in reports) > 0
    one, two = _entries(tmp_path / "one"), _entries(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 1 + 4 * 9  # spec + image, mask, source, grid
    for name in one:
        if name.endswith(".npy"):
            assert np.array_equal(np.load(tmp_path / "one" / name), np.load(tmp_path / "two" / name))
        else:
            assert one[name] == two[name], name
    failing = [i for i, r in enumerate(reports) if r.failed]
    assert [list(reports[i].failed) for i in failing] == [["s03"]]
    errors = tmp_path / "two" / f"errors.shard-{failing[0]}-of-2.jsonl"
    assert json.loads(errors.read_text())["scan_id"] == "s03"
    assert not (tmp_path / "two" / "errors.jsonl").exists()

    total, failed = combine_errors(manifest, tmp_path / "two")
    assert total == 10 and list(failed) == ["s03"] and "not a readable NIfTI" in failed["s03"]
    combined = (tmp_path / "two" / "errors.jsonl").read_text()
    assert combined == (tmp_path / "one" / "errors.jsonl").read_text()


def test_the_report_names_scans_of_a_shard_that_did_not_run(manifest: Path, tmp_path: Path) -> None:
    prepare_cache(manifest, SPEC, tmp_path / "c", progress=False, shard=Shard(0, 3))
    not_run = [s for s in pd.read_csv(manifest)["scan_id"] if not Shard(0, 3).holds(s)]
    result = CliRunner().invoke(app, ["prepare", str(manifest), "--out", str(tmp_path / "c"),
                                      "--report"])
    assert result.exit_code == 1
    for sid in not_run:
        assert f"failed: {sid}: " in result.output
    assert "did every shard run?" in result.output


def test_a_shard_leaves_the_partial_files_of_other_shards(manifest: Path, tmp_path: Path) -> None:
    ids = list(pd.read_csv(manifest)["scan_id"])
    theirs = next(s for s in ids if not Shard(0, 2).holds(s))
    mine = next(s for s in ids if Shard(0, 2).holds(s))
    root = tmp_path / "c"
    root.mkdir()
    theirs_partial = root / f".{theirs}.tmp-0123abcd.anatomy.npy"
    mine_partial = root / f".{mine}.tmp-0123abcd.npy"
    for path in (theirs_partial, mine_partial):
        path.write_bytes(b"being written")
    prepare_cache(manifest, SPEC, root, progress=False, shard=Shard(0, 2))
    assert theirs_partial.exists() and not mine_partial.exists()
    assert ScanCache(root).remove_partials() == 1 and not theirs_partial.exists()


def test_cli_shard_option(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    runner = CliRunner()
    bad = runner.invoke(app, ["prepare", str(manifest), "--out", str(out), "--shard", "2/2"])
    assert bad.exit_code == 2 and "--shard '2/2'" in bad.output
    codes = [runner.invoke(app, ["prepare", str(manifest), "--out", str(out), "--spec",
                                 _spec_file(tmp_path), "--shard", f"{i}/2", "--no-progress"]
                           ).exit_code for i in range(2)]
    assert sorted(codes) == [0, 1]  # the shard holding the broken scan exits 1
    report = runner.invoke(app, ["prepare", str(manifest), "--out", str(out), "--report"])
    assert report.exit_code == 1 and "failed: s03: " in report.output
    assert "cached 9 of 10 scans" in report.output


def _spec_file(folder: Path) -> str:
    path = folder / "spec.json"
    path.write_text(json.dumps(SPEC.to_dict()))
    return str(path)
