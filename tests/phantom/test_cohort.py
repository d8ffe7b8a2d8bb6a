import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.io.read import read_ct, read_mask
from hyperct.phantom import PhantomConfig, generate_cohort
from hyperct.tasks import TASK_NAMES, task_by_name

CONFIG = PhantomConfig(n=12, seed=4, preset="tiny", dicom_fraction=0.1, preview=1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    return out, generate_cohort(CONFIG, out)


def test_tables_follow_the_contracts(cohort):
    out, paths = cohort
    assert paths.failures == ()
    man = pd.read_csv(paths.manifest)
    for col in (
        "scan_id",
        "patient_id",
        "path",
        "cohort",
        "split",
        "study_date",
        "sex",
        "age",
        "anatomy_path",
        "findings_mask_path",
        *TASK_NAMES,
    ):
        assert col in man.columns, col
    assert len(man) == CONFIG.n and man.scan_id.is_unique
    assert (man[list(TASK_NAMES)] == -1).all().all()
    assert set(man.cohort) == {"internal", "external", "prospective"}
    assert set(man.split[man.cohort != "internal"]) == {"test"}
    per_patient = man[man.cohort == "internal"].groupby("patient_id").split.nunique()
    assert (per_patient == 1).all()
    reports = pd.read_csv(paths.reports)
    assert list(reports.columns) == ["AccessionNo", "report_text"]
    assert set(reports.AccessionNo) == set(man.scan_id[man.cohort != "prospective"])
    echo = pd.read_csv(paths.echo)
    assert {"patient_id", "exam_date", "lvef_percent", "rv_systolic_function"} <= set(echo.columns)
    truth = pd.read_csv(paths.ground_truth)
    assert set(truth[list(TASK_NAMES)].stack().unique()) <= {0, 1}
    assert (out / "preview").is_dir() and any((out / "preview").iterdir())


def test_files_read_back_on_one_grid_and_masks_match_truth(cohort):
    out, paths = cohort
    man = pd.read_csv(paths.manifest)
    truth = pd.read_csv(paths.ground_truth).set_index("scan_id")
    assert any(p.startswith("dicom/") for p in man.path)
    for _, row in man.iterrows():
        ct = read_ct(out / row.path)
        assert ct.array.min() >= -1024 and ct.shape[0] >= 24
        anat = read_mask(out / row.anatomy_path, like=ct)
        found = read_mask(out / row.findings_mask_path, like=ct)
        assert anat.array.max() <= 117
        for name in TASK_NAMES[:18]:
            drawn = bool(((found.array.astype(np.int64) >> task_by_name(name).id) & 1).any())
            assert drawn == bool(truth.loc[row.scan_id, name]), (row.scan_id, name)


def test_same_seed_same_cohort_any_worker_count(cohort, tmp_path):
    out, paths = cohort
    again = generate_cohort(
        PhantomConfig(n=CONFIG.n, seed=4, preset="tiny", dicom_fraction=0.1, workers=2), tmp_path
    )
    assert again.failures == ()
    for name in ("manifest.csv", "ground_truth.csv", "reports.csv", "echo.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(tmp_path / name))
    first = pd.read_csv(paths.manifest).path[0]
    np.testing.assert_array_equal(read_ct(out / first).array, read_ct(tmp_path / first).array)


def test_cli_writes_a_cohort(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "phantom",
            "--n",
            "3",
            "--out",
            str(tmp_path),
            "--seed",
            "1",
            "--preset",
            "tiny",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "manifest.csv")) == 3


def test_echo_curation_reproduces_the_expected_echo_labels(cohort):
    from hyperct.labels.echo.curate import curate_echo_labels
    from hyperct.tasks import OPPORTUNISTIC

    _, paths = cohort
    result = curate_echo_labels(pd.read_csv(paths.manifest), pd.read_csv(paths.echo))
    got = result.labels.set_index("scan_id")
    truth = pd.read_csv(paths.ground_truth).set_index("scan_id")
    for t in OPPORTUNISTIC:
        assert (got.loc[truth.index, t.name] == truth[f"echo_{t.short_name}"]).all(), t.name
