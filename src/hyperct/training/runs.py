"""``train(cfg)``: one run, or for ``method: stl`` one run per task (:mod:`hyperct.training.stl`)."""

from __future__ import annotations

from collections.abc import Sequence

from hyperct.config.run import TrainConfig
from hyperct.training.objectives import AuxLoss
from hyperct.training.stl import train_stl
from hyperct.training.trainer import RunResult, train_single


def train(cfg: TrainConfig, *, resume: bool = False, aux_losses: Sequence[AuxLoss] = ()) -> RunResult:
    """Train ``cfg`` (or resume it from ``last.pt``) and write the run folder.

    ``aux_losses`` are extra loss terms (model, batch) -> scalar added by the objective.
    """
    if cfg.method == "stl":
        return train_stl(cfg, resume=resume, aux_losses=aux_losses)
    return train_single(cfg, resume=resume, aux_losses=aux_losses)
