"""UniCT, its five ablations and three single-task models on one phantom cohort (issue 16).

Nine configurations train with the same encoder, data, epochs and optimiser through the public
path (``hyperct train --method unict`` with ``--set unict.<switch>=false``): UniCT; without
fusion; without modulation; without classification, segmentation or report supervision; and the
single-task models (two supervisions off, and fusion and modulation off, since with one task
there is nothing to fuse and a mask that nobody trains to modulate with). On the test split:

* classification (18 CT-RATE findings, the phantom's true labels): mean AUROC over the findings
  with both classes, mean F1 at each finding's validation Youden threshold, mAP (mean average
  precision), from the run's ``predictions.csv``;
* segmentation: Global Dice and hit rate (Dice >= 0.1) over the findings, one finding per
  (scan, category present), on the model grid (10 mm), masks = mask probability >= 0.5 from
  ``UniCT.predict`` on the cached test scans, scored against the cached finding masks;
* reports: BLEU-4, ROUGE-L, CE macro-F1 (the project's rule labeler) and CRG of the run's
  ``reports.csv`` against the phantom's reports (METEOR off);
* paired bootstrap CIs over test scans (same resamples for both models) of every configuration's
  difference to UniCT on each task it supervises; the goals compare UniCT with the single-task
  model of that task (AUROC, Dice, CE-F1);
* cost: training step time (median over epochs of the trainer's train seconds / steps, data
  loading included), peak RSS of the training process, prediction time per CT (median over the
  first test CTs; the report is generated only by configurations that supervise it) and peak
  RSS of the prediction process. Every configuration trains and predicts in its own subprocess,
  so memory figures do not mix; RSS is also given above the process's RSS before training or
  loading (the interpreter and libraries), which is what the "three models together" goal sums.

Resumable: a configuration whose ``bench.json`` exists in ``--work`` is not run again, an
interrupted training resumes from ``last.pt``. ``--smoke`` checks the path on a tiny cohort and
model (nothing recorded). ``--configs`` runs a subset (the table then says which are missing).

Run: ``nice -n 19 .venv/bin/python -m benchmarks.unict_ablation --work runs/unict_ablation``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.cohorts import true_label_report_manifest
from benchmarks.record import RESULTS_DIR, save_result
from hyperct.data.prepare import prepare_cache
from hyperct.evaluation.auc import resample_counts
from hyperct.evaluation.bootstrap import BootstrapConfig, paired_difference_table
from hyperct.evaluation.clinical_efficacy import positive_labels
from hyperct.evaluation.metrics import group_means, task_metrics
from hyperct.evaluation.report_metrics import ReportMetricsConfig, report_metrics
from hyperct.evaluation.segmentation_summary import summary_table
from hyperct.inference.predictions import LABEL, METHOD, PROB, RUN, SPLIT, TASK
from hyperct.inference.reports import REPORTS
from hyperct.io.atomic import write_csv_atomic, write_text_atomic
from hyperct.labels.io import read_csv_text
from hyperct.phantom.config import PhantomConfig
from hyperct.preprocess.spec import SpacingCropSpec
from hyperct.training.compare_variants import NAMED
from hyperct.tasks import CONVENTIONAL

logger = logging.getLogger("benchmarks.unict_ablation")

#: The 3D preprocessing every configuration reads: 10 mm voxels, a 28 x 32 x 32 crop of the
#: 32 x 36 x 36 cached grid (the 6 mm ``anatomy3d-cpu`` grid costs ~6x more CPU per step, most
#: of it in the full-resolution segmentation output and loss).
SPEC = SpacingCropSpec(spacing_zyx=(10.0, 10.0, 10.0), pad_shape_zyx=(32, 36, 36),
                       crop_shape_zyx=(28, 32, 32))
#: The classification tasks: the 18 CT-RATE findings (UniCT's default classes).
TASKS = tuple(t.name for t in CONVENTIONAL)
#: Test CTs whose whole prediction is timed, and timed training steps per configuration.
TIMED_CTS = 8
TIMED_STEPS = 5
#: The markdown ablation table written beside the result.
TABLE = "unict_ablation.md"
BENCH, TRAIN_COST, PREDICT_COST, FINDINGS = (
    "bench.json", "train_cost.json", "predict_cost.json", "test_findings.csv")

#: The shared model of the full run (every configuration); ``--smoke`` shrinks it.
MODEL = ["unict.encoder=volume3d", "unict.backbone3d=resnet10_3d",
         "unict.backbone3d_kwargs={width: 8, stem_stride: [1, 1, 1]}", "unict.dim=64", "unict.heads=4",
         "unict.slice_window=5", "unict.cls_latents=4", "unict.report_latents=8",
         "unict.seg_embed=16", "unict.seg_upsample=3",
         "unict.decoder={width: 64, layers: 1, heads: 4, max_len: 192}"]
SMOKE_MODEL = ["unict.backbone3d_kwargs={width: 4, stem_stride: [1, 1, 1]}", "unict.dim=16", "unict.heads=2",
               "unict.seg_embed=4", "unict.seg_upsample=1",
               "unict.decoder={width: 16, layers: 1, heads: 2, max_len: 48}"]
#: 30 epochs: at 6 no configuration's report decoder had learned to name a finding (CE-F1 0).
FULL = {"n": 300, "epochs": 30, "batch_size": 8, "lr": 1e-3, "bootstrap": 1000}
SMOKE = {"n": 40, "epochs": 1, "batch_size": 4, "lr": 1e-3, "bootstrap": 50}


@dataclass(frozen=True)
class Variant:
    """One configuration: its table name, run folder and the ``unict`` switches it turns off
    and on."""

    name: str
    folder: str
    off: tuple[str, ...] = ()
    on: tuple[str, ...] = ()

    def supervises(self, task: str) -> bool:
        return f"supervise_{task}" not in self.off

    @property
    def overrides(self) -> list[str]:
        return ([f"unict.{switch}=false" for switch in self.off]
                + [f"unict.{switch}=true" for switch in self.on])


def _named(name: str, folder: str, entry: str) -> Variant:
    """The configuration of compare's named variant ``entry`` (one definition of each)."""
    switches = [o.removeprefix("unict.").partition("=") for o in NAMED[entry].overrides]
    return Variant(name, folder, tuple(key for key, _, value in switches if value == "false"),
                   tuple(key for key, _, value in switches if value == "true"))


