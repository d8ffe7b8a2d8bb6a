"""Training objectives: what one batch's loss is and how its backward runs.

The training loop knows nothing about methods: it hands each batch to an :class:`Objective`,
which runs the forward pass, computes the loss and calls backward (a gradient-weighting method
runs its own backward). Anatomy supervision (:mod:`hyperct.anatomy.supervision`) is an optional
part of every objective: its head reads the feature map of the same forward pass. Other extra
terms plug in as ``aux_losses``: callables ``(model, batch) -> scalar`` added to the loss.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.models.interface import (
    Capability,
    ReportGeneratingModel,
    SharedFeatureModel,
    UnifiedTaskModel,
    require,
)
from hyperct.tasks import LABEL_MISSING
from hyperct.training.sampling import sample_task_sets

if TYPE_CHECKING:
    from hyperct.anatomy.supervision import AnatomySupervision

AuxLoss = Callable[[nn.Module, dict[str, Any]], torch.Tensor]

#: Prefix of the per-part losses an objective logs (``loss/<part>``); the loop averages each
#: over the batches that logged it.
PART_LOSS = "loss/"


class Objective(abc.ABC):
    """Computes one batch's loss and its gradients; subclasses write :meth:`backward`.

    ``anatomy``: the auxiliary segmentation head and loss, used on batches that carry masks.
    """

    def __init__(
        self,
        task_ids: Sequence[int],
        aux_losses: Sequence[AuxLoss] = (),
        autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        anatomy: AnatomySupervision | None = None,
    ) -> None:
        self.task_ids = torch.as_tensor(list(task_ids), dtype=torch.long)
        self.aux_losses = list(aux_losses)
        self.autocast = autocast
        self.anatomy = anatomy

    @abc.abstractmethod
    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        """Forward, loss x ``scale``, backward; return scalars to log: ``loss`` and ``samples``
        at least, and the counts a training budget reads (:mod:`hyperct.training.budget`):
        ``labels`` ((sample, task) labels in the loss) and ``backbone_passes`` (image stacks
        through the backbone); the loop counts a missing one as 0."""

    #: Whether epochs are selected by the lowest :meth:`validation_loss` rather than by the
    #: mean validation AUC of the model's tasks.
    selects_by_loss: bool = False

    def validation_loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[float, int]:
        """The summed validation loss of a batch and over how many scans (an objective with
        :attr:`selects_by_loss` writes it; called in eval mode without gradients)."""
        raise NotImplementedError(f"{type(self).__name__} selects epochs by validation AUC")

    def parameters(self) -> list[nn.Parameter]:
        """Trainable parameters the objective owns (anatomy head, UW's log-variances...)."""
        return self.anatomy.parameters() if self.anatomy is not None else []

    def epoch_end(self) -> None:
        """Called once after each training epoch (e.g. DWA's loss history)."""

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (anatomy head, generators, weighting buffers)."""
        return {"anatomy": self.anatomy.state_dict()} if self.anatomy is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        if self.anatomy is not None:
            self.anatomy.load_state_dict(state["anatomy"])

    def uses_anatomy(self, batch: dict[str, Any]) -> bool:
        """Whether this batch trains the anatomy head (supervision on, masks in the batch)."""
        return self.anatomy is not None and "anatomy" in batch

    def _extra_losses(
        self, model: nn.Module, batch: dict[str, Any], seg: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, dict[str, float]]:
        """The weighted segmentation loss plus the ``aux_losses``, and their log entries."""
        total: torch.Tensor | None = None
        logs: dict[str, float] = {}
        if seg is not None and self.anatomy is not None:
            total = self.anatomy.weight * seg
            logs["seg_loss"] = float(seg.detach())
        aux = self._aux(model, batch)
        if aux is not None:
            total = aux if total is None else total + aux
            logs["aux_loss"] = float(aux.detach())
        return total, logs

    def _backward_with_extras(
        self,
        model: nn.Module,
        batch: dict[str, Any],
        loss: torch.Tensor,
        seg: torch.Tensor | None,
        scale: float,
    ) -> dict[str, float]:
        """Backpropagate (``loss`` + the extra terms) x ``scale``; return the extras' log entries."""
        extra, logs = self._extra_losses(model, batch, seg)
        ((loss if extra is None else loss + extra) * scale).backward()
        return logs

    def _aux(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor | None:
        if not self.aux_losses:
            return None
        with self.autocast():
            return sum(loss(model, batch) for loss in self.aux_losses).float()  # type: ignore[union-attr]

    def run_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels with every task outside this run's tasks set to -1 (never trained on)."""
        keep = torch.zeros(labels.shape[1], dtype=torch.bool, device=labels.device)
        keep[self.task_ids.to(labels.device)] = True
        return torch.where(keep, labels, torch.full_like(labels, LABEL_MISSING))


class HyperCTObjective(Objective):
    """HyperCT's recipe: ``tasks_per_sample`` distinct tasks per sample (1: the paper's), drawn
    among its labels; mean BCE over the drawn (sample, task) pairs.

    The pairs are one batch: a sample's images are repeated once per drawn task, and the model
    generates each distinct task's LoRA weights once. Samples with no label among the run's tasks
    are dropped. Logs ``samples`` (scans kept), ``labels`` (pairs: one label each) and
    ``backbone_passes`` (image stacks through the backbone: one per pair).
    """

    def __init__(
        self,
        task_ids: Sequence[int],
        generator: torch.Generator,
        task_weights: torch.Tensor | None = None,
        tasks_per_sample: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_ids, **kwargs)
        if tasks_per_sample < 1:
            raise ValueError(f"tasks_per_sample must be at least 1, got {tasks_per_sample}")
        self.generator = generator
        self.task_weights = task_weights
        self.tasks_per_sample = tasks_per_sample

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        labels = self.run_labels(batch["labels"]).cpu()
        rows, tasks = sample_task_sets(labels, self.generator, self.tasks_per_sample,
                                       self.task_weights)
        if not len(rows):
            return {"loss": float("nan"), "samples": 0.0, "labels": 0.0, "backbone_passes": 0.0}
        device = batch["image"].device
        idx = rows.to(device)
        target = labels[rows, tasks].to(device)
        images = batch["image"].index_select(0, idx)
        image_mask = batch["image_mask"].index_select(0, idx)
        task_sel = tasks.to(device)
        use_seg = self.uses_anatomy(batch)
        seg = None
        with self.autocast():
            features = model.forward_features(
                images, image_mask, task_sel, return_patch_tokens=use_seg
            )
            logits = model.forward_head(features.cls, image_mask, task_sel)
            if use_seg:
                seg = self.anatomy.token_loss(  # type: ignore[union-attr]
                    features.patch_tokens, batch["anatomy"].index_select(0, idx), image_mask
                )
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        logs = self._backward_with_extras(model, batch, loss, seg, scale)
        return {"loss": float(loss.detach()), "samples": float(rows.unique().numel()),
                "labels": float(len(rows)), "backbone_passes": float(len(rows)), **logs}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generator.set_state(state["generator"])


def masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean BCE over the (sample, task) pairs whose label is known (not -1); 0 if there are none."""
    known = labels != LABEL_MISSING
    if not known.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[known].float(), labels[known].float())


def masked_task_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task mean BCE over the samples labelled for that task; -1 never contributes.

    Returns ``(losses (T,), present (T,))``; a task without any label in the batch has loss 0
    (still attached to the graph) and ``present`` False.
    """
    known = labels != LABEL_MISSING
    per = F.binary_cross_entropy_with_logits(
        logits.float(), labels.clamp(min=0).float(), reduction="none"
    )
    count = known.sum(dim=0)
    losses = (per * known).sum(dim=0) / count.clamp(min=1)
    return losses, count > 0


class WeightedMultiTaskObjective(Objective):
    """The shared-LoRA baselines: all tasks' masked BCE, combined by a weighting method.

    ``weighting`` follows :mod:`hyperct.mtl`: ``backward(losses, present, shared_params,
    representation)`` runs the backward pass itself and returns the weights it used.
    """

    def __init__(self, task_ids: Sequence[int], weighting: nn.Module, **kwargs: Any) -> None:
        super().__init__(task_ids, **kwargs)
        self.weighting = weighting
        self._loss_sum = torch.zeros(len(self.task_ids), dtype=torch.float64)
        self._loss_count = torch.zeros(len(self.task_ids), dtype=torch.float64)

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        seg = None
        with self.autocast():
            representation, logits, tokens = _forward(model, batch, self.uses_anatomy(batch))
            if tokens is not None:
                seg = self.anatomy.token_loss(  # type: ignore[union-attr]
                    tokens, batch["anatomy"], batch["image_mask"]
                )
        ids = self.task_ids.to(logits.device)
        losses, present = masked_task_losses(logits[:, ids], batch["labels"][:, ids])
        if not present.any():
            return {"loss": float("nan"), "samples": 0.0, "labels": 0.0, "backbone_passes": 0.0}
        extra, logs = self._extra_losses(model, batch, seg)
        self.weighting.backward(  # ``extra`` is not a task: its gradient is added unweighted
            losses, present, list(model.shared_parameters()), representation,
            extra=extra, scale=scale,
        )
        self._loss_sum += torch.where(present, losses.detach(), 0.0).double().cpu()
        self._loss_count += present.double().cpu()
        return {"loss": float(losses[present].mean().detach()), "samples": float(len(logits)),
                "labels": float((batch["labels"][:, ids] != LABEL_MISSING).sum()),
                "backbone_passes": float(len(logits)), **logs}

    def parameters(self) -> list[nn.Parameter]:
        return super().parameters() + [p for p in self.weighting.parameters() if p.requires_grad]

    def epoch_end(self) -> None:
        """Hand the epoch's mean loss per task (over batches where it was present) on."""
        mean = (self._loss_sum / self._loss_count.clamp(min=1)).float()
        self.weighting.epoch_end(mean)
        self._loss_sum.zero_()
        self._loss_count.zero_()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "weighting": self.weighting.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.weighting.load_state_dict(state["weighting"])


class MultiLabelObjective(Objective):
    """Plain multi-label BCE over every (sample, task) label of the run's tasks, -1 masked out:
    the 3D classifiers' recipe ("Scaling Supervision for Free", MIDL 2025), one forward pass for
    the logits and the anatomy feature map."""

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        labels = self.run_labels(batch["labels"])
        known = int((labels != LABEL_MISSING).sum())
        if not known:
            return {"loss": float("nan"), "samples": 0.0, "labels": 0.0, "backbone_passes": 0.0}
        seg = None
        with self.autocast():
            features = model.forward_features(batch["image"])
            logits = model.forward_head(features)
            if self.uses_anatomy(batch):
                seg = self.anatomy.volume_loss(features, batch["anatomy"])  # type: ignore[union-attr]
        loss = masked_bce(logits, labels)
        logs = self._backward_with_extras(model, batch, loss, seg, scale)
        return {"loss": float(loss.detach()), "samples": float(len(logits)),
                "labels": float(known), "backbone_passes": float(len(logits)), **logs}


class ReportObjective(Objective):
    """Teacher-forced cross-entropy of each scan's ``report_text``; scans without report text
    (empty in the manifest) are dropped from the batch and contribute no loss. Their finding
    ``labels`` go with them (a classification-guided generator adds its finding loss). Epochs
    are selected by the validation report loss (the model has no tasks)."""

    selects_by_loss = True

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        loss, kept = self._report_loss(model, batch)
        if loss is None:
            return {"loss": float("nan"), "samples": 0.0}
        logs = self._backward_with_extras(model, batch, loss, None, scale)
        return {"loss": float(loss.detach()), "samples": float(kept), **logs}

    def validation_loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[float, int]:
        """The batch's mean token loss times its scans with report text, and their number."""
        loss, kept = self._report_loss(model, batch)
        return (0.0, 0) if loss is None else (float(loss) * kept, kept)

    def _report_loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor | None, int]:
        writer = require(model, Capability.REPORT_GENERATION, ReportGeneratingModel,  # type: ignore[arg-type]
                         "the report objective")
        texts = batch.get("report_text") or []
        keep = [i for i, text in enumerate(texts) if text]
        if not keep:
            return None, 0
        rows = torch.as_tensor(keep, device=batch["image"].device)
        labels = batch.get("labels")
        with self.autocast():
            loss = writer.report_loss(
                batch["image"][rows], [texts[i] for i in keep],
                labels=None if labels is None else labels[rows.to(labels.device)],
            )
        return loss.float(), len(keep)


class UniCTObjective(Objective):
    """UniCT: the weighted sum (``unict.weight_<task>``) of its supervised tasks' losses from
    one forward pass: BCE over the run's known labels, Dice + BCE over the scans with a finding
    mask (``findings_mask``, ``has_findings_mask``), teacher-forced cross-entropy over the scans
    with ``report_text``.

    A missing target adds nothing to its loss; a batch without any target of a supervised task
    is skipped. Logs the total and ``loss/<task>`` of each task with a target in the batch.
    Epochs are selected by the mean validation AUC when classification is supervised, else by
    the lowest validation total loss. The anatomy supervision is refused for UniCT
    (:func:`~hyperct.training.objective_setup.build_objective`): its own segmentation head
    reads the finding masks.
    """

    def __init__(self, task_ids: Sequence[int], supervise_classification: bool,
                 **kwargs: Any) -> None:
        super().__init__(task_ids, **kwargs)
        self.selects_by_loss = not supervise_classification

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        unified = _unified(model)
        targets, counts = self._targets(unified, batch)
        if not any(counts.values()):
            return {"loss": float("nan"), "samples": 0.0, "labels": 0.0, "backbone_passes": 0.0}
        total, losses = self._losses(unified, batch, targets)
        logs = self._backward_with_extras(model, batch, total, None, scale)
        parts = {f"{PART_LOSS}{task}": float(loss.detach()) for task, loss in losses.items()
                 if counts[task]}
        scans = float(len(batch["image"]))
        return {"loss": float(total.detach()), "samples": scans,
                "labels": float(counts.get("classification", 0)), "backbone_passes": scans,
                **parts, **logs}

    def validation_loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[float, int]:
        """The batch's total loss times its scans, and their number (0 without any target)."""
        unified = _unified(model)
        targets, counts = self._targets(unified, batch)
        if not any(counts.values()):
            return 0.0, 0
        scans = len(batch["image"])
        return float(self._losses(unified, batch, targets)[0]) * scans, scans

    def _losses(
        self, model: UnifiedTaskModel, batch: dict[str, Any], targets: Any
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from hyperct.models.unict.losses import total_loss

        with self.autocast():
            output = model(batch["image"], batch.get("image_mask"), reports=targets.reports,
                           labels=targets.labels)
        losses = model.losses(output, targets)
        return total_loss(losses, model.config), losses

    def _targets(self, model: UnifiedTaskModel, batch: dict[str, Any]) -> tuple[Any, dict[str, int]]:
        """The batch's targets of the supervised tasks and how many each task has (labels,
        scans with a mask, scans with report text)."""
        from hyperct.models.unict.losses import UniCTTargets

        config, targets, counts = model.config, UniCTTargets(), {}
        if config.supervise_classification:
            targets.labels = self.run_labels(batch["labels"])
            counts["classification"] = int((targets.labels != LABEL_MISSING).sum())
        if config.supervise_segmentation and "findings_mask" in batch:
            targets.masks, targets.mask_present = batch["findings_mask"], batch["has_findings_mask"]
            counts["segmentation"] = int(targets.mask_present.sum())
        if config.supervise_report and batch.get("report_text"):
            texts = batch["report_text"]
            targets.reports = model.encode_reports(texts)
            counts["report"] = sum(1 for text in texts if text and text.strip())
        return targets, counts


def _unified(model: nn.Module) -> UnifiedTaskModel:
    return require(model, Capability.UNIFIED_TASKS, UnifiedTaskModel,  # type: ignore[arg-type]
                   "the UniCT objective")


def _forward(
    model: nn.Module, batch: dict[str, Any], with_tokens: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The shared representation, the all-task logits, and with ``with_tokens`` the patch
    tokens anatomy supervision reads, all from one pass of a shared-feature model."""
    shared = require(model, Capability.SHARED_FEATURES, SharedFeatureModel,  # type: ignore[arg-type]
                     "a weighting method's objective")
    if with_tokens:
        representation, tokens = shared.forward_features_and_tokens(
            batch["image"], batch["image_mask"]
        )
        return representation, shared.forward_heads(representation), tokens
    representation = shared.forward_features(batch["image"], batch["image_mask"])
    return representation, shared.forward_heads(representation), None
