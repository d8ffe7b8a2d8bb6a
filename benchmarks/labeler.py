"""Report labeler quality on CT-RATE's 800 expert-labelled reports: development vs held-out.

The 800 reports are split once with a fixed seed into 500 development reports and 300 held-out
reports; the first lexicon was written on the development part only. Later rule work developed
on the even-index half of the 800 rows and checked on the odd-index half now and then, so both
splits are recorded (per finding for the odd half). Neither is fully unseen any more: the
independent check is a held-out set of other CT-RATE reports kept outside this repository.
Records macro/micro F1 of the rules labeler on the parts, and of the learned labeler trained on
the development part and scored on the held-out part. Run: ``.venv/bin/python -m
benchmarks.labeler``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.record import save_result
from hyperct.labels.evaluate import evaluate_labels
from hyperct.labels.reports.batch import label_reports
from hyperct.labels.reports.learned import train_learned
from hyperct.labels.reports.outcome import FINDINGS
from hyperct.labels.reports.rules import RulesConfig

DATA = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "reports"
    / "ctrate_reports_train.csv"
)
SEED = 2026
N_DEV = 500


def split(
    df: pd.DataFrame, seed: int = SEED, n_dev: int = N_DEV
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The one fixed development / held-out split of the 800 reports."""
    perm = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[np.sort(perm[:n_dev])], df.iloc[np.sort(perm[n_dev:])]


def _rules_scores(
    part: pd.DataFrame, convention: str = "ctrate"
) -> tuple[float, float, float, pd.DataFrame]:
    start = time.perf_counter()
    run = label_reports(part, method="rules", rules_config=RulesConfig(convention=convention))
    seconds = time.perf_counter() - start
    result = evaluate_labels(run.labels, part)
    return result.macro_f1, result.micro_f1, len(part) / seconds, result.per_task


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()[0]
    df = pd.read_csv(DATA)
    dev, held = split(df)
    dev_macro, dev_micro, speed, _ = _rules_scores(dev)
    held_macro, held_micro, _, held_tasks = _rules_scores(held)
    cat_dev = _rules_scores(dev, "catalogue")[0]
    cat_held = _rules_scores(held, "catalogue")[0]
    even_macro, _, _, even_tasks = _rules_scores(df.iloc[::2])
    odd_macro, _, _, odd_tasks = _rules_scores(df.iloc[1::2])
    learned = train_learned(dev["report_text"].tolist(), dev)
    outcomes = learned.label_texts(held["report_text"].tolist())
    pred = pd.DataFrame([o.labels for o in outcomes])[list(FINDINGS)]
    pred.insert(0, "AccessionNo", held["AccessionNo"].to_numpy())
    learned_eval = evaluate_labels(pred, held)
    goal = "macro-F1 >= 0.95"
    anchor = "SARLE 0.976 on its own labels; CT-RATE's fine-tuned RadBERT labeler"
    metrics = [
        {
            "metric": "rules_macro_f1_dev",
            "value": dev_macro,
            "unit": "F1",
            "goal": goal,
            "anchor": anchor,
            "met": dev_macro >= 0.95,
            "n": len(dev),
        },
        {
            "metric": "rules_micro_f1_dev",
            "value": dev_micro,
            "unit": "F1",
            "goal": None,
            "anchor": None,
            "met": None,
            "n": len(dev),
        },
        {
            "metric": "rules_macro_f1_heldout",
            "value": held_macro,
            "unit": "F1",
            "goal": goal,
            "anchor": anchor,
            "met": held_macro >= 0.95,
            "n": len(held),
        },
        {
            "metric": "rules_micro_f1_heldout",
            "value": held_micro,
            "unit": "F1",
            "goal": None,
            "anchor": None,
            "met": None,
            "n": len(held),
        },
        {
            "metric": "learned_macro_f1_heldout",
            "value": learned_eval.macro_f1,
            "unit": "F1",
            "goal": None,
            "anchor": "trained on the 500 development reports",
            "met": None,
            "n": len(held),
        },
        {
            "metric": "learned_micro_f1_heldout",
            "value": learned_eval.micro_f1,
            "unit": "F1",
            "goal": None,
            "anchor": None,
            "met": None,
            "n": len(held),
        },
        {
            "metric": "rules_reports_per_second",
            "value": speed,
            "unit": "reports/s",
            "goal": None,
            "anchor": None,
            "met": None,
        },
    ]
    metrics += [
        {
            "metric": f"rules_catalogue_macro_f1_{name}",
            "value": value,
            "unit": "F1",
            "goal": None,
            "anchor": "convention='catalogue' (task definitions instead of CT-RATE's practice)",
            "met": None,
        }
        for name, value in (("dev", cat_dev), ("heldout", cat_held))
    ]
    metrics += [
        {
            "metric": f"rules_macro_f1_{name}_half",
            "value": value,
            "unit": "F1",
            "goal": None,
            "anchor": f"{name}-index rows of the 800"
            + (" (developed on)" if name == "even" else " (checked on)"),
            "met": None,
            "n": 400,
        }
        for name, value in (("even", even_macro), ("odd", odd_macro))
    ]
    metrics += [
        {
            "metric": f"rules_f1_{name}_half[{row.task}]",
            "value": row.f1,
            "unit": "F1",
            "goal": None,
            "anchor": None,
            "met": None,
            "support": int(row.support),
        }
        for name, tasks in (("even", even_tasks), ("odd", odd_tasks))
        for row in tasks.itertuples()
    ]
    metrics += [
        {
            "metric": f"rules_f1_heldout[{row.task}]",
            "value": row.f1,
            "unit": "F1",
            "goal": None,
            "anchor": None,
            "met": None,
            "support": int(row.support),
        }
        for row in held_tasks.itertuples()
    ]
    notes = (
        f"CT-RATE 800 labelled reports split once (seed {SEED}) into {len(dev)} development and "
        f"{len(held)} held-out reports (the first lexicon was written on the development part "
        "only); later rules were developed on the even-index half and checked on the odd-index "
        "half, so the seed held-out part overlaps rows read during development. "
        "-1 read as 0 against the binary gold labels. "
        f"1-min load average at start {load:.1f} on {os.cpu_count()} cores: reports/s depends "
        "on the load of the shared machine."
    )
    path = save_result("labeler", metrics, notes)
    for m in metrics[:9]:
        logging.getLogger(__name__).warning("%s = %.4f", m["metric"], m["value"])
    logging.getLogger(__name__).warning("saved %s", path)


if __name__ == "__main__":
    main()
