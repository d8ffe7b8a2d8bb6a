"""Patient-level cross-validation folds: every patient tested once, no patient in two splits."""

from pathlib import Path

import pandas as pd
import pytest

from hyperct.config.run import ConfigError
from hyperct.data.manifest import load_manifest
from hyperct.training.folds import fold_manifests, folded_cohorts, write_fold_manifests


def _manifest(patients: int = 40, external: int = 6) -> pd.DataFrame:
    """``patients`` internal patients with 1-3 scans each, and an external test-only cohort;
    patient ids repeat across cohorts (they are scoped by cohort)."""
    rows = []
    for p in range(patients):
        for s in range(1 + p % 3):
            rows.append({"scan_id": f"i{p}_{s}", "patient_id": f"p{p}", "cohort": "internal",
                         "split": ("train", "val", "test")[p % 3]})
    rows += [{"scan_id": f"e{p}", "patient_id": f"p{p}", "cohort": "external", "split": "test"}
             for p in range(external)]
    return pd.DataFrame(rows)


def _patient_splits(fold: pd.DataFrame) -> pd.Series:
    inner = fold[fold["cohort"] == "internal"]
    return inner.groupby("patient_id")["split"].agg(lambda s: sorted(set(s)))


def test_every_patient_is_tested_in_exactly_one_fold() -> None:
    manifest = _manifest()
    folds = fold_manifests(manifest, 5, seed=3)
    tested = [set(f.loc[(f["cohort"] == "internal") & (f["split"] == "test"), "patient_id"])
              for f in folds]
    assert set().union(*tested) == set(manifest.loc[manifest["cohort"] == "internal",
                                                    "patient_id"])
    assert sum(len(t) for t in tested) == 40
    assert [len(t) for t in tested] == [8] * 5


def test_no_patient_is_in_two_splits_of_a_fold_and_proportions_hold() -> None:
    manifest = _manifest()
    for fold in fold_manifests(manifest, 5, seed=3):
        splits = _patient_splits(fold)
        assert (splits.map(len) == 1).all()
        counts = splits.map(lambda s: s[0]).value_counts()
        assert counts["test"] == 8 and counts["val"] == 6 and counts["train"] == 26  # 20/15/65 %
        assert fold["scan_id"].tolist() == manifest["scan_id"].tolist()


def test_external_cohorts_keep_their_split_and_train_cohort_limits_refolding() -> None:
    manifest = _manifest()
    assert folded_cohorts(manifest, None) == ["internal"]
    for fold in fold_manifests(manifest, 3, seed=0):
        assert (fold.loc[fold["cohort"] == "external", "split"] == "test").all()
    both = manifest.assign(split=lambda d: d["split"].where(d["cohort"] == "internal", "train"))
    assert folded_cohorts(both, None) == ["external", "internal"]
    only = fold_manifests(both, 2, seed=0, train_cohort="internal")
    assert (only[0].loc[both["cohort"] == "external", "split"] == "train").all()


def test_folds_are_deterministic_from_the_seed() -> None:
    manifest = _manifest()
    first = [f["split"].tolist() for f in fold_manifests(manifest, 4, seed=7)]
    assert first == [f["split"].tolist() for f in fold_manifests(manifest, 4, seed=7)]
    assert first != [f["split"].tolist() for f in fold_manifests(manifest, 4, seed=8)]


@pytest.mark.parametrize(("folds", "patients", "message"), [
    (1, 40, "--folds must be >= 2"),
    (5, 4, "cohort 'internal' has 4 patient.*fewer than the 5 folds"),
    (2, 2, "too few for 2 test folds, 1 validation"),
])
def test_bad_folds_are_refused(folds: int, patients: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fold_manifests(_manifest(patients), folds, seed=0)


def test_fold_manifests_are_written_loadable_and_not_silently_replaced(
    cohort: dict, tmp_path: Path
) -> None:
    manifest = load_manifest(cohort["manifest"], check_files=False)
    paths = write_fold_manifests(fold_manifests(manifest, 2, seed=0), tmp_path / "folds")
    again = load_manifest(paths[1])  # paths absolute, every patient in one split
    assert again["split"].tolist() == fold_manifests(manifest, 2, seed=0)[1]["split"].tolist()
    assert again["path"].tolist() == manifest["path"].tolist()
    write_fold_manifests(fold_manifests(manifest, 2, seed=0), tmp_path / "folds")
    with pytest.raises(ConfigError, match="compare into a new --out"):
        write_fold_manifests(fold_manifests(manifest, 2, seed=1), tmp_path / "folds")
