"""Bootstrap confidence intervals for AUCs and paired bootstrap tests between two models.

Scans are the resampling unit: one resample draws the scans of a (cohort, split) with
replacement and every task's AUC is recomputed on it, so group and overall means (the average
over tasks) get CIs that respect the correlation between tasks of one scan. Intervals are
percentile intervals. The resamples depend only on the seed and the list of scans, so two models
evaluated on the same scans see the same resamples; the paired test uses exactly that.

Two-sided p-value of a paired difference: ``min(1, 2 (k + 1) / (B + 1))`` with ``k`` the number
of resampled differences on the far side of zero (``<= 0`` when the observed difference is
positive); the ``+1`` keeps it from ever being reported as exactly 0.

An interval is flagged (``ci_unreliable``, with the reason in ``ci_warning``) when a task's smaller
class (positives, or negatives) has fewer than ``min_class_count`` scans, or when fewer than
``min_valid_fraction`` of the resamples are valid: for a task, resamples with both classes; for a
mean, resamples in which every task it averages is defined (otherwise the mean silently averages
fewer tasks in some resamples). Such an interval is printed, marked, not hidden.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hyperct.evaluation.auc import auc_resampled, resample_counts
from hyperct.inference.predictions import COHORT, LABEL, METHOD, PROB, RUN, SCAN_ID, SPLIT, TASK
from hyperct.tasks import GROUPS, TASK_NAMES, task_by_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapConfig:
    """Percentile bootstrap intervals: number of resamples, seed, confidence level, and when an
    interval is flagged as unreliable (smaller class below ``min_class_count`` scans, or valid
    resamples below ``min_valid_fraction``)."""

    n_resamples: int = 1000
    seed: int = 0
    level: float = 0.95
    min_class_count: int = 5
    min_valid_fraction: float = 0.8

    def __post_init__(self) -> None:
        if self.n_resamples < 10:
            raise ValueError(f"n_resamples must be >= 10, got {self.n_resamples}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        if self.min_class_count < 0:
            raise ValueError(f"min_class_count must be >= 0, got {self.min_class_count}")
        if not 0.0 <= self.min_valid_fraction <= 1.0:
            raise ValueError(f"min_valid_fraction must be in [0, 1], got {self.min_valid_fraction}")

    @property
    def percentiles(self) -> tuple[float, float]:
        tail = (1.0 - self.level) / 2 * 100
        return tail, 100.0 - tail


@dataclass
class WideTable:
    """One model's predictions on one set of scans: labels/probs of shape (scans, tasks)."""

    scan_ids: np.ndarray
    tasks: tuple[str, ...]
    labels: np.ndarray
    probs: np.ndarray


def to_wide(df: pd.DataFrame, scan_ids: np.ndarray | None = None) -> WideTable:
    """Pivot one model's long rows to (scans, tasks) arrays; missing (scan, task) gets label -1."""
    present = set(df[TASK].unique())
    tasks = tuple(t for t in TASK_NAMES if t in present)
    scans = np.sort(df[SCAN_ID].unique()) if scan_ids is None else scan_ids
    labels = df.pivot(index=SCAN_ID, columns=TASK, values=LABEL).reindex(
        index=scans, columns=list(tasks)
    )
    probs = df.pivot(index=SCAN_ID, columns=TASK, values=PROB).reindex(
        index=scans, columns=list(tasks)
    )
    return WideTable(
        scan_ids=np.asarray(scans),
        tasks=tasks,
        labels=labels.fillna(-1).to_numpy(dtype=np.int8),
        probs=probs.to_numpy(dtype=float),
    )


def resampled_task_aucs(table: WideTable, counts: np.ndarray) -> np.ndarray:
    """AUC of every task in every resample, shape (resamples, tasks); row 0 of ``counts`` may
    be all ones to get the point estimate in the same pass."""
    out = np.full((counts.shape[0], len(table.tasks)), np.nan)
    for j in range(len(table.tasks)):
        known = table.labels[:, j] != -1
        if known.sum() < 2:
            continue
        out[:, j] = auc_resampled(table.labels[known, j], table.probs[known, j], counts[:, known])
    return out