UNICT = _named("UniCT", "unict", "unict")
#: UniCT whose report reads its classification head's decisions (``unict.report_guidance``).
GUIDED = _named("UniCT + report guidance", "unict_guided", "unict-report-guidance")
#: The single-task model of each task.
SINGLE = {
    "classification": _named("classification only", "cls_only", "cls-only"),
    "segmentation": _named("segmentation only", "seg_only", "seg-only"),
    "report": _named("report only", "report_only", "report-only"),
}
#: In run order: the goal's comparisons first, then the paper's five ablations.
VARIANTS = (UNICT, *SINGLE.values(), GUIDED,
            _named("w/o fusion", "no_fusion", "unict-no-fusion"),
            _named("w/o modulation", "no_modulation", "unict-no-modulation"),
            _named("w/o classification supervision", "no_cls", "unict-no-cls"),
            _named("w/o segmentation supervision", "no_seg", "unict-no-seg"),
            _named("w/o report supervision", "no_report", "unict-no-report"))


def cohort_and_cache(work: Path, n: int, seed: int, workers: int = 2) -> tuple[Path, Path]:
    """The phantom cohort (internal scans only, so every scan has a split, a report and a
    finding mask) with true labels and reports in its manifest, and its 3D cache; both kept in
    ``work`` and reused by a later call."""
    config = PhantomConfig(n=n, seed=seed, preset="small", workers=workers,
                           cohort_fractions=(1.0, 0.0, 0.0))
    manifest = true_label_report_manifest(config, work / "phantom", TASKS)
    cache = work / "cache3d_10mm"
    report = prepare_cache(manifest, SPEC, cache, workers=workers, progress=False)
    if not report.ok:
        raise RuntimeError(f"prepare failed for {report.failed}")
    return manifest, cache


