"""The main job end to end, on a synthetic cohort: what `make demo` runs.

Every step goes through the same public API (and so the same code) a user runs on real data:
phantom cohort -> label reports and echo exams into the manifest -> prepare the scan cache ->
train HyperCT and baselines -> train a tiny UniCT and let it write one test scan's report and
finding mask -> evaluate with bootstrap CIs into one HTML report -> predict all 25 tasks and a
saliency map for one real CT.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hyperct.io.atomic import write_text_atomic

if TYPE_CHECKING:
    import pandas as pd

    from hyperct.demo.unict import UniCTExample
    from hyperct.evaluation.report import EvaluationResult

logger = logging.getLogger(__name__)

#: Written into the output folder so that ``--force`` only ever removes an earlier demo's output.
MARKER = ".hyperct-demo"


@dataclass
class DemoConfig:
    """What the demo runs; the defaults are sized for 2 CPU cores in well under 15 minutes.

    ``hyperct demo`` is built from these fields: each one's ``help`` is its option's help, its
    default the option's default; ``flag`` names an option that is not ``--field-name``, and
    ``separator`` makes a tuple one option (``--methods a,b``) instead of a repeatable one.
    """

    out: Path = field(default=Path("demo_output"), metadata={"help": "Output folder."})
    train_config: str = field(
        default="demo",
        metadata={"help": "Training config shared by every method: a name (demo, paper, "
                          "anatomy3d) or a YAML file.", "flag": "--config"},
    )
    spec: str = field(
        default="demo",
        metadata={"help": "Preprocessing spec: a name (demo, paper, anatomy3d, ...) or a JSON "
                          "file."},
    )
    n_scans: int = field(
        default=240, metadata={"help": "Scans in the synthetic cohort.", "flag": "--n"}
    )
    preset: str = field(default="small", metadata={"help": "Phantom grid preset: small or default."})
    seed: int = field(default=0, metadata={"help": "Seed of the cohort, training and bootstrap."})
    methods: tuple[str, ...] = field(
        default=("hyperct", "ew", "mgda"),
        metadata={"help": "Comma-separated methods to train.", "separator": ","},
    )
    real_ct: Path | None = field(
        default=None, metadata={"help": "Real CT to predict and explain (NIfTI or DICOM folder)."}
    )
    pretrain_scans: int = field(
        default=300,
        metadata={"help": "Scans of a separate synthetic cohort on which a stand-in backbone is "
                          "pretrained when the config names no weights (0: random backbone)."},
    )
    pretrain_epochs: int = field(default=30, metadata={"help": "Epochs of that pretraining."})
    backbone_pretraining: str = field(
        default="supervised",
        metadata={"help": "Objective of that pretraining: supervised (multi-label head on the "
                          "cohort's task labels) or ssl (masked-image modelling, no labels)."},
    )
    unict: bool = field(
        default=True,
        metadata={"help": "Train a tiny UniCT (classification, segmentation, report) and show "
                          "one test scan's generated report and predicted mask in the report."},
    )
    explain_task: str = field(
        default="Cardiomegaly", metadata={"help": "Task of the saliency map."}
    )
    workers: int = field(
        default=2, metadata={"help": "Processes for cohort generation and preprocessing."}
    )
    bootstrap: int = field(default=1000, metadata={"help": "Bootstrap resamples for the CIs."})
    overrides: tuple[str, ...] = field(
        default=(), metadata={"help": "Training config override (repeatable).", "flag": "--set"}
    )
    force: bool = field(
        default=False, metadata={"help": "Replace an earlier demo's output folder."}
    )

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.train_config = str(self.train_config)
        if self.n_scans < 40:
            raise ValueError(f"n_scans must be at least 40 so every split has scans, got {self.n_scans}")
        if not self.methods:
            raise ValueError("methods: give at least one method to train")
        if self.pretrain_scans and self.pretrain_scans < 40:
            raise ValueError(f"pretrain_scans must be 0 or at least 40, got {self.pretrain_scans}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        from hyperct.demo.backbone import PRETRAINING

        if self.backbone_pretraining not in PRETRAINING:
            raise ValueError(f"backbone_pretraining must be one of {PRETRAINING}, "
                             f"got {self.backbone_pretraining!r}")


@dataclass
class DemoResult:
    """Where the demo's outputs are and what they say."""

    out: Path
    report: Path
    summary: pd.DataFrame
    predictions: Path | None
    saliency_png: Path | None
    seconds: dict[str, float]
    unict: UniCTExample | None = None


