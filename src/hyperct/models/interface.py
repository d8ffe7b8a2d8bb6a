"""The one interface every screening model family implements, and its optional capabilities.

Training, checkpoints, prediction, Grad-CAM and the LoRA analysis talk to a model only through
:class:`ScreeningModel` and, for what only some families can do, through a :class:`Capability`
the model declares in its ``capabilities`` class attribute. A new family implements the protocol
of each capability it declares and registers in :data:`hyperct.models.registry.FAMILIES`; no
call site probes a model's attributes.

The feature interfaces differ by how a family is conditioned:

* ``TASK_FEATURES`` (HyperCT): features depend on the task id; ``forward_features`` returns the
  per-image CLS tokens and, when asked, a block's patch tokens (Grad-CAM, anatomy head).
* ``SHARED_FEATURES`` (shared-LoRA baseline): one representation for all tasks and per-task heads;
  ``forward_features_and_tokens`` adds the last block's patch tokens (anatomy head).
* ``VOLUME_FEATURES`` (3D classifiers): ``forward_features`` is the backbone's lowest-resolution
  map, which the anatomy head reads.

``UNIFIED_TASKS`` (UniCT) classifies, segments and writes the report from one forward pass
and gives a loss per supervised task. ``SEGMENTATION`` (UniCT) predicts per-category finding
masks on the model grid together with the classification in one pass, and the fusion attention
(and, with ``REPORT_GENERATION``, the reports); prediction writes them next to the
probabilities. ``FEATURE_MAP`` (UniCT) computes its logits from one spatial feature map, the map
Grad-CAM weights (``hyperct explain``).

``REPORT_GENERATION`` (report generators, UniCT with a report head) writes a report per scan and trains on
report text. A family that only writes reports has no tasks: ``task_names`` is empty and
``predict_all`` gives ``(B, 0)`` logits, so the classification paths (predictions table, AUC
selection) have nothing to do for it and the report paths (``reports.csv``, selection by
validation loss) take over.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

import torch
from torch import nn


class Capability(enum.Enum):
    """What a model family can do beyond the common interface."""

    TASK_FEATURES = "task_features"
    SHARED_FEATURES = "shared_features"
    VOLUME_FEATURES = "volume_features"
    ADD_TASK = "add_task"
    GENERATE_LORA = "generate_lora"
    REPORT_GENERATION = "report_generation"
    UNIFIED_TASKS = "unified_tasks"
    SEGMENTATION = "segmentation"
    FEATURE_MAP = "feature_map"


#: The backbone identity of a model without a frozen backbone (weights all in the checkpoint).
NO_FROZEN_BACKBONE = "none: no frozen backbone"


@runtime_checkable
class ScreeningModel(Protocol):
    """A model that predicts every task of a scan and saves only what training changes."""

    capabilities: ClassVar[frozenset[Capability]]

    @property
    def task_names(self) -> list[str]:
        """Names of the model's outputs, in output order."""

    @property
    def feature_width(self) -> int:
        """Channels of the feature map the anatomy head reads (tokens or volume features)."""

    def predict_all(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(B, T)`` of every task; ``image_mask`` for 2.5D inputs, None for 3D."""

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The state training changes; never a frozen backbone's weights."""

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`trainable_state_dict`; refuses a state that does not fit."""

    def backbone_identity(self) -> dict[str, str]:
        """``{"name", "sha256"}`` of the frozen backbone a checkpoint must be used with."""


@runtime_checkable
class TaskFeatureModel(ScreeningModel, Protocol):
    """``Capability.TASK_FEATURES``: task-conditioned features and a head (HyperCT)."""

    def forward_features(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor,
        task_ids: torch.Tensor,
        return_patch_tokens: bool = False,
        block: int | None = None,
    ) -> Any:
        """An object with ``cls`` (B, N, C) and ``patch_tokens`` (B, N, h, w, C) or None."""

    def forward_head(
        self, cls: torch.Tensor, image_mask: torch.Tensor, task_ids: torch.Tensor
    ) -> torch.Tensor:
        """Each sample's logit of its own task from the per-image CLS tokens."""


@runtime_checkable
class SharedFeatureModel(ScreeningModel, Protocol):
    """``Capability.SHARED_FEATURES``: one representation, per-task heads (shared-LoRA)."""

    def forward_features(self, images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        """The shared representation ``(B, C)``."""

    def forward_features_and_tokens(
        self, images: torch.Tensor, image_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The representation and the last block's patch tokens ``(B, N, h, w, C)``."""

    def forward_heads(self, representation: torch.Tensor) -> torch.Tensor:
        """Per-task logits ``(B, T)`` from the representation."""

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters every task shares (what gradient-weighting methods work on)."""


@runtime_checkable
class VolumeFeatureModel(ScreeningModel, Protocol):
    """``Capability.VOLUME_FEATURES``: a 3D feature map and a head (3D classifiers)."""

    def forward_features(self, image: torch.Tensor) -> torch.Tensor:
        """The backbone's lowest-resolution map ``(B, C, d, h, w)``."""

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T)`` from the feature map."""


@runtime_checkable
class TaskExtensibleModel(ScreeningModel, Protocol):
    """``Capability.ADD_TASK``: a task can be added after training (``--new-task``)."""

    config: Any

    def add_task(self, name: str) -> int:
        """Add a task; returns its id."""

    def train_only_added_tasks(self) -> list[nn.Parameter]:
        """Freeze everything but the added tasks' parameters; returns those."""

    def predict_all(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        tasks: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Logits ``(B, len(tasks))`` of the given task ids (default: all)."""


@runtime_checkable
class LoRAGeneratingModel(ScreeningModel, Protocol):
    """``Capability.GENERATE_LORA``: per-task LoRA weights can be generated for analysis."""

    lora_scaling: float

    @property
    def num_tasks(self) -> int:
        """Number of task ids."""

    def generate_lora(
        self, task_ids: Sequence[int] | torch.Tensor
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each module's unscaled LoRA (A, B) for the given tasks."""


@runtime_checkable
class ReportGeneratingModel(ScreeningModel, Protocol):
    """``Capability.REPORT_GENERATION``: writes a radiology report per scan."""

    def report_loss(
        self, images: torch.Tensor, reports: Sequence[str], *, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Teacher-forced mean token cross-entropy of ``reports`` (one per image, none empty);
        ``labels`` ``(B, 25)`` (task-id order, -1 missing) are the scans' finding labels, which a
        classification-guided generator also trains on; others ignore them."""

    def generate_reports(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> list[str]:
        """One report per image, decoded as the model's config says (greedy or beam);
        ``image_mask`` marks a 2.5D batch's real images (padding is not read), None for 3D."""


@runtime_checkable
class UnifiedTaskModel(ScreeningModel, Protocol):
    """``Capability.UNIFIED_TASKS``: every task's output from one pass, a loss per task (UniCT).

    ``config`` says which tasks are supervised and their weights (``supervise_<task>``,
    ``weight_<task>``).
    """

    config: Any

    def forward(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None, reports: Any = None,
        labels: torch.Tensor | None = None,
    ) -> Any:
        """Every task's output; ``reports`` (from :meth:`encode_reports`) for teacher forcing,
        ``labels`` (the classification targets, -1 missing) for what reads them in training."""

    def losses(self, output: Any, targets: Any) -> dict[str, torch.Tensor]:
        """Unweighted loss per supervised task; a missing target adds nothing to its loss."""

    def encode_reports(self, reports: Sequence[str | None]) -> Any:
        """The token batch of ``reports`` (a scan without text contributes no report loss)."""


@runtime_checkable
class SegmentingModel(ScreeningModel, Protocol):
    """``Capability.SEGMENTATION``: masks, classification (and, with ``REPORT_GENERATION``,
    reports) in one pass (UniCT)."""

    @property
    def segmentation_classes(self) -> list[str]:
        """Names of the mask channels, in channel order."""

    @property
    def fusion_tasks(self) -> tuple[str, ...]:
        """The tasks (rows and columns) of the fusion attention matrix."""

    def predict(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None, generation: Any = None
    ) -> Any:
        """An object with ``probabilities`` ``(B, T)`` (``task_names`` order),
        ``mask_probabilities`` ``(B, K, depth, H, W)`` on the model grid, ``reports`` (a list
        when ``generation``, a :class:`~hyperct.models.report.generate.GenerationConfig`, is
        given, else None) and ``fusion_attention`` ``(B, heads, F, F)`` or None (no fusion)."""


@runtime_checkable
class FeatureMapModel(ScreeningModel, Protocol):
    """``Capability.FEATURE_MAP``: logits computed from one spatial feature map (Grad-CAM)."""

    def feature_map_logits(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The feature map ``(B, C, s, h, w)`` (3D: ``s`` feature slices; 2.5D: ``s`` images of
        three slices) and the logits ``(B, T)`` computed from it, in one autograd graph."""


PROTOCOLS: dict[Capability, type] = {
    Capability.TASK_FEATURES: TaskFeatureModel,
    Capability.SHARED_FEATURES: SharedFeatureModel,
    Capability.VOLUME_FEATURES: VolumeFeatureModel,
    Capability.ADD_TASK: TaskExtensibleModel,
    Capability.GENERATE_LORA: LoRAGeneratingModel,
    Capability.REPORT_GENERATION: ReportGeneratingModel,
    Capability.UNIFIED_TASKS: UnifiedTaskModel,
    Capability.SEGMENTATION: SegmentingModel,
    Capability.FEATURE_MAP: FeatureMapModel,
}

_M = TypeVar("_M")


class CapabilityError(TypeError):
    """A model lacks a capability an operation needs; the message names both."""


def require(
    model: ScreeningModel, capability: Capability, protocol: type[_M], purpose: str
) -> _M:
    """``model`` typed as ``protocol`` (the one of ``capability``) when it declares
    ``capability``; otherwise a :class:`CapabilityError` naming the model and the need."""
    if capability not in model.capabilities:
        raise CapabilityError(
            f"{purpose} needs a model with {capability.value}; {type(model).__name__} has "
            f"{sorted(c.value for c in model.capabilities)}"
        )
    return cast(_M, model)
