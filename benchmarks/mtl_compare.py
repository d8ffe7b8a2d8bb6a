"""Does HyperCT beat the multi-task baselines? A like-for-like comparison on a phantom cohort.

The paper's Table 1 compares HyperCT with the weighting baselines at equal epochs, where HyperCT
trains one task per sample per step and the baselines every label of every sample. This runs the
comparison through the public ``compare`` path at two budgets:

* ``equal-epochs``: every method trains the config's epochs (the paper's protocol);
* ``equal-labels``: HyperCT trains ``--tasks-per-sample`` tasks per sample, and every method is
  trained to the label exposures that HyperCT's epochs spend (the baselines stop earlier).

Each method (HyperCT, EW, UW, DWA, GLS, MGDA) runs ``--seeds`` seeds at each learning rate of
``--lr-grid``, the rate chosen per method by mean validation AUC. The stand-in backbone is the
demo's (pretrained on a separate phantom cohort; ``--backbone-pretraining`` picks supervised or
ssl). Recorded: test mean AUC per group and cohort (mean and sd over seeds, and the mean of the
seeds' bootstrap CI bounds), the paired bootstrap difference to HyperCT pooled over seeds, each
run's wall time, the realised budget counts and the chosen learning rates.

Resumable: with ``--work`` every finished run (its ``run.json``) is kept and an interrupted one
resumed, so the command can be restarted at will.

Sizing (``--size``; any option below overrides the size's value): ``full`` is the demo's
recipe (phantom grid preset ``small``, 48 slices at 64 px = 16 images of 8 x 8 patches, 2
epochs, a 300-scan backbone cohort pretrained 30 epochs); estimated at about 20 hours on 2
shared cores. ``hour`` is what fits about an hour there and keeps the cohort (400 scans), all
six methods, 3 seeds, a 2-value lr grid and both budgets; it cuts the cost of each run:
phantom preset ``tiny`` (48-64 px, 24-32 slices), 6 slices at 64 px with 16 px patches (2
images of 4 x 4 patches per scan, 1/32 of the full size's tokens), 1 epoch at equal epochs,
and an 80-scan backbone cohort pretrained 12 epochs. STL is left out (25 models per run).
Measured at ``hour`` on 2 cores shared with other jobs (load average 9-20, the benchmark at
``nice 19``): cohorts and pretraining 12 min, one seed of both budgets (24 runs) 24 min, so 3
seeds take about 85 min there; a run's wall time is mostly the wait for a core (the same EW
run took 4 s and 66 s).
``smoke`` checks the whole path in a few minutes and writes nothing to ``benchmarks/results``.
Run: ``.venv/bin/python -m benchmarks.mtl_compare --work DIR [--size hour|smoke]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.anatomy import cache
from benchmarks.cohorts import true_label_manifest
from benchmarks.record import save_result
from hyperct.data.manifest import load_manifest, read_table
from hyperct.demo.backbone import PROVENANCE_FILE, PretrainConfig, pretrain_backbone
from hyperct.evaluation.bootstrap import BootstrapConfig, auc_confidence_table
from hyperct.phantom.config import PRESETS, PhantomConfig
from hyperct.preprocess.spec import SliceStackSpec
from hyperct.tasks import TASK_NAMES
from hyperct.training import load_config
from hyperct.training.compare import CompareResult, Protocol, compare_methods

logger = logging.getLogger("benchmarks.mtl_compare")

METHODS = ("hyperct", "ew", "uw", "dwa", "gls", "mgda")
#: Benchmark budget name -> the compare budget unit (None: each config's epochs).
BUDGETS = {"equal-epochs": None, "equal-labels": "label-exposures"}
#: Sizes: the phantom grid preset, the cache's slices x px x px, the backbone's patch size.
FULL = {"n": 400, "pretrain_n": 300, "pretrain_epochs": 30, "epochs": 2, "seeds": 3,
        "lr_grid": "3e-4,1e-3", "bootstrap": 1000, "preset": "small", "slices": 48, "px": 64,
        "patch": 8, "batch": 4, "eval_batch": 4, "methods": METHODS}
#: The smoke run: HyperCT, a plain and a gradient-based baseline, at a tiny size.
SMOKE = {**FULL, "n": 40, "pretrain_n": 40, "pretrain_epochs": 1, "epochs": 1, "seeds": 2,
         "lr_grid": "1e-3,3e-3", "bootstrap": 50, "methods": ("hyperct", "ew", "mgda")}
#: What fits about an hour on 2 shared cores (the cut is described in the module docstring).
HOUR = {**FULL, "pretrain_n": 80, "pretrain_epochs": 12, "epochs": 1, "lr_grid": "1e-3,3e-3",
        "preset": "tiny", "slices": 6, "px": 64, "patch": 16, "eval_batch": 16}
SIZES = {"full": FULL, "hour": HOUR, "smoke": SMOKE}


def resolve_size(name: str, options: dict) -> dict:
    """Size ``name`` with the set ``options`` (None: unset) in place of its values; ``methods``
    and ``lr_grid`` may be comma-separated strings."""
    size = {**SIZES[name], **{k: v for k, v in options.items() if k in FULL and v is not None}}
    if isinstance(size["methods"], str):
        size["methods"] = tuple(m.strip() for m in size["methods"].split(",") if m.strip())
    return size


def scarce_tasks(manifest: Path, min_count: int = BootstrapConfig().min_class_count
                 ) -> dict[str, list[str]]:
    """Per test cohort, the tasks whose smaller class has fewer than ``min_count`` scans (their
    AUC CIs are flagged unreliable)."""
    test = load_manifest(manifest, check_files=False)
    test = test[test["split"] == "test"]
    scarce = {}
    for name, part in test.groupby("cohort"):
        labels = part[list(TASK_NAMES)]
        smaller = pd.concat([(labels == 1).sum(), (labels == 0).sum()], axis=1).min(axis=1)
        scarce[str(name)] = [task for task in TASK_NAMES if smaller[task] < min_count]
    return scarce


def cohort(folder: Path, n: int, seed: int, size: dict) -> tuple[Path, Path]:
    """A true-label phantom cohort at ``size``'s grid preset and its slice-stack cache (both
    kept in ``folder`` from an earlier run)."""
    manifest = true_label_manifest(
        PhantomConfig(n=n, seed=seed, preset=size["preset"], workers=2), folder / "phantom")
    spec = SliceStackSpec(slices=size["slices"], size=size["px"])
    return manifest, cache(manifest, spec, folder / "cache")


def backbone(work: Path, size: dict, objective: str) -> Path:
    """The demo's stand-in backbone on a separate phantom cohort (kept in ``work``)."""
    out = work / f"backbone_{objective}"
    if (out / PROVENANCE_FILE).is_file():
        return out
    manifest, prepared = cohort(work, size["pretrain_n"], 1, size)
    return pretrain_backbone(PretrainConfig(
        manifest=str(manifest), cache=str(prepared), out=str(out),
        backbone_overrides={"patch_size": size["patch"]}, epochs=size["pretrain_epochs"],
        progress=False, objective=objective,
    ))