class _Steps:
    """Times each step and logs it, so the user sees where the minutes go."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        logger.info("demo step: %s", name)
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - start, 1)
        logger.info("demo step: %s done in %.1f s", name, self.seconds[name])
        return result


def run_demo(config: DemoConfig) -> DemoResult:
    """Run the whole pipeline into ``config.out`` and return where the results are."""
    out = _fresh_output(config.out, config.force)
    steps = _Steps()
    cohort = steps.run("synthetic cohort", _make_cohort, config, out / "phantom")
    steps.run("label reports and echo exams", _label, cohort, out / "labels")
    steps.run("prepare scan cache", _prepare, cohort.manifest, config, out / "cache")
    cfg = _train_config(config, cohort.manifest, out)
    if config.pretrain_scans and not cfg.model.get("weights"):
        weights = steps.run("pretrain a stand-in backbone", _pretrain, config, cfg, out / "pretrain")
        cfg = dataclasses.replace(cfg, model={**cfg.model, "weights": str(weights)})
    compared = steps.run("train and compare methods", _train, config, cfg, out)
    example = None
    if config.unict:
        example = steps.run("train UniCT and predict a test scan", _unict, config, cohort, out)
    evaluation = steps.run("evaluate", _evaluate, config, out, example)
    predictions, png = None, None
    if config.real_ct is not None:
        predictions, png = steps.run("predict and explain a real CT", _predict_real, config, out)
    _write_record(out, config, steps.seconds)
    return DemoResult(out, evaluation.report, compared.summary, predictions, png, steps.seconds,
                      example)


def _fresh_output(out: Path, force: bool) -> Path:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; choose another --out or pass --force")
        if not (out / MARKER).is_file():
            raise FileExistsError(f"{out} was not written by `hyperct demo`; refusing to delete it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("output of `hyperct demo`; safe to delete\n")
    return out


def _make_cohort(config: DemoConfig, out: Path, preview: int = 2):  # type: ignore[no-untyped-def]
    from hyperct.phantom import PhantomConfig, generate_cohort

    phantom = PhantomConfig(n=config.n_scans, seed=config.seed, preset=config.preset,
                            workers=config.workers, preview=preview)
    cohort = generate_cohort(phantom, out, progress=True)
    if cohort.failures:
        raise RuntimeError(f"phantom: {len(cohort.failures)} scan(s) failed: {cohort.failures[:3]}")
    return cohort


def _label(cohort, out: Path) -> None:  # type: ignore[no-untyped-def]
    from hyperct.labels.echo.curate import curate_echo_files
    from hyperct.labels.reports.batch import label_reports_file

    reports = label_reports_file(cohort.reports, out / "report_labels.csv", into=cohort.manifest,
                                 unmentioned="absent")
    echo = curate_echo_files(cohort.manifest, cohort.echo, out / "echo_labels.csv",
                             into=cohort.manifest)
    problems = reports.failures + echo.problems
    if problems:
        raise RuntimeError("labelling problems:\n" + "\n".join(problems[:10]))


def _prepare(manifest: Path, config: DemoConfig, out: Path) -> None:
    from hyperct.data.prepare import prepare_cache

    report = prepare_cache(manifest, config.spec, out, workers=config.workers)
    if not report.ok:
        raise RuntimeError(f"prepare: {len(report.failed)} scan(s) failed; see {out}")


def _train_config(config: DemoConfig, manifest: Path, out: Path):  # type: ignore[no-untyped-def]
    from hyperct.training import load_config

    cfg = load_config(config.train_config, config.overrides)
    data = dataclasses.replace(cfg.data, manifest=str(manifest), cache=str(out / "cache"))
    return dataclasses.replace(cfg, data=data, seed=config.seed)


def _pretrain(config: DemoConfig, cfg, out: Path) -> Path:  # type: ignore[no-untyped-def]
    """A separate cohort (other seed, so other patients), labelled and prepared the same way."""
    from hyperct.demo.backbone import PretrainConfig, pretrain_backbone

    cohort_config = dataclasses.replace(config, n_scans=config.pretrain_scans, seed=config.seed + 1)
    cohort = _make_cohort(cohort_config, out / "phantom", preview=0)
    _label(cohort, out / "labels")
    _prepare(cohort.manifest, config, out / "cache")
    return pretrain_backbone(PretrainConfig(
        manifest=str(cohort.manifest), cache=str(out / "cache"), out=str(out / "backbone"),
        backbone=cfg.model.get("backbone", "dinov3-tiny"),
        backbone_overrides=dict(cfg.model.get("backbone_overrides") or {}),
        epochs=config.pretrain_epochs, seed=config.seed, objective=config.backbone_pretraining,
    ))


def _train(config: DemoConfig, cfg, out: Path):  # type: ignore[no-untyped-def]
    from hyperct.training.compare import compare_methods

    return compare_methods(cfg=cfg, methods=list(config.methods), out=out / "runs")


def _unict(config: DemoConfig, cohort, out: Path):  # type: ignore[no-untyped-def]
    """UniCT on the demo cohort (see :mod:`hyperct.demo.unict`): its own 3D cache, a tiny
    training run in ``runs/unict``, then one test scan's report and mask."""
    from hyperct.data.prepare import prepare_cache
    from hyperct.demo.unict import SPEC, predict_example, report_manifest, train_unict

    manifest = report_manifest(cohort.manifest, cohort.reports)
    report = prepare_cache(manifest, SPEC, out / "cache3d", workers=config.workers)
    if not report.ok:
        raise RuntimeError(f"prepare (3D): {len(report.failed)} scan(s) failed; see {out}")
    run = train_unict(manifest, out / "cache3d", out / "runs" / "unict", config.seed)
    return predict_example(run, manifest, out / "cache3d", out / "unict")


