"""Typed training configuration: a tree of dataclasses filled from YAML plus dotted overrides.

The YAML only fills the dataclasses; every field is validated in ``__post_init__`` and unknown
keys are rejected with their dotted name, so a typo never silently trains with a default.
The ``model`` section is handed to the model's own config class (``HyperCTConfig`` for
``hyperct``, ``MultiTaskConfig`` for the baselines), which validates it in turn.

>>> cfg = config_from_dict({"method": "ew", "optim": {"lr": 1e-4}})
>>> cfg.optim.lr, cfg.optim.batch_size
(0.0001, 8)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hyperct.tasks import TASK_NAMES, task_by_name

if typing.TYPE_CHECKING:
    from hyperct.anatomy.supervision import AnatomyConfig
    from hyperct.models.unict.config import UniCTConfig

#: HyperCT, the shared-LoRA baselines by weighting method, single-task learning, and the 3D
#: classifiers trained end to end (named by their backbone in ``hyperct.models.backbones3d``).
WEIGHTING_METHODS: tuple[str, ...] = (
    "ew", "uw", "rlw", "dwa", "gls", "mgda", "pcgrad", "cagrad", "nashmtl", "famo",
)
METHODS_3D: tuple[str, ...] = (
    "resnet10_3d", "resnet18_3d", "resnet34_3d", "resnet50_3d", "swin_3d", "i3resnet152_merlin",
)
#: Report generators: a 3D encoder and a text decoder (``report`` section), served 3D volumes.
METHODS_REPORT: tuple[str, ...] = ("report3d",)
#: UniCT: one model that classifies, segments the findings and writes the report (``unict``).
METHODS_UNICT: tuple[str, ...] = ("unict",)
METHODS: tuple[str, ...] = (
    "hyperct", *WEIGHTING_METHODS, "stl", *METHODS_3D, *METHODS_REPORT, *METHODS_UNICT,
)
SAMPLING: tuple[str, ...] = ("uniform", "inverse_prevalence")
SCHEDULERS: tuple[str, ...] = ("step", "cosine")
DECODING: tuple[str, ...] = ("greedy", "beam")
#: UniCTConfig fields a run fills itself rather than from its ``unict`` section.
UNICT_RUN_FIELDS: tuple[str, ...] = ("classes", "seg_classes")
#: UniCT's three supervisions (``unict.<switch>``); at least one must be on.
UNICT_SUPERVISIONS: tuple[str, ...] = (
    "supervise_classification", "supervise_segmentation", "supervise_report",
)


class ConfigError(ValueError):
    """A configuration value or key that is wrong; the message names the dotted key."""


@dataclass
class DataConfig:
    """Where the scans come from: a manifest and the scan cache prepared from it."""

    manifest: str = field(default="", metadata={"help": "Manifest CSV/Parquet (one row per scan)."})
    cache: str = field(default="", metadata={"help": "Scan cache folder written by `prepare`."})
    cache3d: str | None = field(
        default=None,
        metadata={"help": "Cache with a 3D spec (spacing_crop) for the 3D methods "
                          "(default: data.cache), so one config drives 2.5D and 3D methods."},
    )
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    train_cohort: str | None = field(
        default=None, metadata={"help": "Train/validate only on this cohort (default: all)."}
    )

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class OptimConfig:
    """AdamW + StepLR or cosine schedule; the defaults are the HyperCT paper's recipe (the 3D
    recipe of "Scaling Supervision for Free": weight decay 1e-4, cosine, clipping at 5)."""

    lr: float = field(default=1e-5, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=8, metadata={"help": "Scans per optimizer step and rank."})
    epochs: int = field(default=20, metadata={"help": "Training epochs."})
    scheduler: Literal["step", "cosine"] = field(
        default="step", metadata={"help": "step (StepLR) or cosine (to 0 over the epochs)."}
    )
    step_size: int = field(default=15, metadata={"help": "StepLR: epochs between lr decays."})
    gamma: float = field(default=0.1, metadata={"help": "StepLR: lr multiplier per decay."})
    grad_accum: int = field(default=1, metadata={"help": "Batches accumulated per step."})
    max_grad_norm: float | None = field(
        default=None, metadata={"help": "Clip the gradient norm to this (None: no clipping)."}
    )
    max_steps: int | None = field(
        default=None,
        metadata={"help": "Stop after this many optimizer steps, mid-epoch if need be (None: "
                          "no limit; the last, partial epoch is validated like the others)."},
    )
    max_label_exposures: int | None = field(
        default=None,
        metadata={"help": "Stop once this many (sample, task) labels entered a loss (None: no "
                          "limit); checked before each step, so it overshoots by < one step."},
    )
    max_backbone_passes: int | None = field(
        default=None,
        metadata={"help": "Stop once this many image stacks went through the backbone (None: "
                          "no limit); checked before each step."},
    )

    def __post_init__(self) -> None:
        for name in ("lr", "batch_size", "epochs", "step_size", "gamma", "grad_accum"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"optim.{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_steps", "max_label_exposures", "max_backbone_passes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ConfigError(f"optim.{name} must be an integer >= 1 or null, got {value!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ConfigError(f"optim.max_grad_norm must be > 0 or null, got {self.max_grad_norm}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"optim.scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")


@dataclass
class SamplingConfig:
    """How HyperCT draws its tasks per sample among the sample's available labels."""

    strategy: Literal["uniform", "inverse_prevalence"] = field(
        default="uniform",
        metadata={"help": "uniform, or inverse_prevalence (rare tasks drawn more often)."},
    )
    tasks_per_sample: int = field(
        default=1,
        metadata={"help": "Distinct tasks drawn per sample and step (fewer if it has fewer "
                  "labels); 1 is the paper's."},
    )

    def __post_init__(self) -> None:
        if self.strategy not in SAMPLING:
            raise ConfigError(f"sampling.strategy must be one of {SAMPLING}, got {self.strategy!r}")
        if isinstance(self.tasks_per_sample, bool) or self.tasks_per_sample < 1:
            raise ConfigError(
                f"sampling.tasks_per_sample must be an integer >= 1, got {self.tasks_per_sample!r}"
            )


