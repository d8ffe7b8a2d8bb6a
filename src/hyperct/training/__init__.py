"""Training, checkpoints and prediction.

Python API (the CLI calls exactly these):

* :func:`load_config` / :class:`TrainConfig`: YAML + dotted overrides -> validated config.
* :func:`train`: one run (HyperCT, a weighting baseline, or STL: one model per task).
* :func:`hyperct.training.compare.compare_methods`: several methods, one table.
* :func:`hyperct.training.predict.predict_manifest`, :func:`hyperct.training.predict_scan.predict_scans`.
"""

from hyperct.training.config import METHODS, ConfigError, TrainConfig, config_from_dict
from hyperct.training.config_io import load_config, save_config
from hyperct.training.trainer import RunResult, train

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