def _evaluate(config: DemoConfig, out: Path, example: UniCTExample | None) -> EvaluationResult:
    """The HTML report of the compared methods, with the UniCT example when there is one."""
    from hyperct.demo.unict import example_section
    from hyperct.evaluation.bootstrap import BootstrapConfig
    from hyperct.evaluation.report import evaluate
    from hyperct.evaluation.tables import EvaluationConfig

    runs = [out / "runs" / m for m in config.methods]
    bootstrap = BootstrapConfig(n_resamples=config.bootstrap, seed=config.seed)
    extra = [example_section(example)] if example is not None else []
    return evaluate(runs=runs, out=out / "report", config=EvaluationConfig(bootstrap=bootstrap),
                    sections=extra)


def main_run(config: DemoConfig, out: Path) -> Path:
    """HyperCT's run folder when HyperCT is among the methods, else the first method's."""
    return out / "runs" / ("hyperct" if "hyperct" in config.methods else config.methods[0])


def _predict_real(config: DemoConfig, out: Path) -> tuple[Path, Path | None]:
    from hyperct.explain.api import explain_scan
    from hyperct.inference.scans import predict_scans, write_scan_probabilities

    run = main_run(config, out)
    probs = predict_scans(paths=[config.real_ct], checkpoint=run)
    predictions = write_scan_probabilities(probs, out / "real_ct" / "predictions.csv")
    png = None
    if "hyperct" in config.methods:
        explanation = explain_scan(scan=config.real_ct, checkpoint=run, task=config.explain_task,
                                   out=out / "runs" / "hyperct" / "explain")
        png = explanation.png
    return predictions, png


def _write_record(out: Path, config: DemoConfig, seconds: dict[str, float]) -> None:
    record = {
        "config": {k: str(v) if isinstance(v, Path) else v
                   for k, v in dataclasses.asdict(config).items()},
        "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 1),
    }
    write_text_atomic(out / "demo.json", json.dumps(record, indent=2, default=str) + "\n")


def overall_auc_table(summary: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """The group and overall mean test AUCs per cohort, one column per method."""
    rows = summary[summary["row"].str.startswith("mean AUC: ")]
    present = [m for m in methods if m in summary.columns]
    rows = rows.dropna(subset=present, how="all")
    return rows[["cohort", "row", *present]].reset_index(drop=True)