@dataclass
class RuntimeConfig:
    """Device and speed options; none of them changes what is learned beyond float rounding."""

    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    bf16: bool = field(default=True, metadata={"help": "bf16 autocast where the device supports it."})
    activation_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute backbone activations in backward (less memory)."}
    )
    return_freed_memory: bool = field(
        default=False,
        metadata={"help": "On a CPU (glibc): give freed tensors' memory back to the system at "
                  "once: a lower peak RSS for a slower step (about 0.6x the memory at 1.2 to "
                  "1.5x the time; hyperct.inference.heap)."},
    )
    eval_batch_size: int = field(default=4, metadata={"help": "Scans per validation batch."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self) -> None:
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda", "mps")):
            raise ConfigError(f"runtime.device must be auto, cpu, cuda[:N] or mps, got {self.device!r}")
        if self.eval_batch_size <= 0:
            raise ConfigError(f"runtime.eval_batch_size must be > 0, got {self.eval_batch_size}")


@dataclass
class ReportConfig:
    """The report generator (``report3d``): 3D encoder, tokenizer, decoder and decoding.

    The tokenizer is trained on the training split's ``report_text`` at the start of the run
    and saved inside the checkpoint; the decoder reads the encoder's feature map pooled to
    ``token_grid`` (one visual token per cell, with a learned position). With ``guidance`` the
    report is classification-guided (:mod:`hyperct.models.report.guidance`): a head predicts
    the 18 conventional (CT-RATE) findings from the scans' labels, and a present/absent prompt
    per finding joins the decoder's memory.
    """

    encoder: str = field(
        default="resnet10_3d", metadata={"help": "3D backbone (hyperct.models.backbones3d)."}
    )
    encoder_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Fields of the backbone's config, e.g. {width: 8}."}
    )
    token_grid: list[int] = field(
        default_factory=lambda: [2, 4, 4],
        metadata={"help": "Feature map pooled to d x h x w visual tokens."},
    )
    vocab_size: int = field(
        default=1000, metadata={"help": "Most tokenizer entries (bytes and specials included)."}
    )
    layers: int = field(default=3, metadata={"help": "Decoder blocks."})
    width: int = field(default=256, metadata={"help": "Decoder width."})
    heads: int = field(default=4, metadata={"help": "Decoder attention heads."})
    dropout: float = field(default=0.1, metadata={"help": "Decoder dropout."})
    max_len: int = field(
        default=256, metadata={"help": "Most tokens of a report (training cut and generation)."}
    )
    decoding: Literal["greedy", "beam"] = field(
        default="greedy", metadata={"help": "greedy, or beam search of beam_width."}
    )
    beam_width: int = field(default=3, metadata={"help": "Beam search: hypotheses kept."})
    length_penalty: float = field(
        default=1.0, metadata={"help": "Beam search: length normalisation exponent."}
    )
    guidance: bool = field(
        default=True,
        metadata={"help": "Classification-guided reports: finding head + a prompt per finding."},
    )
    guidance_weight: float = field(
        default=1.0, metadata={"help": "Weight of the guidance findings' BCE beside the token loss."}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.guidance, bool):
            raise ConfigError(f"report.guidance must be true or false, got {self.guidance!r}")
        if isinstance(self.guidance_weight, bool) or not self.guidance_weight >= 0:
            raise ConfigError(f"report.guidance_weight must be >= 0, got {self.guidance_weight!r}")
        for name in ("layers", "width", "heads", "max_len", "beam_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or value < 1:
                raise ConfigError(f"report.{name} must be an integer >= 1, got {value!r}")
        if self.max_len < 2:
            raise ConfigError(f"report.max_len must be >= 2 (bos + eos), got {self.max_len}")
        if self.width % self.heads:
            raise ConfigError(
                f"report.width {self.width} must be divisible by report.heads {self.heads}"
            )
        if self.vocab_size <= 260:
            raise ConfigError(
                f"report.vocab_size must exceed 260 (256 bytes + 4 specials), got {self.vocab_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"report.dropout must be in [0, 1), got {self.dropout}")
        if self.decoding not in DECODING:
            raise ConfigError(f"report.decoding must be one of {DECODING}, got {self.decoding!r}")
        if len(self.token_grid) != 3 or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.token_grid
        ):
            raise ConfigError(
                f"report.token_grid must be three integers >= 1 (d, h, w), got {self.token_grid!r}"
            )


@dataclass
class TrainConfig:
    """Everything one training run needs; saved resolved as ``config.yaml`` in the run folder."""

    method: str = field(default="hyperct", metadata={"help": f"One of {METHODS}."})
    output_dir: str = field(default="runs/run", metadata={"help": "Run folder."})
    seed: int = field(default=0, metadata={"help": "Seed of every random generator."})
    tasks: list[str] | None = field(
        default=None, metadata={"help": "Task names to train (default: all 25; STL: one model each)."}
    )
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Fields of HyperCTConfig / MultiTaskConfig."}
    )
    model3d: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "3D methods: Classifier3DConfig fields (dropout); a section per "
                          "backbone holds its config fields, e.g. {resnet18_3d: {width: 32}}."},
    )
    mtl: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Keyword arguments of the weighting method."}
    )
    anatomy: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "AnatomyConfig fields; {enabled: true} adds the auxiliary "
                          "segmentation loss (any method; needs a cache with masks)."},
    )
    report: ReportConfig = field(default_factory=ReportConfig)
    unict: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "UniCT: UniCTConfig fields (encoder, switches, loss weights); the "
                          "ablations are overrides, e.g. --set unict.fusion=false."},
    )
    optim: OptimConfig = field(default_factory=OptimConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.tasks is not None:
            try:
                self.tasks = [task_by_name(t).name for t in self.tasks]
            except KeyError as err:
                raise ConfigError(f"tasks: {err.args[0]}") from None
            if not self.tasks:
                raise ConfigError("tasks must name at least one task, or be null for all 25")
        self.anatomy_config()
        self.unict_config()

    @property
    def is_3d(self) -> bool:
        """Whether the method reads 3D volumes (a spacing_crop cache): the 3D classifiers, the
        report generators and UniCT with a volume encoder (``unict.encoder: volume3d``)."""
        if self.method in METHODS_UNICT:
            return self.unict_config().reads_volumes
        return self.method in METHODS_3D or self.method in METHODS_REPORT

    @property
    def run_cache(self) -> str:
        """The cache this method reads: ``data.cache3d`` for 3D methods when given."""
        return self.data.cache3d if self.is_3d and self.data.cache3d else self.data.cache

    def anatomy_config(self) -> AnatomyConfig:
        """The ``anatomy`` section as a validated :class:`~hyperct.anatomy.supervision.AnatomyConfig`."""
        from hyperct.anatomy.supervision import AnatomyConfig

        try:
            return AnatomyConfig(**self.anatomy)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"anatomy: {err}") from None

    def unict_config(self, **run_fields: Any) -> UniCTConfig:
        """The ``unict`` section as a validated :class:`~hyperct.models.unict.config.UniCTConfig`.

        ``classes`` and ``seg_classes`` are not keys of the section: the run sets them
        (``run_fields``) from the task catalogue and the cache's finding-mask channels.
        """
        from hyperct.models.unict.config import UniCTConfig

        known = {f.name for f in dataclasses.fields(UniCTConfig)} - set(UNICT_RUN_FIELDS)
        unknown = sorted(set(self.unict) - known)
        if unknown:
            why = (" (set by the run: the task outputs and the cache's finding channels)"
                   if unknown[0] in UNICT_RUN_FIELDS else "")
            raise ConfigError(
                f"unknown config key 'unict.{unknown[0]}'{why}; known keys here: {sorted(known)}"
            )
        defaults = {f.name: f.default for f in dataclasses.fields(UniCTConfig)}
        switches = [f"unict.{k}" for k in UNICT_SUPERVISIONS]
        if not any(self.unict.get(k, defaults[k]) for k in UNICT_SUPERVISIONS):
            raise ConfigError(f"{', '.join(switches)} are all false: UniCT would train nothing; "
                              "switch at least one supervision on")
        try:
            return UniCTConfig(**self.unict, **run_fields)
        except (TypeError, ValueError) as err:
            # the model names its fields UniCTConfig.<field>; the run config names them unict.<field>
            message = str(err).replace("UniCTConfig.", "unict.").replace("UniCTConfig:", "unict:")
            raise ConfigError(message if message.startswith("unict") else f"unict: {message}") from None

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks this run trains and validates on, in catalogue order."""
        if self.tasks is None:
            return TASK_NAMES
        return tuple(t for t in TASK_NAMES if t in self.tasks)


def method_section(
    section: dict[str, Any], method: str, key: str, methods: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain keys of a config section (for every method) and its sub-section named after
    ``method`` (for that method only), so one config can drive several methods."""
    plain = {k: v for k, v in section.items() if k not in methods}
    own = section.get(method) or {}
    if not isinstance(own, dict):
        raise ConfigError(f"{key}.{method}: expected a mapping, got {own!r}")
    return plain, own


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build a validated :class:`TrainConfig`; unknown keys raise :class:`ConfigError`."""
    return _build(TrainConfig, raw, prefix="")


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain-data form of a config (YAML/JSON friendly)."""
    return dataclasses.asdict(cfg)


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix + unknown[0]!r}; known keys here: {sorted(known)}"
        )
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        kwargs[name] = (
            _build(hint, value, f"{prefix}{name}.")
            if dataclasses.is_dataclass(hint)
            else _coerce(value, hint, f"{prefix}{name}")
        )
    return cls(**kwargs)  # __post_init__ messages name their full dotted key


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check a leaf value against its annotation; ints are accepted where floats are expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is Literal:
        return value
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads 1e-4 (no dot) as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
    if origin in (list, dict):
        if not isinstance(value, origin):
            raise ConfigError(f"{key} must be a {origin.__name__}, got {value!r}")
        return value
    if hint is Any or isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key} must be {getattr(hint, '__name__', hint)}, got {value!r}")

