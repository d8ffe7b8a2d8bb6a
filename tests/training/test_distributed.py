"""Data-parallel training under torchrun (2 CPU processes, gloo): both ranks end identical."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cohort_helpers import TINY_UNICT

SCRIPT = """
import sys
from hyperct.training import load_config, train
train(load_config(None, sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "family", ["hyperct", "3d+anatomy", pytest.param("unict", marks=pytest.mark.slow)]
)
def test_two_ranks_agree_on_the_weights(
    tiny_overrides: list[str], cache3d: str, tmp_path: Path, family: str,
    findings_cohort: dict[str, str],
) -> None:
    """Also 3D models: their batch-norm statistics, updated on each rank's own data, end equal;
    UniCT also gathers its generated reports."""
    script = tmp_path / "run_train.py"
    script.write_text(SCRIPT)
    run = tmp_path / "ddp"
    extra = {
        "hyperct": [],
        "3d+anatomy": ["method=resnet18_3d", f"data.cache3d={cache3d}",
                       "model3d.resnet18_3d.width=4", "anatomy.enabled=true",
                       "anatomy.targets=small"],
        "unict": [*TINY_UNICT, f"data.manifest={findings_cohort['manifest']}",
                  f"data.cache3d={findings_cohort['cache3d']}"],
    }[family]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), *tiny_overrides, *extra, "optim.epochs=1", f"output_dir={run}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    assert record["world_size"] == 2
    digests = record["rank_weight_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert (run / "best.pt").is_file() and (run / "predictions.csv").is_file()
    if family == "unict":
        assert len(pd.read_csv(run / "reports.csv")) == 12  # val + test, each scan once
