"""`hyperct predict --manifest --shard` parts joined by `hyperct merge-predictions`, and exit 1
for a scan that could not be predicted or a gap in the merged table."""

import shutil
from pathlib import Path

from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.data.cache import ScanCache
from hyperct.inference.predictions import read_predictions


def test_sharded_predict_then_merge_and_the_exit_codes(
    trained_run: str, cohort: dict, tmp_path: Path
) -> None:
    runner = CliRunner()
    cache = Path(shutil.copytree(cohort["cache"], tmp_path / "cache"))
    ScanCache(cache).remove("s05")
    base = ["predict", "--manifest", cohort["manifest"], "--cache", str(cache), "--checkpoint",
            trained_run, "--device", "cpu"]
    parts = [tmp_path / f"part{i}.csv" for i in range(2)]
    codes = [runner.invoke(app, [*base, "--shard", f"{i}/2", "--out", str(parts[i])])
             for i in range(2)]
    failing = [r for r in codes if r.exit_code == 1]
    assert len(failing) == 1 and [r.exit_code for r in codes].count(0) == 1
    assert "failed: s05: not in the cache" in failing[0].output
    assert "predict: 1 item(s) failed" in failing[0].output

    merged = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["merge-predictions", *map(str, parts), "--out", str(merged),
                                 "--manifest", cohort["manifest"]])
    assert result.exit_code == 1 and "failed: s05: no part holds it" in result.output
    table = read_predictions(merged)
    assert table["scan_id"].nunique() == 23 and "s05" not in set(table["scan_id"])

    again = runner.invoke(app, ["merge-predictions", str(parts[0]), str(parts[1]), str(parts[0]),
                                "--out", str(tmp_path / "x.csv")])
    assert again.exit_code == 2 and "given twice" in again.output


def test_shard_needs_a_manifest(trained_run: str) -> None:
    result = CliRunner().invoke(app, ["predict", "x.nii.gz", "--checkpoint", trained_run,
                                      "--shard", "0/2"])
    assert result.exit_code == 2 and "--shard needs --manifest" in result.output