def train_overrides(variant: Variant, manifest: Path, cache: Path, run: Path,
                    size: dict[str, Any], smoke: bool) -> list[str]:
    """The ``--set`` overrides of one configuration's training run."""
    tasks = "[" + ", ".join(TASKS) + "]"
    return [
        "method=unict", f"data.manifest={manifest}", f"data.cache3d={cache}",
        f"output_dir={run}", f"tasks={tasks}", f"optim.epochs={size['epochs']}",
        f"optim.batch_size={size['batch_size']}", f"optim.lr={size['lr']}",
        "optim.scheduler=cosine", "optim.weight_decay=1e-4", "optim.max_grad_norm=5.0",
        "runtime.device=cpu", "runtime.progress=false", "runtime.bf16=false",
        *MODEL, *(SMOKE_MODEL if smoke else []), *variant.overrides,
    ]


# --- the subprocesses: train, predict the test scans, time training steps --------------------


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall seconds and this process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def train_child(job: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume) one configuration: wall and CPU seconds, peak RSS and the RSS before."""
    from hyperct.training import load_config, train

    baseline = _rss_gb()
    run = Path(job["run"])
    resumed = (run / "last.pt").is_file()
    cfg = load_config(None, job["overrides"])
    _, wall, cpu = _timed(lambda: train(cfg, resume=resumed))
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_gb": _rss_gb(), "baseline_rss_gb": baseline,
            "resumed": resumed}


def predict_child(job: dict[str, Any]) -> dict[str, Any]:
    """Predict every cached test scan with the run's best model: the test findings' scores
    (segmentation runs), the wall and CPU seconds of the whole prediction (report included when
    supervised) of the first :data:`TIMED_CTS` CTs, peak RSS and the RSS before loading."""
    import torch

    from hyperct.evaluation.segmentation import score_category_masks
    from hyperct.evaluation.segmentation_summary import findings_table
    from hyperct.inference.predict import load_trained_model, split_dataset
    from hyperct.models.report.generate import GenerationConfig

    variant = Variant(**job["variant"])
    dataset = split_dataset(pd.read_csv(job["manifest"]), job["cache"], "test")
    baseline = _rss_gb()
    model, _ = load_trained_model(job["run"], device="cpu")
    generation = None
    if variant.supervises("report"):
        generation = GenerationConfig(max_tokens=model.report_decoder.max_len)
    scores, walls, cpus = [], [], []
    for index in range(len(dataset)):
        item = dataset[index]
        image = item["image"].unsqueeze(0)
        with torch.inference_mode():
            if index < TIMED_CTS:
                pred, wall, cpu = _timed(lambda: model.predict(image, None, generation))
                walls.append(wall)
                cpus.append(cpu)
            else:
                pred = model.predict(image)
        if variant.supervises("segmentation") and bool(item["has_findings_mask"]):
            masks = (pred.mask_probabilities[0] >= 0.5).numpy()
            ref = item["findings_mask"].numpy().astype(bool)
            scores += score_category_masks(masks, ref, dataset.finding_channels, item["scan_id"])
    if variant.supervises("segmentation"):
        write_csv_atomic(findings_table(scores), Path(job["run"]) / FINDINGS)
    return {"wall_s": walls, "cpu_s": cpus, "peak_rss_gb": _rss_gb(), "baseline_rss_gb": baseline}


def step_child(job: dict[str, Any]) -> dict[str, Any]:
    """Time :data:`TIMED_STEPS` training steps of the run's model on one fixed batch of
    training scans after a warm-up step, through the trainer's own objective (forward, the
    supervised losses, backward) and an AdamW step: wall and CPU seconds per step, peak RSS and
    the RSS before the model was built. Data loading is not in it, so the CPU time does not
    depend on the load of the shared machine."""
    import torch
    from torch.utils.data import DataLoader

    from hyperct.inference.predict import checkpoint_config, load_trained_model, split_dataset
    from hyperct.training.objective_setup import build_objective

    dataset = split_dataset(pd.read_csv(job["manifest"]), job["cache"], "train")
    batch = next(iter(DataLoader(dataset, batch_size=job["batch_size"])))
    baseline = _rss_gb()
    model, ckpt = load_trained_model(job["run"], device="cpu")
    objective = build_objective(checkpoint_config(ckpt, job["run"]), model, torch.device("cpu"),
                                batch["labels"])
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        objective.backward(model, batch, 1.0)
        optimizer.step()

    step()
    walls, cpus = [], []
    for _ in range(TIMED_STEPS):
        _, wall, cpu = _timed(step)
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_s": walls, "cpu_s": cpus, "peak_rss_gb": _rss_gb(), "baseline_rss_gb": baseline}


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "train": train_child, "predict": predict_child, "step": step_child}


def spawn(kind: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run one child in a fresh interpreter with one torch thread (same niceness); its JSON."""
    command = [sys.executable, "-m", "benchmarks.unict_ablation", "--child", kind, json.dumps(job)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} of {job['run']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_variant(variant: Variant, manifest: Path, cache: Path, work: Path,
                size: dict[str, Any], smoke: bool) -> dict[str, Any]:
    """Train, predict and time one configuration unless its ``bench.json`` exists; that record."""
    run = work / "runs" / variant.folder
    record = run / BENCH
    if record.is_file():
        return json.loads(record.read_text())
    started = time.perf_counter()
    if not (run / TRAIN_COST).is_file():
        job = {"run": str(run), "overrides": train_overrides(variant, manifest, cache, run, size,
                                                            smoke)}
        write_text_atomic(run / TRAIN_COST, json.dumps(spawn("train", job)) + "\n")
    data = {"run": str(run), "manifest": str(manifest), "cache": str(cache)}
    predicted = spawn("predict", {**data, "variant": {"name": variant.name,
                                                      "folder": variant.folder,
                                                      "off": list(variant.off),
                                                      "on": list(variant.on)}})
    stepped = spawn("step", {**data, "batch_size": size["batch_size"]})
    bench = {"train": json.loads((run / TRAIN_COST).read_text()), "predict": predicted,
             "step": stepped, "trainer_step_s": step_seconds(run / "history.csv"),
             "wall_s": round(time.perf_counter() - started, 1)}
    write_text_atomic(record, json.dumps(bench, indent=2) + "\n")
    logger.info("%s: step %.2f CPU s, predict %.2f CPU s/CT, train %.0f s wall, in %.0f s",
                variant.name, statistics.median(stepped["cpu_s"]),
                statistics.median(predicted["cpu_s"]), bench["train"]["wall_s"], bench["wall_s"])
    return bench


def step_seconds(history: Path) -> float:
    """Median over epochs of the trainer's wall seconds per optimiser step (data included)."""
    table = pd.read_csv(history)
    return float((table["train_seconds"] / table["steps"]).median())


# --- the metrics, from the run folders ------------------------------------------------------


@dataclass
class Scores:
    """One configuration's test results (None where it does not supervise that task)."""

    predictions: pd.DataFrame | None
    findings: pd.DataFrame | None
    reports: list[str] | None


def load_scores(variant: Variant, run: Path, test_ids: list[str]) -> Scores:
    """The run's test predictions (method and run = its folder), findings and reports."""
    predictions = None
    if variant.supervises("classification"):
        table = pd.read_csv(run / "predictions.csv")
        predictions = table.assign(**{METHOD: variant.folder, RUN: variant.folder})
    findings = pd.read_csv(run / FINDINGS) if variant.supervises("segmentation") else None
    reports = None
    if variant.supervises("report"):
        written = read_csv_text(run / REPORTS).set_index("scan_id")
        reports = [written.loc[s, "report"] or "." for s in test_ids]
    return Scores(predictions, findings, reports)


def classification_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """Test mean AUROC, mean F1 at the validation Youden threshold and mAP over the findings
    with both classes among the test scans."""
    from sklearn.metrics import average_precision_score

    per_task = task_metrics(predictions)
    test = per_task[(per_task[SPLIT] == "test") & per_task["auc"].notna()]
    rows = predictions[(predictions[SPLIT] == "test") & (predictions[LABEL] != -1)]
    ap = [average_precision_score(part[LABEL], part[PROB])
          for task, part in rows.groupby(TASK) if task in set(test[TASK])]
    overall = group_means(per_task)
    auroc = overall[(overall[SPLIT] == "test") & (overall["name"] == "overall")]["auc"]
    return {"auroc": float(auroc.iloc[0]), "f1": float(test["f1"].mean()),
            "map": float(np.mean(ap)), "n_findings": len(test)}


def segmentation_metrics(findings: pd.DataFrame, boot: BootstrapConfig) -> dict[str, Any]:
    """Global Dice and hit rate over all test findings, with their bootstrap CIs."""
    summary = summary_table(findings, boot)
    rows = summary[summary["category"] == "all"].set_index("metric")
    out: dict[str, Any] = {}
    for metric in ("global_dice", "hit_rate"):
        out[metric] = float(rows.loc[metric, "value"])
        out[f"{metric}_ci"] = (float(rows.loc[metric, "ci_low"]), float(rows.loc[metric, "ci_high"]))
    out["n_findings"] = int(rows.loc["global_dice", "n_findings"])
    return out


def paired_interval(
    difference: Callable[[np.ndarray], np.ndarray], n: int, config: BootstrapConfig
) -> dict[str, float]:
    """Point estimate, percentile CI and two-sided p-value of a paired difference.

    ``difference(counts)`` gives the difference for each row of bootstrap counts over the ``n``
    scans; row 0 is all ones (the point estimate). The p-value is the one of
    :mod:`hyperct.evaluation.bootstrap`.
    """
    counts = np.vstack([np.ones((1, n), dtype=np.int32),
                        resample_counts(n, config.n_resamples, config.seed)]).astype(float)
    values = difference(counts)
    point, boot = float(values[0]), values[1:][np.isfinite(values[1:])]
    if not math.isfinite(point) or not len(boot):
        return {"difference": point, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    low, high = np.percentile(boot, config.percentiles)
    far = np.sum(boot <= 0) if point > 0 else np.sum(boot >= 0)
    return {"difference": point, "ci_low": float(low), "ci_high": float(high),
            "p_value": min(1.0, 2.0 * (far + 1) / (len(boot) + 1))}


def dice_sums(findings: pd.DataFrame, scans: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per test scan: the sum of its findings' Dice and its number of findings."""
    real = findings[findings["dice"].notna()]
    grouped = real.groupby("scan_id")["dice"].agg(["sum", "count"]).reindex(scans).fillna(0.0)
    return grouped["sum"].to_numpy(), grouped["count"].to_numpy()


def dice_difference(reference: pd.DataFrame, other: pd.DataFrame, scans: list[str],
                    config: BootstrapConfig) -> dict[str, float]:
    """Global Dice of ``other`` minus ``reference``, paired over the test scans."""
    (sum_a, n_a), (sum_b, n_b) = dice_sums(reference, scans), dice_sums(other, scans)

    def difference(counts: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return counts @ sum_b / (counts @ n_b) - counts @ sum_a / (counts @ n_a)

    return paired_interval(difference, len(scans), config)


def macro_f1_resampled(reference: np.ndarray, generated: np.ndarray,
                       counts: np.ndarray) -> np.ndarray:
    """CE macro-F1 per row of ``counts`` over exams, over the findings positive in some
    reference or generated report (the findings with an F1 at the point estimate)."""
    tp = counts @ (reference & generated)
    fp = counts @ (~reference & generated)
    fn = counts @ (reference & ~generated)
    defined = (reference | generated).any(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(defined, 2 * tp / (2 * tp + fp + fn), np.nan)
    return np.nanmean(np.where(np.isfinite(f1), f1, np.nan), axis=1)


def ce_f1_difference(reference: np.ndarray, a: np.ndarray, b: np.ndarray,
                     config: BootstrapConfig) -> dict[str, float]:
    """CE macro-F1 of generated positives ``b`` minus ``a``, paired over the test exams."""
    return paired_interval(
        lambda counts: macro_f1_resampled(reference, b, counts)
        - macro_f1_resampled(reference, a, counts), len(reference), config)


def auroc_difference(reference: pd.DataFrame, other: pd.DataFrame,
                     config: BootstrapConfig) -> dict[str, float]:
    """Test mean AUROC of ``other`` minus ``reference`` (paired bootstrap of the project)."""
    both = pd.concat([reference, other], ignore_index=True)
    ref_key = (reference[METHOD].iloc[0], reference[RUN].iloc[0])
    other_key = (other[METHOD].iloc[0], other[RUN].iloc[0])
    table = paired_difference_table(both[both[SPLIT] == "test"], ref_key, other_key, config)
    row = table[table["level"] == "overall"].iloc[0]
    return {"difference": float(row["difference"]), "ci_low": float(row["ci_low"]),
            "ci_high": float(row["ci_high"]), "p_value": float(row["p_value"])}


def _row(metric: str, value: float, unit: str, goal: str | None = None, met: bool | None = None,
         **extra: Any) -> dict[str, Any]:
    clean = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in extra.items()}
    return {"metric": metric, "value": round(float(value), 4), "unit": unit, "goal": goal,
            "anchor": None, "met": met, **clean}


@dataclass
class TaskResults:
    """Every configuration's headline metrics, by configuration name."""

    classification: dict[str, dict[str, float]]
    segmentation: dict[str, dict[str, Any]]
    report: dict[str, dict[str, Any]]


def task_results(scores: dict[str, Scores], reference_reports: list[str],
                 boot: BootstrapConfig) -> TaskResults:
    """The ablation table's numbers of every configuration that supervises each task."""
    config = ReportMetricsConfig(meteor=False, bootstrap=boot)
    reports = {}
    for name, s in scores.items():
        if s.reports is not None:
            result = report_metrics(s.reports, reference_reports, config)
            reports[name] = {**result.metrics, "ci": result.intervals}
    return TaskResults(
        {n: classification_metrics(s.predictions) for n, s in scores.items()
         if s.predictions is not None},
        {n: segmentation_metrics(s.findings, boot) for n, s in scores.items()
         if s.findings is not None},
        reports,
    )


def metric_rows(results: TaskResults) -> list[dict[str, Any]]:
    """One row per (metric, configuration) of the ablation table."""
    rows = []
    for name, m in results.classification.items():
        rows += [_row(f"classification AUROC (test mean), {name}", m["auroc"], "AUROC",
                      n_findings=m["n_findings"]),
                 _row(f"classification F1 (val Youden threshold), {name}", m["f1"], "F1"),
                 _row(f"classification mAP, {name}", m["map"], "mAP")]
    for name, m in results.segmentation.items():
        for key, label in (("global_dice", "Global Dice"), ("hit_rate", "hit rate")):
            low, high = m[f"{key}_ci"]
            rows.append(_row(f"segmentation {label}, {name}", m[key], key, ci_low=low,
                             ci_high=high, n_findings=m["n_findings"]))
    for name, m in results.report.items():
        for key in ("bleu_4", "rouge_l", "ce_macro_f1", "crg", "distinct_reports"):
            extra = {}
            if key in m["ci"]:
                extra = {"ci_low": m["ci"][key][0], "ci_high": m["ci"][key][1]}
            rows.append(_row(f"report {key}, {name}", m[key], key, **extra))
    return rows


def difference_rows(scores: dict[str, Scores], reference_reports: list[str], test_ids: list[str],
                    boot: BootstrapConfig) -> list[dict[str, Any]]:
    """Every configuration minus UniCT on each task both supervise, paired CIs; the goal rows
    (UniCT >= the task's single-task model) among them. The same against the single-task
    models for UniCT with report guidance."""
    rows = _differences(UNICT.name, scores, reference_reports, test_ids, boot)
    singles = {v.name: scores[v.name] for v in SINGLE.values() if v.name in scores}
    if GUIDED.name in scores:
        rows += _differences(GUIDED.name, {GUIDED.name: scores[GUIDED.name], **singles},
                             reference_reports, test_ids, boot)
    return rows


def _differences(base_name: str, scores: dict[str, Scores], reference_reports: list[str],
                 test_ids: list[str], boot: BootstrapConfig) -> list[dict[str, Any]]:
    """Each other configuration minus ``base_name`` on the tasks both supervise."""
    base = scores.get(base_name)
    if base is None:
        return []
    ref_pos = positive_labels(reference_reports)
    base_pos = positive_labels(base.reports) if base.reports is not None else None
    single = {v.name: task for task, v in SINGLE.items()}
    rows = []
    for name, s in scores.items():
        if name == base_name:
            continue
        found: list[tuple[str, str, dict[str, float]]] = []
        if s.predictions is not None and base.predictions is not None:
            found.append(("classification", "AUROC", auroc_difference(
                base.predictions, s.predictions, boot)))
        if s.findings is not None and base.findings is not None:
            found.append(("segmentation", "Global Dice", dice_difference(
                base.findings, s.findings, test_ids, boot)))
        if s.reports is not None and base_pos is not None:
            found.append(("report", "CE-F1", ce_f1_difference(
                ref_pos, base_pos, positive_labels(s.reports), boot)))
        for task, label, diff in found:
            goal = single.get(name) == task
            rows.append(_row(
                f"{label}: {name} - {base_name} (paired bootstrap)", diff["difference"], label,
                goal=f"{base_name} >= single-task (difference <= 0)" if goal else None,
                met=bool(diff["difference"] <= 0) if goal else None,
                ci_low=diff["ci_low"], ci_high=diff["ci_high"], p_value=diff["p_value"]))
    return rows


def cost_rows(benches: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per configuration: training step and prediction per CT (CPU seconds with one thread:
    the load-independent cost; wall as well), their peak RSS above the process's RSS before the
    model, the trainer's own step time and peak RSS. Then UniCT against the three single-task
    models together (the sum of their costs)."""
    rows = []
    costs = {}
    for name, b in benches.items():
        step, predict, train = b["step"], b["predict"], b["train"]
        costs[name] = {
            "train step": statistics.median(step["cpu_s"]),
            "train step memory": step["peak_rss_gb"] - step["baseline_rss_gb"],
            "prediction": statistics.median(predict["cpu_s"]),
            "prediction memory": predict["peak_rss_gb"] - predict["baseline_rss_gb"],
        }
        rows += [
            _row(f"train step CPU time, {name}", costs[name]["train step"], "CPU s",
                 wall_s=statistics.median(step["wall_s"]), trainer_wall_s=b["trainer_step_s"]),
            _row(f"train step peak RSS above baseline, {name}", costs[name]["train step memory"],
                 "GB", peak_rss_gb=step["peak_rss_gb"],
                 trainer_peak_rss_gb=train["peak_rss_gb"]),
            _row(f"prediction CPU time per CT, {name}", costs[name]["prediction"], "CPU s",
                 wall_s=statistics.median(predict["wall_s"])),
            _row(f"prediction peak RSS above baseline, {name}", costs[name]["prediction memory"],
                 "GB", peak_rss_gb=predict["peak_rss_gb"]),
            _row(f"training run, {name}", train["wall_s"], "s", cpu_s=train["cpu_s"],
                 resumed=train["resumed"]),
        ]
    singles = [v.name for v in SINGLE.values()]
    if UNICT.name in costs and all(s in costs for s in singles):
        for key, unit in (("train step", "CPU s"), ("train step memory", "GB"),
                          ("prediction", "CPU s"), ("prediction memory", "GB")):
            together = sum(costs[s][key] for s in singles)
            ratio = costs[UNICT.name][key] / together
            rows.append(_row(
                f"{key}: UniCT / the three single-task models together", ratio, "x",
                goal="< 1", met=bool(ratio < 1), unict=costs[UNICT.name][key],
                single_task_sum=together, unit_of_parts=unit))
    return rows


def ablation_table(results: TaskResults, names: Sequence[str]) -> str:
    """The paper's ablation table as markdown: one row per configuration."""
    head = ("| configuration | AUROC | F1 | mAP | Global Dice | hit rate | BLEU-4 | ROUGE-L "
            "| CE-F1 | CRG |")
    lines = [head, "|" + " --- |" * 10]
    for name in names:
        c = results.classification.get(name, {})
        s = results.segmentation.get(name, {})
        r = results.report.get(name, {})
        cells = [c.get("auroc"), c.get("f1"), c.get("map"), s.get("global_dice"),
                 s.get("hit_rate"), r.get("bleu_4"), r.get("rouge_l"), r.get("ce_macro_f1"),
                 r.get("crg")]
        lines.append(f"| {name} | " + " | ".join(
            "-" if v is None else f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines) + "\n"


# --- the command ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="keep the cohort, cache and runs here")
    parser.add_argument("--smoke", action="store_true", help="tiny size; nothing recorded")
    parser.add_argument("--n", type=int, help="scans of the phantom cohort")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--bootstrap", type=int)
    parser.add_argument("--configs", help="comma-separated run folders to run (default all: "
                                          + ",".join(v.folder for v in VARIANTS) + ")")
    parser.add_argument("--parallel", type=int, default=2,
                        help="configurations trained at once (one torch thread each)")
    parser.add_argument("--cohort-only", action="store_true",
                        help="generate and prepare the cohort, then stop")
    parser.add_argument("--note", default="", help="recorded in the result's notes (e.g. why a "
                                                  "run is smaller than the full one)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](json.loads(args.child[1]))))  # noqa: T201
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    size = {**(SMOKE if args.smoke else FULL),
            **{k: v for k, v in vars(args).items() if k in FULL and v is not None}}
    chosen = set(args.configs.split(",")) if args.configs else {v.folder for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        manifest, cache = cohort_and_cache(work, size["n"], seed=0)
        if args.cohort_only:
            return
        todo = [v for v in VARIANTS if v.folder in chosen]
        failed: list[str] = []

        def attempt(variant: Variant) -> dict[str, Any] | None:
            try:
                return run_variant(variant, manifest, cache, work, size, args.smoke)
            except RuntimeError as err:  # a child failed: record it, go on with the others
                logger.error("%s failed: %s", variant.name, err)
                failed.append(variant.name)
                return None

        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            done = list(pool.map(attempt, todo))
        benches = {v.name: b for v, b in zip(todo, done) if b is not None}
        table = pd.read_csv(manifest)
        test = table[table["split"] == "test"].sort_values("scan_id")
        test_ids = test["scan_id"].astype(str).tolist()
        reference = test["report_text"].astype(str).tolist()
        boot = BootstrapConfig(n_resamples=size["bootstrap"])
        scores = {v.name: load_scores(v, work / "runs" / v.folder, test_ids)
                  for v in VARIANTS if v.name in benches}
        results = task_results(scores, reference, boot)
        markdown = ablation_table(results, list(scores))
        metrics = (metric_rows(results) + difference_rows(scores, reference, test_ids, boot)
                   + cost_rows(benches))
        split = table["split"].value_counts().to_dict()
    logger.info("ablation table\n%s", markdown)
    for row in metrics:
        logger.info("%s: %s %s", row["metric"], row["value"],
                    f"[{row['ci_low']}, {row['ci_high']}]" if "ci_low" in row else "")
    if args.smoke:
        logger.info("smoke run: %d metric rows, nothing recorded", len(metrics))
    else:
        record(metrics, markdown, size, split, [v.name for v in VARIANTS if v.name not in benches],
               args.note)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (rerun with the same --work to resume)")


def record(metrics: list[dict[str, Any]], markdown: str, size: dict[str, Any],
           split: dict[str, int], missing: list[str], note: str) -> None:
    """Save the result, its notes (``note`` appended) and the markdown ablation table."""
    notes = (
        f"Phantom cohort of {size['n']} internal scans (preset small, splits {split}), true "
        f"labels of the 18 CT-RATE findings, the phantom's finding masks and reports; 10 mm "
        f"voxels, 28x32x32 crop (masks nearest-neighbour, so small nodules shrink to a few "
        f"voxels). One encoder for every configuration: MONAI ResNet-10 3D "
        f"width 8, dim 64, 1 slice-attention layer, mask decoder with skip connections to the "
        f"ResNet's layers 3, 2 and 1 (seg_upsample 3), report decoder width 64 x 1 layer; "
        f"{size['epochs']} epochs, batch {size['batch_size']}, AdamW lr {size['lr']}, cosine; "
        f"one seed. Load average {os.getloadavg()[0]:.1f} at the end (2 shared cores, nice "
        f"{os.nice(0)}). Not run: {missing or 'none'}. The ablation table is in "
        f"results/{TABLE}. {note}"
    ).strip()
    write_text_atomic(RESULTS_DIR / TABLE, f"# UniCT ablation (benchmarks/unict_ablation.py)\n\n"
                                           f"{markdown}")
    path = save_result("unict_ablation", metrics, notes)
    logger.info("saved %s", path)


if __name__ == "__main__":
    main()
