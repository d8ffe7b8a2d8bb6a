"""Train several methods with one config and summarise them like the paper's Table 1.

``<out>/<variant>/`` holds each run (finished runs are kept, stopped ones resumed); a variant is a
method, or ``<method>+anatomy`` when it trains with the auxiliary anatomy loss
(``anatomy="both"`` runs each method with and without it). A :class:`Protocol` makes the
comparison like for like: every method trained to one budget (:mod:`hyperct.training.budget`),
repeated over seeds (``<variant>/seed<i>/``) or over the folds of a patient-level
cross-validation (``<variant>/fold<k>/``, the folds' manifests in ``<out>/folds/``;
:mod:`hyperct.training.folds`), and with its learning rate chosen from a grid on validation only
(``<variant>/lr<lr>/``; :mod:`hyperct.training.selection`).

Tables in ``<out>``: ``predictions.csv`` stacks the selected runs' predictions (``method``: the
variant, ``run``: ``seed<i>`` or ``fold<k>``); ``summary.csv`` the AUC per task, group and
overall (mean over seeds or folds) with variants as columns, per cohort of the chosen split, and
``seeds.csv`` (``folds.csv``) its mean, sd and count; ``runs.csv`` every run's lr, seed,
realised epochs / steps / labels / backbone passes, times and validation AUC,
``lr_selection.csv`` the mean validation AUC per (variant, lr) and the choice, ``compare.json``
the protocol and the chosen lrs; ``timing.csv`` the training seconds per step;
``vs_<reference>.csv`` each variant's paired bootstrap AUC difference to the reference variant
(hyperct when compared, else the first), and with anatomy pairs ``anatomy_pairs.csv`` (with -
without); with folds ``pooled.csv``, the bootstrap CIs of every variant's AUC on the pooled
out-of-fold test predictions; ``outputs.csv`` the segmentation and report metrics of the
variants trained to those outputs (:mod:`hyperct.training.compare_outputs`); ``summary.md`` all
of it as markdown. A variant is a method or a named variant, a method with config overrides
(:mod:`hyperct.training.compare_variants`); the AUC tables cover the variants trained to classify.

Pooling: over seeds, every seed predicts the same scans, so an AUC is the mean of the seeds'
AUCs on each resample (:func:`~hyperct.evaluation.bootstrap.pooled_difference_table`). Over
folds, each scan of a re-split cohort is in exactly one fold's test split, so its test
predictions are stacked into one out-of-fold set (run ``out-of-fold``) and bootstrapped as one
model; a cohort the folds leave alone (an external one) is predicted by every fold's model and
pooled as over seeds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from hyperct.config.run import ConfigError, TrainConfig
from hyperct.inference.checkpoint import LAST
from hyperct.inference.predictions import read_predictions, write_predictions
from hyperct.io.atomic import write_csv_atomic, write_text_atomic
from hyperct.tasks import TASK_NAMES
from hyperct.data.manifest import load_manifest
from hyperct.training.budget import budget_config, check_unit, default_amount
from hyperct.training.compare_outputs import ScoredRun, output_metrics, outputs_markdown
from hyperct.training.compare_variants import Entry, entry_config, outputs, parse_entries
from hyperct.training.folds import fold_manifests, fold_name, folded_cohorts, write_fold_manifests
from hyperct.training.run_log import HISTORY, RECORD, read_history
from hyperct.training.selection import auc_rows, choose_lr, seed_statistics, validation_auc

logger = logging.getLogger(__name__)


#: Suffix of a variant trained with the auxiliary anatomy loss.
ANATOMY_SUFFIX = "+anatomy"
#: The ``run`` of the stacked out-of-fold test predictions of a cross-validation.
OUT_OF_FOLD = "out-of-fold"
AnatomyMode = Literal["config", "off", "on", "both"]


@dataclass
class CompareResult:
    """Where the comparison's tables are, and the summary itself."""

    predictions_path: Path | None
    summary_path: Path | None
    summary: pd.DataFrame
    markdown: str
    timing: pd.DataFrame
    anatomy_pairs: pd.DataFrame | None = None
    runs: pd.DataFrame | None = None
    lr_selection: pd.DataFrame | None = None
    seeds: pd.DataFrame | None = None
    versus: pd.DataFrame | None = None
    reference: str | None = None
    pooled: pd.DataFrame | None = None
    outputs: pd.DataFrame | None = None

    @property
    def vs_hyperct(self) -> pd.DataFrame | None:
        """The paired differences when hyperct is the reference."""
        return self.versus if self.reference == "hyperct" else None


