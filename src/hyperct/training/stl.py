"""Single-task learning (STL): one shared-LoRA model per task, trained with the same recipe.

Each task's run lives in ``<output_dir>/<task short name>/`` and is a complete run of its own;
finished tasks (``run.json`` present) are skipped, stopped ones resumed, so a long STL job can be
restarted at will. The tasks' predictions are merged into ``<output_dir>/predictions.csv``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
import pandas as pd

from hyperct.inference.predictions import read_predictions, write_predictions
from hyperct.tasks import task_by_name
from hyperct.inference.checkpoint import LAST
from hyperct.config.run import TrainConfig
from hyperct.training.objectives import AuxLoss
from hyperct.training.run_log import RECORD, write_run_record
from hyperct.training.trainer import RunResult, train_single

logger = logging.getLogger(__name__)


def train_stl(
    cfg: TrainConfig, *, resume: bool = False, aux_losses: Sequence[AuxLoss] = ()
) -> RunResult:
    """Train one model per task of ``cfg.task_names``; the result's metric is their mean."""
    run_dir = Path(cfg.output_dir)
    results = []
    for task in cfg.task_names:
        sub = dataclasses.replace(
            cfg, tasks=[task], output_dir=str(run_dir / task_by_name(task).short_name)
        )
        sub_dir = Path(sub.output_dir)
        if (sub_dir / RECORD).is_file():
            logger.info("STL %s: finished run found in %s, kept", task, sub_dir)
            results.append((task, sub_dir, None))
            continue
        result = train_single(sub, resume=(sub_dir / LAST).is_file(), aux_losses=aux_losses)
        results.append((task, sub_dir, result))
    merged = merge_task_predictions([(task, d) for task, d, _ in results], run=run_dir.name)
    write_predictions(merged, run_dir / "predictions.csv")
    best = {task: (r.best_epoch, r.best_metric) for task, _, r in results if r is not None}
    write_run_record(run_dir, {"method": "stl", "tasks": list(cfg.task_names), "best": best})
    done = [r for _, _, r in results if r is not None]
    mean = sum(r.best_metric for r in done) / len(done) if done else float("nan")
    return RunResult(run_dir, -1, mean, cfg.optim.epochs)


def merge_task_predictions(runs: Sequence[tuple[str, Path]], run: str) -> pd.DataFrame:
    """Each task's rows from its own run's predictions, as one table of method ``stl``."""
    parts = []
    for task, sub_dir in runs:
        table = read_predictions(sub_dir / "predictions.csv")
        parts.append(table[table["task"] == task])
    merged = pd.concat(parts, ignore_index=True)
    return merged.assign(method="stl", run=run)
