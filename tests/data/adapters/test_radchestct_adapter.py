"""RAD-ChestCT adapter: npz volumes, abnormality*location labels mapped onto CT-RATE findings."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct import read_ct
from hyperct.data.adapters.radchestct import adapt_radchestct
from hyperct.data.manifest import load_manifest
from hyperct.tasks import OPPORTUNISTIC


def _fake_radchest(root: Path) -> Path:
    root.mkdir()
    for name in ("trn00001", "trn00002", "val00001", "tst00001"):
        np.savez_compressed(root / f"{name}.npz", ct=np.full((6, 16, 16), -1000, np.int16))
    labels = pd.DataFrame(
        {
            "NoteAcc_DEID": ["trn00001", "trn00002", "val00001", "tst00001"],
            "nodule*left_upper": [1, 0, 0, 0],
            "nodule*right_lower": [0, 0, 1, 0],
            "cardiomegaly*heart": [0, 1, 0, 0],
            "stent*heart": [0, 0, 0, 1],
            "pacemaker_or_defib*heart": [0, 0, 0, 0],
            "mass*left_lung": [1, 1, 1, 1],
        }
    )
    labels.to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


def test_mapping_and_splits(tmp_path: Path) -> None:
    labels = _fake_radchest(tmp_path / "rad")
    adapt_radchestct(tmp_path / "rad", labels, tmp_path / "m.csv")
    df = load_manifest(tmp_path / "m.csv").set_index("scan_id")
    assert (
        df.loc["trn00001", "split"] == "train"
        and df.loc["val00001", "split"] == "val"
        and df.loc["tst00001", "split"] == "test"
    )
    assert df["Lung nodule"].to_dict() == {
        "trn00001": 1,
        "trn00002": 0,
        "val00001": 1,
        "tst00001": 0,
    }
    assert df["Cardiomegaly"].tolist() == [1 if s == "trn00002" else 0 for s in df.index]
    assert (
        df.loc["tst00001", "Medical material"] == 1 and df.loc["trn00001", "Medical material"] == 0
    )
    assert (df["Emphysema"] == -1).all()  # no source column: not available, never 0
    assert (df[[t.name for t in OPPORTUNISTIC]] == -1).all().all()


def test_npz_volume_reads_as_canonical_hu(tmp_path: Path) -> None:
    _fake_radchest(tmp_path / "rad")
    vol = read_ct(tmp_path / "rad" / "trn00001.npz")
    assert vol.shape == (6, 16, 16) and vol.spacing == (0.8, 0.8, 0.8) and vol.array.min() == -1000


def test_bad_label_value_named(tmp_path: Path) -> None:
    labels = _fake_radchest(tmp_path / "rad")
    table = pd.read_csv(labels)
    table.loc[2, "cardiomegaly*heart"] = None
    table.to_csv(labels, index=False)
    with pytest.raises(ValueError, match=r"row 3, column 'cardiomegaly\*heart'"):
        adapt_radchestct(tmp_path / "rad", labels, tmp_path / "m.csv")


def test_cli_adapt_radchestct(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hyperct.cli.main import app

    labels = _fake_radchest(tmp_path / "rad")
    out = tmp_path / "m.parquet"
    result = CliRunner().invoke(
        app,
        ["adapt", "radchestct", str(tmp_path / "rad"), "--labels", str(labels), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert len(load_manifest(out)) == 4