def auc_confidence_table(
    df: pd.DataFrame, config: BootstrapConfig = BootstrapConfig()
) -> pd.DataFrame:
    """AUC with bootstrap CI per task, per group mean and overall mean, for every
    (method, run, cohort, split) in ``df``. Columns: method, run, cohort, split, level
    (task/group/overall), name, auc, ci_low, ci_high, n_resamples_valid, note, n_pos, n_neg
    (task rows), ci_unreliable, ci_warning, n_scans."""
    frames = []
    for (method, run, cohort, split), sub in df.groupby([METHOD, RUN, COHORT, SPLIT], sort=False):
        table = to_wide(sub)
        counts = _counts_with_point(len(table.scan_ids), config)
        per_task = resampled_task_aucs(table, counts)
        stats = _summaries(per_task, table.tasks)
        classes = _class_counts(table.labels, table.tasks)
        rows = [
            _interval_row(name, level, values, complete, classes.get(name), config)
            for level, name, values, complete in stats
        ]
        frame = pd.DataFrame(rows)
        frame.insert(0, SPLIT, split)
        frame.insert(0, COHORT, cohort)
        frame.insert(0, RUN, run)
        frame.insert(0, METHOD, method)
        frame["n_scans"] = len(table.scan_ids)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def paired_difference_table(
    df: pd.DataFrame,
    reference: tuple[str, str],
    other: tuple[str, str],
    config: BootstrapConfig = BootstrapConfig(),
) -> pd.DataFrame:
    """AUC difference ``other - reference`` (each a (method, run) pair) with paired bootstrap CI
    and two-sided p-value, per task, group and overall, per (cohort, split), on the scans both
    models predicted; flagged like :func:`auc_confidence_table` (ci_unreliable, ci_warning)."""
    return pooled_difference_table(df, [reference], [other], config)


def pooled_difference_table(
    df: pd.DataFrame,
    references: Sequence[tuple[str, str]],
    others: Sequence[tuple[str, str]],
    config: BootstrapConfig = BootstrapConfig(),
) -> pd.DataFrame:
    """:func:`paired_difference_table` pooled over repeats (e.g. seeds): the i-th reference
    pairs with the i-th other, and every AUC is the mean over the repeats' AUCs, each resample
    drawing the same scans for every model. Columns ``reference`` / ``other`` name the first
    pair's runs followed by ``+N`` for the further repeats."""
    if len(references) != len(others) or not references:
        raise ValueError(f"pooled paired test needs as many references as others, at least one; "
                         f"got {len(references)} and {len(others)}")
    frames = []
    ref_rows = [_model_rows(df, model) for model in references]
    oth_rows = [_model_rows(df, model) for model in others]
    for (cohort, split), _ in ref_rows[0].groupby([COHORT, SPLIT], sort=False):
        parts = [r[(r[COHORT] == cohort) & (r[SPLIT] == split)] for r in ref_rows + oth_rows]
        common = parts[0][SCAN_ID].unique()
        for part in parts[1:]:
            common = np.intersect1d(common, part[SCAN_ID].unique())
        if len(common) < 2:
            continue
        for ref, oth, reference, other in zip(parts, parts[len(references):], references, others):
            _warn_dropped(reference, other, cohort, split, ref, oth, len(common))
        wides = [to_wide(part, common) for part in parts]
        tasks = tuple(t for t in wides[0].tasks if all(t in w.tasks for w in wides[1:]))
        wides = [_restrict(w, tasks) for w in wides]
        agree = np.logical_and.reduce([w.labels == wides[0].labels for w in wides])
        disagree = int(np.sum(~agree))
        if disagree:
            logger.warning(
                "paired test on %s/%s: the tables disagree on %d labels; those "
                "(scan, task) pairs are left out",
                cohort,
                split,
                disagree,
            )
        labels = np.where(agree, wides[0].labels, -1).astype(np.int8)
        for w in wides:
            w.labels = labels
        counts = _counts_with_point(len(common), config)
        per_model = [resampled_task_aucs(w, counts) for w in wides]
        aucs_a = np.mean(per_model[: len(references)], axis=0)
        aucs_b = np.mean(per_model[len(references):], axis=0)
        classes = _class_counts(labels, tasks)
        rows = []
        for (level, name, va, complete_a), (_, _, vb, complete_b) in zip(
            _summaries(aucs_a, tasks), _summaries(aucs_b, tasks)
        ):
            warning = _ci_warning(complete_a & complete_b, classes.get(name), config)
            rows.append(_difference_row(level, name, va, vb, warning, config))
        frame = pd.DataFrame(rows)
        frame.insert(0, SPLIT, split)
        frame.insert(0, COHORT, cohort)
        frame["n_scans"] = len(common)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    more = f"+{len(others) - 1}" if len(others) > 1 else ""
    out.insert(0, "other", f"{others[0][0]}/{others[0][1]}{more}")
    out.insert(0, "reference", f"{references[0][0]}/{references[0][1]}{more}")
    return out


def _counts_with_point(n: int, config: BootstrapConfig) -> np.ndarray:
    counts = resample_counts(n, config.n_resamples, config.seed)
    return np.vstack([np.ones((1, n), dtype=counts.dtype), counts])