@dataclass(frozen=True)
class Variant:
    """One compared configuration: an entry (a method with its overrides, under its name), with
    or without anatomy supervision."""

    entry: Entry
    anatomy: bool

    @property
    def method(self) -> str:
        return self.entry.method

    @property
    def name(self) -> str:
        return self.entry.name + (ANATOMY_SUFFIX if self.anatomy else "")


def variants(cfg: TrainConfig, entries: Sequence[Entry], anatomy: AnatomyMode) -> list[Variant]:
    """The runs of a comparison: ``config`` keeps the config's ``anatomy.enabled``, ``off`` /
    ``on`` force it, ``both`` trains each entry without and with it."""
    flags = {
        "config": [bool(cfg.anatomy.get("enabled"))], "off": [False], "on": [True],
        "both": [False, True],
    }
    if anatomy not in flags:
        raise ConfigError(f"--anatomy must be one of {sorted(flags)}, got {anatomy!r}")
    return [Variant(e, flag) for e in entries for flag in flags[anatomy]]


@dataclass(frozen=True)
class Protocol:
    """How every method of a comparison is trained: to one ``budget`` (a unit of
    :mod:`hyperct.training.budget`; None: each config's own ``optim.epochs``) of
    ``budget_amount`` (None: what ``optim.epochs`` epochs of the first method spend), ``seeds``
    repeats (seeds ``cfg.seed + i``) or ``folds`` of a patient-level cross-validation (None: the
    manifest's splits; every fold trains with ``cfg.seed``), and each method's learning rate
    chosen from ``lr_grid`` on validation (empty: the config's ``optim.lr``)."""

    budget: str | None = None
    budget_amount: int | None = None
    seeds: int = 1
    lr_grid: tuple[float, ...] = ()
    folds: int | None = None

    def __post_init__(self) -> None:
        if self.budget is not None:
            check_unit(self.budget)
        elif self.budget_amount is not None:
            raise ConfigError("--budget-amount needs --budget")
        if self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds}")
        if any(not lr > 0 for lr in self.lr_grid):
            raise ConfigError(f"--lr-grid: every learning rate must be > 0, got {self.lr_grid}")
        if len(set(self.lr_grid)) != len(self.lr_grid):
            raise ConfigError(f"--lr-grid lists a learning rate twice: {self.lr_grid}")
        if self.folds is not None:
            if self.folds < 2:
                raise ConfigError(f"--folds must be >= 2, got {self.folds}")
            if self.seeds > 1:
                raise ConfigError("--folds and --seeds > 1 together are not supported: the folds "
                                  "already repeat every method (mean ± sd over folds); use one")

    @property
    def repeats(self) -> list[str]:
        """The ``run`` names of every variant's repeats: ``fold<k>`` or ``seed<i>``."""
        if self.folds is not None:
            return [fold_name(k) for k in range(self.folds)]
        return seed_names(self.seeds)


@dataclass(frozen=True)
class Run:
    """One training run of a comparison and its folder."""

    variant: Variant
    lr: float
    seed_index: int
    name: str
    run_dir: Path
    outputs: tuple[str, ...] = ("classification",)


def seed_names(seeds: int) -> list[str]:
    """The ``run`` names of ``seeds`` repeats in a comparison's predictions table."""
    return [f"seed{i}" for i in range(seeds)]


def run_folder(out: Path, variant: Variant, lr: float, repeat: str, protocol: Protocol) -> Path:
    """``out/<variant>``, then ``lr<lr>/`` with a grid and ``<repeat>/`` with several seeds or
    folds."""
    path = out / variant.name
    if protocol.lr_grid:
        path = path / f"lr{lr:g}"
    if len(protocol.repeats) > 1:
        path = path / repeat
    return path