def rows_of(result: CompareResult, budget: str, n_boot: int) -> list[dict]:
    """Benchmark rows of one budget: AUC per group and cohort (mean over seeds, CI of the
    seeds' pooled mean), differences to HyperCT, run times and counts, chosen lrs."""
    preds = pd.read_csv(result.predictions_path)
    preds = preds[preds["split"] == "test"]
    intervals = auc_confidence_table(preds, BootstrapConfig(n_resamples=n_boot))
    stats = result.seeds.set_index(["cohort", "row", "method"])
    rows = []
    means = intervals[intervals["level"] != "task"]
    for (method, cohort, name), part in means.groupby(["method", "cohort", "name"], sort=False):
        seeds = stats.loc[(cohort, f"mean AUC: {name}", method)]
        rows.append({"metric": f"{budget}: test mean AUC {name}, {cohort}, {method}",
                     "value": round(float(seeds["mean"]), 4), "unit": "AUC",
                     "sd_over_seeds": round(float(seeds["sd"]), 4), "seeds": int(seeds["seeds"]),
                     "ci_low_per_seed_mean": round(float(part["ci_low"].mean()), 4),
                     "ci_high_per_seed_mean": round(float(part["ci_high"].mean()), 4),
                     "ci_unreliable": bool(part["ci_unreliable"].any()),
                     "goal": None, "anchor": None, "met": None})
    versus = result.vs_hyperct
    for r in versus[versus["level"] != "task"].itertuples():
        rows.append({"metric": f"{budget}: AUC {r.variant} - hyperct, {r.name}, {r.cohort}",
                     "value": round(r.difference, 4), "unit": "AUC",
                     "ci_low": round(r.ci_low, 4), "ci_high": round(r.ci_high, 4),
                     "p_value": round(r.p_value, 4), "ci_unreliable": bool(r.ci_unreliable),
                     "goal": None, "anchor": None, "met": None})
    for r in result.runs.itertuples():
        rows.append({"metric": f"{budget}: run {r.variant} lr {r.lr:g} seed {r.seed}",
                     "value": round(float(r.runtime_s), 1), "unit": "s", "epochs": int(r.epochs),
                     "steps": int(r.steps), "labels": int(r.labels),
                     "backbone_passes": int(r.backbone_passes),
                     "val_mean_auc": round(float(r.val_mean_auc), 4), "selected": bool(r.selected),
                     "goal": None, "anchor": None, "met": None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="keep cohorts and runs here (resumable)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="preset size (smoke: tiny, records nothing); options below override it")
    parser.add_argument("--n", type=int, help="scans of the compared cohort")
    parser.add_argument("--pretrain-n", type=int, help="scans of the backbone cohort")
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--backbone-pretraining", choices=("supervised", "ssl"),
                        default="supervised")
    parser.add_argument("--epochs", type=int, help="epochs of the equal-epochs budget")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--lr-grid", help="comma-separated learning rates")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="phantom grid preset")
    parser.add_argument("--slices", type=int, help="slices per scan in the cache")
    parser.add_argument("--px", type=int, help="in-plane pixels per slice in the cache")
    parser.add_argument("--patch", type=int, help="the backbone's patch size in pixels")
    parser.add_argument("--batch", type=int, help="training batch size (scans)")
    parser.add_argument("--eval-batch", type=int, help="evaluation batch size (scans)")
    parser.add_argument("--tasks-per-sample", type=int, default=5,
                        help="HyperCT's tasks per sample at equal label exposure")
    parser.add_argument("--methods", help="comma-separated (default: the size's methods)")
    parser.add_argument("--bootstrap", type=int)
    args = parser.parse_args()
    size = resolve_size(args.size, vars(args))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    methods = size["methods"]
    grid = tuple(float(v) for v in size["lr_grid"].split(","))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        manifest, cache25 = cohort(work / "cohort", size["n"], 0, size)
        scarce = scarce_tasks(manifest)
        logger.info("test tasks with fewer than 5 scans in the smaller class: %s", scarce)
        weights = backbone(work / "pretrain", size, args.backbone_pretraining)
        overrides = [f"data.manifest={manifest}", f"data.cache={cache25}",
                     f"model.weights={weights}", "runtime.progress=false",
                     f"model.backbone_overrides.patch_size={size['patch']}",
                     f"optim.batch_size={size['batch']}",
                     f"runtime.eval_batch_size={size['eval_batch']}",
                     f"optim.epochs={size['epochs']}", f"optim.step_size={size['epochs']}",
                     "runtime.device=cpu"]
        metrics: list[dict] = []
        chosen = {}
        for budget, unit in BUDGETS.items():
            k = args.tasks_per_sample if unit is not None else 1
            cfg = load_config("demo", [*overrides, f"sampling.tasks_per_sample={k}"])
            result = compare_methods(
                cfg=cfg, methods=methods, out=work / f"compare_{budget}",
                bootstrap=size["bootstrap"],
                protocol=Protocol(budget=unit, seeds=size["seeds"], lr_grid=grid),
            )
            logger.info("%s\n%s", budget, result.markdown)
            metrics += rows_of(result, budget, size["bootstrap"])
            chosen[budget] = json.loads((work / f"compare_{budget}" / "compare.json").read_text())
        split = read_table(manifest)["split"].value_counts().to_dict()
    cut = {k: [FULL[k], v] for k, v in size.items() if v != FULL[k]}
    notes = (
        f"Size {args.size}; cut from the full size (full -> run): {json.dumps(cut)}. "
        f"Phantom cohort of {size['n']} scans (grid preset {size['preset']}; splits {split}), "
        f"true labels; config demo (tiny DINOv3 stand-in backbone pretrained "
        f"{args.backbone_pretraining} for {size['pretrain_epochs']} epochs on a separate "
        f"{size['pretrain_n']}-scan cohort, frozen with LoRA; {size['slices']} slices at "
        f"{size['px']} px, {size['patch']} px patches; batch {size['batch']}), methods "
        f"{','.join(methods)}, {size['epochs']} epochs at equal epochs; at equal label "
        f"exposures HyperCT trains {args.tasks_per_sample} tasks per sample and every method "
        f"the labels HyperCT's epochs spend. {size['seeds']} seeds, lr grid {grid} chosen per "
        f"method on mean validation AUC; paired bootstrap ({size['bootstrap']}) pooled over "
        f"seeds. Budgets and chosen lrs: {json.dumps(chosen)}. Toy scale and a stand-in "
        "backbone: a difference whose CI spans 0 is noise, not evidence either way. Test "
        f"tasks with fewer than 5 scans in the smaller class (CIs flagged): {json.dumps(scarce)}."
    )
    if args.size == "smoke":
        logger.info("smoke run: %d metric rows, nothing recorded", len(metrics))
        return
    path = save_result("mtl_compare", metrics, notes)
    logger.info("saved %s", path)


if __name__ == "__main__":
    main()