def _summaries(
    per_task: np.ndarray, tasks: tuple[str, ...]
) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(level, name, values, complete) over [point, resamples...] for each task, group mean and
    overall; ``complete`` is True where every task of the row is defined.

    A mean averages the tasks whose point AUC is defined; in a resample where one of them has
    one class only, the mean is over the remaining ones (and that resample is not complete)."""
    out = [("task", t, per_task[:, j], ~np.isnan(per_task[:, j])) for j, t in enumerate(tasks)]
    defined = ~np.isnan(per_task[0])
    groups = np.array([task_by_name(t).group for t in tasks])
    for name in (*GROUPS, "overall"):
        cols = defined & ((groups == name) if name != "overall" else True)
        if cols.any():
            with warnings.catch_warnings():  # a resample where every task has one class
                warnings.simplefilter("ignore", RuntimeWarning)
                values = np.nanmean(np.where(cols, per_task, np.nan), axis=1)
            complete = ~np.isnan(per_task[:, cols]).any(axis=1)
            out.append(("overall" if name == "overall" else "group", name, values, complete))
    return out


def _class_counts(labels: np.ndarray, tasks: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Task -> (positives, negatives) among its labelled scans."""
    return {
        t: (int(np.sum(labels[:, j] == 1)), int(np.sum(labels[:, j] == 0)))
        for j, t in enumerate(tasks)
    }


def _ci_warning(
    complete: np.ndarray, classes: tuple[int, int] | None, config: BootstrapConfig
) -> str:
    """Why the interval of a row (values over [point, resamples...]) is unreliable; "" if it is
    not, or if there is no interval (undefined point estimate)."""
    if not complete[0]:
        return ""
    reasons = []
    if classes is not None and min(classes) < config.min_class_count:
        positives, negatives = classes
        smaller = f"{positives} positives" if positives <= negatives else f"{negatives} negatives"
        reasons.append(f"{smaller} (< {config.min_class_count})")
    fraction = float(complete[1:].mean())
    if fraction < config.min_valid_fraction:
        reasons.append(f"{fraction:.0%} valid resamples (< {config.min_valid_fraction:.0%})")
    return "; ".join(reasons)


def _interval_row(
    name: str,
    level: str,
    values: np.ndarray,
    complete: np.ndarray,
    classes: tuple[int, int] | None,
    config: BootstrapConfig,
) -> dict[str, object]:
    point, boot = values[0], values[1:]
    valid = boot[~np.isnan(boot)]
    low, high = (
        np.percentile(valid, config.percentiles)
        if len(valid) and not np.isnan(point)
        else (np.nan, np.nan)
    )
    return {
        "level": level,
        "name": name,
        "auc": point,
        "ci_low": low,
        "ci_high": high,
        "n_resamples_valid": len(valid),
        "note": "one class only (or < 2 labelled scans)" if np.isnan(point) else "",
        "n_pos": np.nan if classes is None else classes[0],
        "n_neg": np.nan if classes is None else classes[1],
        **_flag(_ci_warning(complete, classes, config)),
    }


def _flag(warning: str) -> dict[str, object]:
    return {"ci_unreliable": bool(warning), "ci_warning": warning}


def _difference_row(
    level: str, name: str, va: np.ndarray, vb: np.ndarray, warning: str, config: BootstrapConfig
) -> dict[str, object]:
    diff = vb - va
    boot = diff[1:][~np.isnan(diff[1:])]
    point = diff[0]
    if np.isnan(point) or len(boot) == 0:
        low = high = p = np.nan
    else:
        low, high = np.percentile(boot, config.percentiles)
        far = np.sum(boot <= 0) if point > 0 else np.sum(boot >= 0)
        p = min(1.0, 2.0 * (far + 1) / (len(boot) + 1))
    return {
        "level": level,
        "name": name,
        "auc_reference": va[0],
        "auc_other": vb[0],
        "difference": point,
        "ci_low": low,
        "ci_high": high,
        "p_value": p,
        "n_resamples_valid": len(boot),
        **_flag(warning),
    }


def _model_rows(df: pd.DataFrame, model: tuple[str, str]) -> pd.DataFrame:
    rows = df[(df[METHOD] == model[0]) & (df[RUN] == model[1])]
    if rows.empty:
        raise KeyError(f"no predictions for method {model[0]!r}, run {model[1]!r}")
    return rows


def _restrict(table: WideTable, tasks: tuple[str, ...]) -> WideTable:
    idx = [table.tasks.index(t) for t in tasks]
    return WideTable(table.scan_ids, tasks, table.labels[:, idx], table.probs[:, idx])


def _warn_dropped(
    reference: tuple[str, str],
    other: tuple[str, str],
    cohort: str,
    split: str,
    ref: pd.DataFrame,
    oth: pd.DataFrame,
    n_common: int,
) -> None:
    n_ref, n_oth = ref[SCAN_ID].nunique(), oth[SCAN_ID].nunique()
    if n_common < max(n_ref, n_oth):
        logger.warning(
            "paired test %s vs %s on %s/%s: %d common scans (reference %d, other %d)",
            "/".join(reference),
            "/".join(other),
            cohort,
            split,
            n_common,
            n_ref,
            n_oth,
        )