def compare_methods(
    *,
    cfg: TrainConfig,
    methods: Sequence[str],
    out: str | Path,
    split: str = "test",
    anatomy: AnatomyMode = "config",
    bootstrap: int = 1000,
    protocol: Protocol = Protocol(),
    reference: str | None = None,
    custom: Sequence[str] = (),
) -> CompareResult:
    """Train every run of ``protocol`` into ``out`` and write the joint tables.

    ``methods``: methods, named variants and presets, ``custom``: variants
    ``NAME=METHOD:KEY=VALUE;...`` (:mod:`hyperct.training.compare_variants`). ``bootstrap``:
    resamples of the paired tests (with/without anatomy; each variant vs ``reference``, default
    hyperct when compared, else the first variant that classifies) and of the CIs; 0: none.
    Classification tables cover the variants trained to classify; segmentation and report
    metrics (:mod:`hyperct.training.compare_outputs`) those trained to segment or report.
    """
    out = Path(out)
    runs = variants(cfg, parse_entries(methods, custom), anatomy)
    names = [v.name for v in runs]
    bases = {v.name: entry_config(cfg, v.entry) for v in runs}
    classify = [name for name in names if "classification" in outputs(bases[name])]
    reference = _reference(reference, names, classify)
    if protocol.lr_grid and len(classify) < len(names):
        raise ConfigError(f"--lr-grid chooses on validation AUC, but "
                          f"{sorted(set(names) - set(classify))} are not trained to classify; "
                          "compare them without --lr-grid")
    manifests, folded = _fold_manifests(cfg, out, protocol)
    planned, amount = _plan(cfg, runs, bases, out, protocol, manifests)
    for run, sub in planned:
        _train_or_keep(run, sub)
    table_runs = runs_table([run for run, _ in planned], cfg.data.train_cohort)
    selection = choose_lr(table_runs)
    chosen = selection[selection["chosen"]].set_index("variant")["lr"]
    table_runs["selected"] = [row.lr == chosen[row.variant] for row in table_runs.itertuples()]
    selected = [run for run, _ in planned if run.lr == chosen[run.variant.name]]
    write_csv_atomic(table_runs, out / "runs.csv", float_format="%.6g")
    write_csv_atomic(selection, out / "lr_selection.csv", float_format="%.6g")
    timing = timing_table(table_runs[table_runs["selected"]], runs)
    write_csv_atomic(timing, out / "timing.csv", float_format="%.4f")
    over = "folds" if protocol.folds else "seeds"
    manifest_of = {m: load_manifest(m, check_files=False)
                   for m in dict.fromkeys(sub.data.manifest for _, sub in planned)}
    scored = output_metrics(
        [ScoredRun(r.variant.name, r.name, r.run_dir, manifest_of[sub.data.manifest], r.outputs)
         for r, sub in planned if r in selected], split, bootstrap,
        OUT_OF_FOLD if protocol.folds else None, folded)
    if not scored.empty:
        write_csv_atomic(scored, out / "outputs.csv", float_format="%.4f")
    result = CompareResult(None, None, pd.DataFrame(), "", timing, runs=table_runs,
                           lr_selection=selection, reference=reference, outputs=scored)
    if classify:
        _classification_tables(result, [r for r in selected if "classification" in r.outputs],
                               [v for v in runs if v.name in classify], out, split,
                               Pooling(protocol.repeats, folded, bootstrap), over)
    write_text_atomic(out / "compare.json", json.dumps(
        {"split": split, "budget": protocol.budget, "budget_amount": amount,
         "seeds": protocol.seeds, "folds": protocol.folds,
         "fold_manifests": [str(p) for p in manifests], "folded_cohorts": folded,
         "reference": reference,
         "variants": {r.variant.name: {"method": r.variant.method,
                                       "overrides": list(r.variant.entry.overrides),
                                       "outputs": list(r.outputs)} for r in selected},
         "lr_grid": list(protocol.lr_grid), "chosen_lr": {k: float(v) for k, v in chosen.items()},
         "selection": f"mean validation AUC over {over} (val rows only)"}, indent=2) + "\n")
    result.markdown = "\n".join([
        result.markdown,
        outputs_markdown(scored, names, OUT_OF_FOLD if protocol.folds else None),
        runs_markdown(table_runs, protocol), timing_markdown(timing),
        pairs_markdown(result.anatomy_pairs) if result.anatomy_pairs is not None else "",
        versus_markdown(result.versus, reference, over) if result.versus is not None else "",
    ]).strip() + "\n"
    write_text_atomic(out / "summary.md", result.markdown)
    return result


def _reference(reference: str | None, names: Sequence[str], classify: Sequence[str]) -> str | None:
    """The variant the AUC differences are taken against: ``reference``, else hyperct when it
    is compared, else the first variant that classifies (None if none does)."""
    if reference is None:
        return "hyperct" if "hyperct" in classify else (classify[0] if classify else None)
    if reference not in names:
        raise ConfigError(f"--reference {reference!r} is not a compared variant ({list(names)})")
    if reference not in classify:
        raise ConfigError(f"--reference {reference!r} is not trained to classify; the "
                          "differences are AUC differences")
    return reference


