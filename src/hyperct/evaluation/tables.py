"""All numeric results of an evaluation, computed from one predictions table.

The report, the CSV/JSON files and any notebook use these same tables. Each table carries a
``model`` column (the report label of its (method, run)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from hyperct.evaluation.bootstrap import (
    BootstrapConfig,
    auc_confidence_table,
    paired_difference_table,
)
from hyperct.evaluation.calibration import calibration_table
from hyperct.evaluation.decision_curve import decision_curves
from hyperct.evaluation.metrics import OperatingPointConfig, group_means, task_metrics
from hyperct.inference.predictions import METHOD, RUN, SPLIT

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationConfig:
    """What to compute: bootstrap settings, operating point and the splits that are reported
    (confidence intervals, curves); point metrics are computed for every split present."""

    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    operating_point: OperatingPointConfig = field(default_factory=OperatingPointConfig)
    splits: tuple[str, ...] = ("test",)

    def __post_init__(self) -> None:
        if not self.splits:
            raise ValueError("splits must name at least one split, e.g. ('test',)")


@dataclass
class EvaluationTables:
    """The numeric results; see each producing function for the columns."""

    metrics: pd.DataFrame
    means: pd.DataFrame
    auc_ci: pd.DataFrame
    differences: pd.DataFrame
    decision_curves: pd.DataFrame
    calibration: pd.DataFrame
    evaluated: pd.DataFrame

    def as_files(self) -> dict[str, pd.DataFrame]:
        """File name -> table, for writing."""
        return {
            "metrics.csv": self.metrics,
            "group_means.csv": self.means,
            "auc_ci.csv": self.auc_ci,
            "paired_differences.csv": self.differences,
            "decision_curves.csv": self.decision_curves,
            "calibration.csv": self.calibration,
        }


def select_splits(df: pd.DataFrame, splits: tuple[str, ...]) -> pd.DataFrame:
    """Rows of the reported splits; all rows (with a warning) when none of them is present."""
    chosen = df[df[SPLIT].isin(splits)]
    if chosen.empty:
        present = sorted(df[SPLIT].unique())
        logger.warning("no rows of split(s) %s; reporting the splits present: %s", splits, present)
        return df
    return chosen


def compute_tables(
    df: pd.DataFrame, models: list[str], config: EvaluationConfig
) -> EvaluationTables:
    """Every table of the report; ``models[0]`` is the reference of the paired tests."""
    labels = _label_map(df)
    evaluated = select_splits(df, config.splits)
    metrics = task_metrics(df, config.operating_point)
    calibration = calibration_table(evaluated)
    keys = [
        c
        for c in calibration.columns
        if c not in ("calibration_slope", "calibration_intercept", "n")
    ]
    metrics = metrics.merge(calibration.drop(columns="n"), on=keys, how="left")
    return EvaluationTables(
        metrics=_with_model(metrics, labels),
        means=_with_model(group_means(metrics), labels),
        auc_ci=_with_model(auc_confidence_table(evaluated, config.bootstrap), labels),
        differences=_differences(evaluated, models, labels, config.bootstrap),
        decision_curves=_with_model(decision_curves(evaluated), labels),
        calibration=_with_model(calibration, labels),
        evaluated=evaluated,
    )


def _differences(
    df: pd.DataFrame,
    models: list[str],
    labels: dict[tuple[str, str], str],
    config: BootstrapConfig,
) -> pd.DataFrame:
    pairs = {label: pair for pair, label in labels.items()}
    reference = pairs[models[0]]
    frames = []
    for other in models[1:]:
        diff = paired_difference_table(df, reference, pairs[other], config)
        if not diff.empty:
            frames.append(diff.assign(model=other, reference_model=models[0]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _label_map(df: pd.DataFrame) -> dict[tuple[str, str], str]:
    pairs = df[[METHOD, RUN, "model"]].drop_duplicates()
    return {(r[METHOD], r[RUN]): r["model"] for _, r in pairs.iterrows()}


def _with_model(table: pd.DataFrame, labels: dict[tuple[str, str], str]) -> pd.DataFrame:
    if table.empty:
        return table
    model = [labels[(m, r)] for m, r in zip(table[METHOD], table[RUN])]
    return table.assign(model=model)
