"""Pretraining of a small backbone: a stand-in for DINOv3 where its weights are absent.

HyperCT freezes its backbone, so a randomly initialised one gives features too weak to learn
from in a CPU-sized run. Where the real (gated) DINOv3 weights cannot be had, as in the demo and
the tests, this trains the small backbone end to end on a *separate* cohort, with one of two
objectives (``PretrainConfig.objective``):

* ``supervised``: a multi-label head on the cohort's task labels. Its features are shaped by the
  very tasks later read out, which favours methods that read them out with per-task heads.
* ``ssl``: masked-image modelling without any label (SimMIM-style): a random ``mask_ratio`` of
  each image's patches is blanked in pixel space (set to 0, the normalised mean), and a linear
  decoder on the last block's patch tokens predicts the blanked patches' pixels (MSE on those
  patches of real images only). The backbone's features then owe nothing to the task labels.

The result is saved as a Hugging Face model folder that every model loads like any other
weights (``model.weights``). The folder says what it is in ``hyperct_pretraining.json``: these
weights come from synthetic or local data and are not DINOv3.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from hyperct.config.run import OptimConfig
from hyperct.io.atomic import write_text_atomic
from hyperct.models.trunk import masked_mean
from hyperct.tasks import TASK_NAMES
from hyperct.training.loop import LoopContext, train_one_epoch
from hyperct.training.objectives import Objective, masked_bce
from hyperct.training.trainer import make_scheduler

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "hyperct_pretraining.json"
#: Pretraining objectives: with the task labels, or self-supervised masked-image modelling.
PRETRAINING: tuple[str, ...] = ("supervised", "ssl")


@dataclass
class PretrainConfig:
    """A supervised pretraining run of a backbone preset on a prepared manifest + cache."""

    manifest: str
    cache: str
    out: str
    backbone: str = "dinov3-tiny"
    backbone_overrides: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 0.05
    seed: int = 0
    progress: bool = True
    objective: str = "supervised"
    mask_ratio: float = 0.5

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PretrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"PretrainConfig.lr must be > 0, got {self.lr}")
        if self.objective not in PRETRAINING:
            raise ValueError(f"PretrainConfig.objective must be one of {PRETRAINING}, "
                             f"got {self.objective!r}")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"PretrainConfig.mask_ratio must be in (0, 1), got {self.mask_ratio}")


class _ScanClassifier(nn.Module):
    """Trainable backbone -> masked mean of per-image CLS tokens -> one logit per task."""

    def __init__(self, backbone: nn.Module, num_tasks: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.hidden_size, num_tasks)

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        cls = self.backbone(images.flatten(0, 1)).unflatten(0, image_mask.shape)
        return self.head(masked_mean(cls, image_mask))


class _MultiLabelBCE(Objective):
    """Masked multi-label BCE of every task, on the classifier's logits."""

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        loss = masked_bce(model(batch["image"], batch["image_mask"]), batch["labels"])
        (loss * scale).backward()
        return {"loss": float(loss.detach()), "samples": float(len(batch["labels"]))}


class _MaskedImageModel(nn.Module):
    """Trainable backbone + linear pixel decoder; :meth:`forward` is the masked-patch MSE."""

    def __init__(self, backbone: nn.Module, mask_ratio: float, generator: torch.Generator):
        super().__init__()
        self.backbone = backbone
        self.mask_ratio = mask_ratio
        self.generator = generator
        patch = backbone.patch_size
        self.decoder = nn.Linear(backbone.hidden_size, 3 * patch * patch)

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        real = images[image_mask]  # (M, 3, H, W): padding images are never trained on
        patches = _patchify(real, self.backbone.patch_size)  # (M, L, 3 p p)
        masked = torch.rand(patches.shape[:2], generator=self.generator) < self.mask_ratio
        masked = masked.to(patches.device)
        blanked = _unpatchify(patches.masked_fill(masked[..., None], 0.0), real.shape)
        hidden, rope = self.backbone.embed(blanked)
        for index in range(self.backbone.num_blocks):
            hidden = self.backbone.run_block(index, hidden, rope)
        tokens = self.backbone.final_norm(hidden)[:, self.backbone.num_prefix_tokens:]
        predicted = self.decoder(tokens)
        if not masked.any():
            return predicted.sum() * 0.0
        return torch.nn.functional.mse_loss(predicted[masked].float(), patches[masked].float())


