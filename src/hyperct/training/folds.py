"""Patient-level K-fold cross-validation splits (``hyperct compare --folds K``).

Which scans are re-split: those of the cohorts a run trains on (``data.train_cohort`` when set,
else every cohort with at least one ``train`` scan). The other cohorts (held-out external ones)
keep their own splits, so every fold's model predicts them.

Per re-split cohort, its patients (``patient_id``; ids are scoped by cohort, as in the manifest
contract) are shuffled by ``seed`` and cut into K folds of near-equal patient counts. In fold
``k`` the test split is fold ``k`` (1/K of the patients: 20 % at K = 5); the validation split is
``val_fraction`` of all the cohort's patients (15 % by default), drawn by ``(seed, k)`` from
the other folds; training takes the rest (65 % at K = 5). The paper's 70/15/15 is this split at
K = 1/0.15; no integer K gives it exactly with one fold as test. Every patient is in the test
split of exactly one fold, and all scans of a patient share one split in every fold.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from hyperct.config.run import ConfigError
from hyperct.data.manifest import read_table, write_manifest

#: The share of a cohort's patients in the validation split of every fold.
VAL_FRACTION = 0.15


def fold_name(k: int) -> str:
    """The ``run`` name of fold ``k`` in a comparison's tables (``fold0``, ``fold1``, ...)."""
    return f"fold{k}"


def folded_cohorts(manifest: pd.DataFrame, train_cohort: str | None) -> list[str]:
    """The cohorts whose scans are re-split: ``train_cohort``, or every cohort with train scans."""
    if train_cohort is not None:
        if not (manifest["cohort"] == train_cohort).any():
            raise ConfigError(f"data.train_cohort {train_cohort!r} is not a cohort of the "
                              f"manifest (cohorts: {sorted(manifest['cohort'].unique())})")
        return [train_cohort]
    cohorts = manifest.loc[manifest["split"] == "train", "cohort"].unique().tolist()
    if not cohorts:
        raise ConfigError("--folds: the manifest has no train scans, so no cohort to re-split")
    return sorted(cohorts)


def fold_manifests(
    manifest: pd.DataFrame,
    folds: int,
    seed: int,
    train_cohort: str | None = None,
    val_fraction: float = VAL_FRACTION,
) -> list[pd.DataFrame]:
    """The ``folds`` manifests of a cross-validation: copies of ``manifest`` whose ``split``
    column is rewritten for the re-split cohorts (see the module docstring)."""
    if folds < 2:
        raise ConfigError(f"--folds must be >= 2, got {folds}")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"the validation fraction must be in (0, 1), got {val_fraction}")
    splits = [manifest["split"].copy() for _ in range(folds)]
    for cohort in folded_cohorts(manifest, train_cohort):
        rows = manifest["cohort"] == cohort
        patients = np.sort(manifest.loc[rows, "patient_id"].unique())
        n_val = max(1, round(val_fraction * len(patients)))
        if len(patients) < folds:
            raise ConfigError(f"--folds {folds}: cohort {cohort!r} has {len(patients)} "
                              f"patient(s), fewer than the {folds} folds")
        if len(patients) - math.ceil(len(patients) / folds) - n_val < 1:
            raise ConfigError(
                f"--folds {folds}: cohort {cohort!r} has {len(patients)} patient(s), too few for "
                f"{folds} test folds, {n_val} validation patient(s) and at least one training "
                "patient per fold")
        order = np.random.default_rng(seed).permutation(patients)
        parts = np.array_split(order, folds)
        for k in range(folds):
            rest = np.concatenate([p for j, p in enumerate(parts) if j != k])
            val = np.random.default_rng([seed, k]).choice(rest, n_val, replace=False)
            by_patient = pd.Series("train", index=patients)
            by_patient.loc[parts[k]] = "test"
            by_patient.loc[val] = "val"
            splits[k][rows] = manifest.loc[rows, "patient_id"].map(by_patient)
    return [manifest.assign(split=split) for split in splits]


def write_fold_manifests(manifests: list[pd.DataFrame], folder: Path) -> list[Path]:
    """Write ``folder/fold<k>.csv``; a file already there must hold the same splits (a
    comparison resumed with another manifest or seed would mix two cross-validations)."""
    paths = []
    for k, manifest in enumerate(manifests):
        path = folder / f"{fold_name(k)}.csv"
        if path.is_file():
            old = read_table(path)
            same = (len(old) == len(manifest)
                    and old["scan_id"].tolist() == manifest["scan_id"].astype(str).tolist()
                    and old["split"].tolist() == manifest["split"].tolist())
            if not same:
                raise ConfigError(
                    f"{path}: its splits differ from the folds computed now (the manifest, the "
                    "seed or --folds changed); compare into a new --out folder")
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(write_manifest(manifest, path))
    return paths
