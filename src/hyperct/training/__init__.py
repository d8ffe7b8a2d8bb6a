"""Training: epochs, validation, model selection, resumable run folders.

Python API (the CLI calls exactly these):

* :func:`load_config` / :class:`TrainConfig` (from :mod:`hyperct.config`): YAML + dotted
  overrides -> validated config.
* :func:`train`: one run (HyperCT, a weighting baseline, or STL: one model per task).
* :func:`hyperct.training.compare.compare_methods`: several methods, one table.

Prediction from a finished run is :mod:`hyperct.inference`.
"""

from hyperct.config.run import METHODS, ConfigError, TrainConfig, config_from_dict
from hyperct.config.files import load_config, save_config
from hyperct.training.runs import train
from hyperct.training.trainer import RunResult

__all__ = [
    "METHODS",
    "ConfigError",
    "RunResult",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "save_config",
    "train",
]