def _classification_tables(
    result: CompareResult, selected: Sequence[Run], runs: Sequence[Variant], out: Path,
    split: str, pooling: Pooling, over: str,
) -> None:
    """The AUC tables of the variants that classify, into ``out`` and ``result``."""
    names = [v.name for v in runs]
    table = pd.concat(
        [read_predictions(r.run_dir / "predictions.csv").assign(method=r.variant.name, run=r.name)
         for r in selected],
        ignore_index=True,
    )
    result.predictions_path = write_predictions(table, out / "predictions.csv")
    summary = summary_table(table, split)
    result.summary = summary[["cohort", "row", *[n for n in names if n in summary.columns]]]
    result.summary_path = write_csv_atomic(result.summary, out / "summary.csv", float_format="%.4f")
    result.seeds = seed_statistics(table, split).rename(columns={"seeds": over})
    write_csv_atomic(result.seeds, out / f"{over}.csv", float_format="%.4f")
    if pooling.n_resamples:
        result.anatomy_pairs = anatomy_pairs(table, runs, split, pooling)
        if result.anatomy_pairs is not None:
            write_csv_atomic(result.anatomy_pairs, out / "anatomy_pairs.csv", float_format="%.4f")
        result.versus = reference_differences(table, runs, result.reference, split, pooling)
        if result.versus is not None:
            write_csv_atomic(result.versus, out / f"vs_{result.reference}.csv", float_format="%.4f")
        if pooling.folded:
            result.pooled = pooled_confidence(table, split, pooling)
            write_csv_atomic(result.pooled, out / "pooled.csv", float_format="%.4f")
    result.markdown = "\n".join([
        summary_markdown(result.summary, names) if len(pooling.repeats) == 1
        else seeds_markdown(result.seeds, names, over),
        pooled_markdown(result.pooled, names) if result.pooled is not None else "",
    ])


def _fold_manifests(cfg: TrainConfig, out: Path, protocol: Protocol) -> tuple[list[Path], list[str]]:
    """With folds: the folds' manifests written to ``out/folds/`` and the re-split cohorts."""
    if protocol.folds is None:
        return [], []
    from hyperct.training.data_setup import require_data_paths

    require_data_paths(cfg)
    manifest = load_manifest(cfg.data.manifest, check_files=False)
    manifests = fold_manifests(manifest, protocol.folds, cfg.seed, cfg.data.train_cohort)
    paths = write_fold_manifests(manifests, out / "folds")
    return paths, folded_cohorts(manifest, cfg.data.train_cohort)


def _plan(
    cfg: TrainConfig, runs: Sequence[Variant], bases: dict[str, TrainConfig], out: Path,
    protocol: Protocol, manifests: Sequence[Path] = (),
) -> tuple[list[tuple[Run, TrainConfig]], int | None]:
    """Every run's config (from ``bases``, each variant's config), and the budget amount (None
    without a budget)."""
    amount = None
    repeats = []
    for i, name in enumerate(protocol.repeats):
        data = dataclasses.replace(cfg.data, manifest=str(manifests[i])) if manifests else cfg.data
        seed = cfg.seed if manifests else cfg.seed + i
        labels = _train_labels(dataclasses.replace(cfg, data=data)) if protocol.budget else None
        repeats.append((i, name, data, seed, labels))
    if protocol.budget is not None:
        reference = dataclasses.replace(bases[runs[0].name], data=repeats[0][2])
        amount = protocol.budget_amount or default_amount(reference, protocol.budget,
                                                          repeats[0][4])
        logger.info("budget: %d %s for every method", amount, protocol.budget)
    planned = []
    for variant in runs:
        base = bases[variant.name]
        for lr in protocol.lr_grid or (base.optim.lr,):
            for i, name, data, seed, labels in repeats:
                run_dir = run_folder(out, variant, lr, name, protocol)
                sub = dataclasses.replace(
                    base, output_dir=str(run_dir), seed=seed, data=data,
                    anatomy={**base.anatomy, "enabled": variant.anatomy},
                    optim=dataclasses.replace(base.optim, lr=lr),
                )
                if protocol.budget is not None:
                    sub = budget_config(sub, protocol.budget, amount, labels)  # type: ignore[arg-type]
                planned.append((Run(variant, lr, seed - cfg.seed, name, run_dir, outputs(sub)),
                                sub))
    return planned, amount