def _patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(M, 3, H, W) -> (M, h*w, 3*patch*patch), patches in row-major order like the tokens."""
    m, c, height, width = images.shape
    grid = images.reshape(m, c, height // patch, patch, width // patch, patch)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(m, (height // patch) * (width // patch), -1)


def _unpatchify(patches: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`_patchify` for images of ``shape`` (M, 3, H, W)."""
    m, c, height, width = shape
    patch = int(round((patches.shape[-1] / c) ** 0.5))
    grid = patches.reshape(m, height // patch, width // patch, c, patch, patch)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(shape)


class _MaskedPixelLoss(Objective):
    """Masked-image modelling: the model's own masked-patch MSE; no label is read."""

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        loss = model(batch["image"], batch["image_mask"])
        (loss * scale).backward()
        return {"loss": float(loss.detach()), "samples": float(len(batch["image"]))}


def pretrain_backbone(config: PretrainConfig) -> Path:
    """Train the backbone of ``config`` on every scan (``supervised``: on its labels) and save
    it to ``config.out``."""
    from hyperct.data.dataset import CachedScanDataset, collate_scans
    from hyperct.models.backbones import create_backbone

    torch.manual_seed(config.seed)
    backbone = create_backbone(config.backbone, weights=None, **config.backbone_overrides)
    backbone.vit.requires_grad_(True)
    model: nn.Module
    if config.objective == "ssl":
        mask_generator = torch.Generator().manual_seed(config.seed + 1)
        model = _MaskedImageModel(backbone, config.mask_ratio, mask_generator)
        objective: Objective = _MaskedPixelLoss(range(len(TASK_NAMES)))
    else:
        model = _ScanClassifier(backbone, len(TASK_NAMES))
        objective = _MultiLabelBCE(range(len(TASK_NAMES)))
    dataset = CachedScanDataset(config.manifest, config.cache, train=True, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator,
                        collate_fn=collate_scans)
    optim = OptimConfig(lr=config.lr, weight_decay=config.weight_decay,
                        batch_size=config.batch_size, epochs=config.epochs, scheduler="cosine")
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    schedule = make_scheduler(optim, optimizer)
    history = []
    for epoch in range(config.epochs):
        ctx = LoopContext(device=torch.device("cpu"), params=list(model.parameters()),
                          progress=config.progress and epoch == 0)
        loss = train_one_epoch(model, loader, objective, optimizer, ctx).loss
        schedule.step()
        history.append(loss)
        logger.info("pretrain epoch %d/%d: loss %.4f", epoch + 1, config.epochs, loss)
    return _save(backbone, config, history, len(dataset))


_OBJECTIVE_TEXT = {"supervised": "supervised, multi-label on the task labels",
                   "ssl": "self-supervised masked-image modelling, no labels"}


def _save(backbone: nn.Module, config: PretrainConfig, history: list[float], n_scans: int) -> Path:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    backbone.vit.requires_grad_(False)
    backbone.vit.save_pretrained(out)
    provenance = {
        "what": f"backbone pretrained by hyperct ({_OBJECTIVE_TEXT[config.objective]}) as a "
                "stand-in for DINOv3; NOT the DINOv3 weights and not trained on patients "
                "unless the manifest below was",
        "config": asdict(config),
        "scans": n_scans,
        "loss_per_epoch": history,
    }
    write_text_atomic(out / PROVENANCE_FILE, json.dumps(provenance, indent=2) + "\n")
    logger.info("pretrained backbone %s saved to %s", config.backbone, out)
    return out