def _train_labels(cfg: TrainConfig) -> torch.Tensor:
    from hyperct.training.data_setup import require_data_paths, train_labels

    require_data_paths(cfg)
    return train_labels(load_manifest(cfg.data.manifest, check_files=False), cfg.data.train_cohort)


def _train_or_keep(run: Run, cfg: TrainConfig) -> None:
    """Train ``cfg`` unless its run finished (stl skips its finished tasks itself)."""
    from hyperct.training.runs import train

    stl = run.variant.method == "stl"
    if (run.run_dir / RECORD).is_file() and not stl:
        logger.info("%s: finished run in %s kept", run.variant.name, run.run_dir)
        return
    train(cfg, resume=not stl and (run.run_dir / LAST).is_file())


def runs_table(runs: Sequence[Run], cohort: str | None) -> pd.DataFrame:
    """One row per run: variant, method, anatomy, lr, seed, run_dir, the realised epochs,
    steps, labels and backbone passes (an stl run sums its task runs), training seconds per
    step (median over epochs), training and total seconds, and the validation AUC the learning
    rate is chosen on (:func:`~hyperct.training.selection.validation_auc`)."""
    rows = []
    for run in runs:
        history = _histories(run.run_dir)
        per_step = [
            float(r["train_seconds"]) / float(r["steps"])
            for r in history
            if r.get("train_seconds") not in (None, "") and float(r.get("steps") or 0) > 0
        ]
        record = json.loads((run.run_dir / RECORD).read_text())
        val_auc = (validation_auc(read_predictions(run.run_dir / "predictions.csv"), cohort)
                   if "classification" in run.outputs else np.nan)
        rows.append({
            "variant": run.variant.name, "method": run.variant.method,
            "anatomy": run.variant.anatomy, "lr": run.lr, "run": run.name,
            "seed": run.seed_index,
            "run_dir": str(run.run_dir), "epochs": len(history),
            **{k: sum(int(float(r.get(k) or 0)) for r in history)
               for k in ("steps", "labels", "backbone_passes")},
            "seconds_per_step": float(np.median(per_step)) if per_step else np.nan,
            "train_seconds": sum(float(r.get("train_seconds") or 0) for r in history),
            "runtime_s": record.get("runtime_s", np.nan),
            "val_mean_auc": val_auc,
        })
    return pd.DataFrame(rows)


def _histories(run_dir: Path) -> list[dict[str, str]]:
    """The epoch rows of a run; for an stl run, of all its task runs."""
    paths = [run_dir / HISTORY] if (run_dir / HISTORY).is_file() else sorted(
        run_dir.glob(f"*/{HISTORY}"))
    return [row for path in paths for row in read_history(path)]


def timing_table(runs: pd.DataFrame, variants_: Sequence[Variant]) -> pd.DataFrame:
    """Per variant, over its selected runs: median training seconds per optimizer step, the
    mean realised epochs, steps, labels and backbone passes, and the anatomy variant's time
    ratio to the same method without it."""
    rows = []
    for variant in variants_:
        own = runs[runs["variant"] == variant.name]
        rows.append({"variant": variant.name, "method": variant.method,
                     "anatomy": variant.anatomy, "epochs": own["epochs"].mean(),
                     "steps": own["steps"].mean(), "labels": own["labels"].mean(),
                     "backbone_passes": own["backbone_passes"].mean(),
                     "seconds_per_step": own["seconds_per_step"].median()})
    timing = pd.DataFrame(rows)
    plain = timing[~timing["anatomy"]].set_index("method")["seconds_per_step"]
    timing["ratio_to_without_anatomy"] = [
        row.seconds_per_step / plain[row.method] if row.anatomy and row.method in plain else np.nan
        for row in timing.itertuples()
    ]
    return timing


@dataclass(frozen=True)
class Pooling:
    """How a comparison's repeats are pooled in its bootstrap tables: the ``repeats`` (run
    names), the ``folded`` cohorts whose test predictions are stacked out of fold, and the
    number of resamples."""

    repeats: Sequence[str]
    folded: Sequence[str]
    n_resamples: int

    def stacked(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows of the folded cohorts with every fold's run renamed to the out-of-fold run."""
        return rows[rows["cohort"].isin(list(self.folded))].assign(run=OUT_OF_FOLD)


def pooled_difference(
    table: pd.DataFrame, reference: str, other: str, split: str, pooling: Pooling
) -> pd.DataFrame:
    """AUC ``other - reference`` on ``split`` with paired bootstrap CI: the folded cohorts on
    the stacked out-of-fold predictions, every other cohort pooled over the repeats (repeat i
    against the reference's repeat i)."""
    from hyperct.evaluation.bootstrap import BootstrapConfig, pooled_difference_table

    config = BootstrapConfig(n_resamples=pooling.n_resamples)
    rows = table[table["split"] == split]
    frames = []
    stacked = pooling.stacked(rows)
    if not stacked.empty:
        frames.append(pooled_difference_table(
            stacked, [(reference, OUT_OF_FOLD)], [(other, OUT_OF_FOLD)], config))
    rest = rows[~rows["cohort"].isin(list(pooling.folded))]
    if not rest.empty:
        frames.append(pooled_difference_table(
            rest, [(reference, r) for r in pooling.repeats], [(other, r) for r in pooling.repeats],
            config))
    return pd.concat(frames, ignore_index=True)


def reference_differences(
    table: pd.DataFrame, runs: Sequence[Variant], reference: str, split: str, pooling: Pooling
) -> pd.DataFrame | None:
    """Every other variant's AUC minus the reference's (:func:`pooled_difference`); None
    without another variant."""
    others = [v.name for v in runs if v.name != reference]
    if not others:
        return None
    return pd.concat(
        [pooled_difference(table, reference, name, split, pooling).assign(variant=name)
         for name in others], ignore_index=True)


def anatomy_pairs(
    table: pd.DataFrame, runs: Sequence[Variant], split: str, pooling: Pooling
) -> pd.DataFrame | None:
    """Paired bootstrap AUC difference (with anatomy - without) of every method run both ways,
    on ``split``, pooled as :func:`pooled_difference`; None when no method was."""
    names = {v.name for v in runs}
    frames = [
        pooled_difference(table, v.name, v.name + ANATOMY_SUFFIX, split, pooling)
        .assign(method=v.method)
        for v in runs if not v.anatomy and v.name + ANATOMY_SUFFIX in names
    ]
    return pd.concat(frames, ignore_index=True) if frames else None


def pooled_confidence(table: pd.DataFrame, split: str, pooling: Pooling) -> pd.DataFrame:
    """Bootstrap CIs of every variant's AUC on the stacked out-of-fold predictions of ``split``
    (:func:`~hyperct.evaluation.bootstrap.auc_confidence_table`, run ``out-of-fold``)."""
    from hyperct.evaluation.bootstrap import BootstrapConfig, auc_confidence_table

    stacked = pooling.stacked(table[table["split"] == split])
    return auc_confidence_table(stacked, BootstrapConfig(n_resamples=pooling.n_resamples))


def summary_table(predictions: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """AUC per (cohort, row) with one column per method (the mean over its runs, i.e. seeds);
    rows: tasks, then group means."""
    long = auc_rows(predictions, split)
    wide = long.pivot_table(index=["cohort", "row"], columns="method", values="auc", sort=False,
                            dropna=False)
    order = {name: i for i, name in enumerate(TASK_NAMES)}
    wide = wide.reset_index()
    wide["_o"] = wide["row"].map(lambda r: order.get(r, len(order)))
    return wide.sort_values(["cohort", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def summary_markdown(summary: pd.DataFrame, methods: Sequence[str]) -> str:
    """The summary as one markdown table per cohort."""
    cols = [m for m in methods if m in summary.columns]
    lines: list[str] = []
    for cohort, rows in summary.groupby("cohort", sort=False):
        lines += [f"### {cohort}", "", "| | " + " | ".join(cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for _, row in rows.iterrows():
            cells = ["" if pd.isna(row[c]) else f"{row[c]:.3f}" for c in cols]
            lines.append(f"| {row['row']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def timing_markdown(timing: pd.DataFrame) -> str:
    """Training seconds per step, one row per variant."""
    lines = ["### training time", "", "| | s/step | x without anatomy |", "|---|---:|---:|"]
    for row in timing.itertuples():
        ratio = "" if pd.isna(row.ratio_to_without_anatomy) else f"{row.ratio_to_without_anatomy:.2f}"
        lines.append(f"| {row.variant} | {row.seconds_per_step:.3f} | {ratio} |")
    return "\n".join(lines) + "\n"


def pairs_markdown(pairs: pd.DataFrame) -> str:
    """Group and overall AUC differences (with - without anatomy) with their intervals."""
    lines = ["### anatomy: AUC with - without (paired bootstrap 95% CI)", "",
             "| cohort | method | row | without | with | difference (CI) | p |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in pairs[pairs["level"] != "task"].itertuples():
        lines.append(
            f"| {row.cohort} | {row.method} | {row.name} | {row.auc_reference:.3f} | "
            f"{row.auc_other:.3f} | {row.difference:+.3f} ({row.ci_low:+.3f} to "
            f"{row.ci_high:+.3f}) | {row.p_value:.3f} |"
        )
    return "\n".join(lines) + "\n"


def seeds_markdown(stats: pd.DataFrame, methods: Sequence[str], over: str = "seeds") -> str:
    """Mean ± sd over ``over`` (the count column: seeds or folds) of every group and overall
    mean AUC, one table per cohort."""
    means = stats[stats["row"].str.startswith("mean AUC: ")]
    cols = [m for m in methods if m in set(means["method"])]
    lines: list[str] = []
    for cohort, rows in means.groupby("cohort", sort=False):
        lines += [f"### {cohort}: mean ± sd over {over}", "", "| | " + " | ".join(cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for row_name, part in rows.groupby("row", sort=False):
            by = part.set_index("method")
            cells = ["" if c not in by.index or pd.isna(by.at[c, "mean"]) else
                     f"{by.at[c, 'mean']:.3f} ± {by.at[c, 'sd']:.3f} (n={by.at[c, over]})"
                     for c in cols]
            lines.append(f"| {row_name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def runs_markdown(runs: pd.DataFrame, protocol: Protocol) -> str:
    """The budget and what each run realised, with the validation AUC the lr was chosen on."""
    budget = protocol.budget if protocol.budget is not None else "each config's epochs"
    lines = [f"### runs (budget: {budget}; lr chosen on mean validation AUC)", "",
             "| variant | lr | run | epochs | steps | labels | backbone passes | val AUC | "
             "selected |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in runs.itertuples():
        lines.append(f"| {row.variant} | {row.lr:g} | {row.run} | {row.epochs} | {row.steps} | "
                     f"{row.labels} | {row.backbone_passes} | {row.val_mean_auc:.3f} | "
                     f"{'yes' if row.selected else ''} |")
    return "\n".join(lines) + "\n"


def versus_markdown(versus: pd.DataFrame, reference: str = "hyperct", over: str = "seeds") -> str:
    """Group and overall AUC differences (variant - reference), pooled over ``over``."""
    lines = [f"### vs {reference}: AUC variant - {reference} (paired bootstrap 95% CI, pooled "
             f"over {over})",
             "", f"| cohort | variant | row | {reference} | variant | difference (CI) | p |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in versus[versus["level"] != "task"].itertuples():
        lines.append(
            f"| {row.cohort} | {row.variant} | {row.name} | {row.auc_reference:.3f} | "
            f"{row.auc_other:.3f} | {row.difference:+.3f} ({row.ci_low:+.3f} to "
            f"{row.ci_high:+.3f}) | {row.p_value:.3f} |"
        )
    return "\n".join(lines) + "\n"


def pooled_markdown(pooled: pd.DataFrame, methods: Sequence[str]) -> str:
    """Group and overall AUC with bootstrap CI on the stacked out-of-fold predictions, one table
    per cohort; an unreliable interval is marked ``*``."""
    means = pooled[pooled["level"] != "task"]
    cols = [m for m in methods if m in set(means["method"])]
    lines: list[str] = []
    for cohort, rows in means.groupby("cohort", sort=False):
        lines += [f"### {cohort}: AUC on the pooled out-of-fold predictions (bootstrap 95% CI)",
                  "", "| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, part in rows.groupby("name", sort=False):
            by = part.set_index("method")
            cells = ["" if c not in by.index or pd.isna(by.at[c, "auc"]) else
                     f"{by.at[c, 'auc']:.3f} ({by.at[c, 'ci_low']:.3f} to "
                     f"{by.at[c, 'ci_high']:.3f}){'*' if by.at[c, 'ci_unreliable'] else ''}"
                     for c in cols]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
