"""The typed configuration of UniCT: encoder, widths, switches for fusion, modulation and each task.

The paper's ablations are config overrides: ``fusion=False``, ``modulation=False`` and
``supervise_<task>=False`` for each of the three tasks. A config that supervises nothing is
refused. Saved with every checkpoint through :class:`~hyperct.models.config_dict.DictConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hyperct.findings_categories import CATEGORY_CODES
from hyperct.models.config_dict import DictConfig
from hyperct.tasks import CONVENTIONAL

#: Visual encoders by name (built in :mod:`hyperct.models.unict.encoders`).
ENCODER_NAMES = ("ctscroll", "volume3d", "dinov3")
#: The encoders that read 3D volumes (a ``spacing_crop`` cache); the others read 2.5D stacks of
#: slice triplets (a ``slice_stack`` cache).
VOLUME_ENCODERS = ("volume3d",)
#: Depths of the 2D ResNet of the CT-Scroll encoder.
CNN_DEPTHS = (10, 18, 34)


@dataclass(frozen=True)
class UniCTConfig(DictConfig):
    """What a :class:`~hyperct.models.unict.model.UniCT` is built from.

    Attributes:
        encoder: ``ctscroll`` (triplets of axial slices through a 2D MONAI ResNet), ``volume3d``
            (a MONAI 3D backbone, pooled in-plane per slice) or ``dinov3`` (the frozen DINOv3
            2.5D backbone, CLS per image).
        dim: width ``D`` of every token (slices, global, task latents).
        heads: attention heads of every attention layer.
        slice_layers: transformer layers of global + sliding-window slice attention.
        slice_window: slices (odd) a slice token attends to, itself in the middle.
        max_slices: most slice tokens (learned positions).
        cnn_depth: depth of the CT-Scroll 2D ResNet (10, 18 or 34).
        cnn_width: channels of its first stage (64 in the standard network).
        backbone3d: a name of :func:`hyperct.models.backbones3d.create_backbone3d`.
        backbone3d_kwargs: fields of that backbone's config (e.g. ``{"width": 8}``).
        dinov3: a DINOv3 preset of :func:`hyperct.models.backbones.create_backbone`.
        dinov3_weights: its weights (folder or file); None = random and a loud warning.
        dinov3_lora_rank: rank of the static LoRA in every block's linear layers (0 = none:
            the backbone is a fixed feature extractor).
        dinov3_lora_alpha: LoRA scaling numerator (update = alpha / rank * B A).
        classes: names of the classification outputs (default the 18 CT-RATE findings; the 14
            ReXGroundingCT category codes for that dataset).
        seg_classes: segmentation categories, one mask channel each (ReXGroundingCT codes).
        cls_latents: latent tokens of the classification adapter.
        report_latents: latent tokens of the report adapter (the decoder's visual tokens).
        adapter_layers: cross-attention layers of each task adapter.
        seg_embed: width of the segmentation decoder's per-voxel embeddings.
        seg_upsample: stages of that decoder before interpolation to the grid, each joining the
            encoder's next finer stage (a skip connection; x2 upsampling past the last one).
        fusion: cross-task attention between the task latents.
        modulation: the predicted masks modulate the classification and report latents.
        report_guidance: the report decoder also reads one present/absent prompt per
            classification output: in training the scan's label where known, else (and at
            inference) the classification head's decision (probability above the class's
            prevalence in training, detached; :mod:`hyperct.models.report.guidance`). Needs
            ``supervise_classification``.
        supervise_classification, supervise_segmentation, supervise_report: each task's loss.
        weight_classification, weight_segmentation, weight_report: each loss's weight.
        dice_smooth: additive smoothing of the soft Dice loss.
        decoder: fields of the default report decoder's
            :class:`~hyperct.models.report.decoder.TransformerDecoderConfig` (``vocab_size`` and
            ``visual_dim`` come from the tokenizer and ``dim``).
        dropout: dropout inside attention and MLP layers.
    """

    encoder: str = "ctscroll"
    dim: int = 256
    heads: int = 4
    slice_layers: int = 1
    slice_window: int = 5
    max_slices: int = 256
    cnn_depth: int = 18
    cnn_width: int = 64
    backbone3d: str = "resnet18_3d"
    backbone3d_kwargs: dict[str, Any] = field(default_factory=dict)
    dinov3: str = "dinov3-vitb16"
    dinov3_weights: str | None = None
    dinov3_lora_rank: int = 16
    dinov3_lora_alpha: float = 16.0
    classes: tuple[str, ...] = tuple(t.name for t in CONVENTIONAL)
    seg_classes: tuple[str, ...] = CATEGORY_CODES
    cls_latents: int = 4
    report_latents: int = 16
    adapter_layers: int = 1
    seg_embed: int = 32
    seg_upsample: int = 2
    fusion: bool = True
    modulation: bool = True
    report_guidance: bool = False
    supervise_classification: bool = True
    supervise_segmentation: bool = True
    supervise_report: bool = True
    weight_classification: float = 1.0
    weight_segmentation: float = 1.0
    weight_report: float = 1.0
    dice_smooth: float = 1.0
    decoder: dict[str, Any] = field(default_factory=dict)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "seg_classes", tuple(self.seg_classes))
        self._check_choices()
        self._check_sizes()
        self._check_tasks()

    @property
    def reads_volumes(self) -> bool:
        """Whether the encoder reads 3D volumes rather than 2.5D slice triplets."""
        return self.encoder in VOLUME_ENCODERS

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_seg_classes(self) -> int:
        return len(self.seg_classes)

    def _check_choices(self) -> None:
        if self.encoder not in ENCODER_NAMES:
            raise ValueError(
                f"UniCTConfig.encoder {self.encoder!r} is unknown; choose one of {ENCODER_NAMES}"
            )
        if self.cnn_depth not in CNN_DEPTHS:
            raise ValueError(
                f"UniCTConfig.cnn_depth must be one of {CNN_DEPTHS}, got {self.cnn_depth}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"UniCTConfig.dropout must be in [0, 1), got {self.dropout}")
        forbidden = sorted({"vocab_size", "visual_dim", "condition_tokens"} & set(self.decoder))
        if forbidden:
            raise ValueError(
                f"UniCTConfig.decoder must not set {forbidden}: they come from the tokenizer, dim "
                "and report_guidance"
            )

    def _check_sizes(self) -> None:
        sizes = {
            "dim": self.dim,
            "heads": self.heads,
            "slice_layers": self.slice_layers,
            "max_slices": self.max_slices,
            "cnn_width": self.cnn_width,
            "cls_latents": self.cls_latents,
            "report_latents": self.report_latents,
            "adapter_layers": self.adapter_layers,
            "seg_embed": self.seg_embed,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"UniCTConfig.{name} must be >= 1, got {value}")
        if self.dim % self.heads:
            raise ValueError(f"UniCTConfig.dim {self.dim} is not divisible by heads {self.heads}")
        if self.slice_window < 1 or self.slice_window % 2 == 0:
            raise ValueError(
                f"UniCTConfig.slice_window must be odd and >= 1, got {self.slice_window}"
            )
        if self.dinov3_lora_rank < 0:
            raise ValueError(
                f"UniCTConfig.dinov3_lora_rank must be >= 0, got {self.dinov3_lora_rank}"
            )
        if self.seg_upsample < 0 or self.dice_smooth <= 0:
            raise ValueError(
                f"UniCTConfig: seg_upsample must be >= 0 and dice_smooth > 0, got "
                f"{self.seg_upsample} and {self.dice_smooth}"
            )

    def _check_tasks(self) -> None:
        for name in ("classes", "seg_classes"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ValueError(f"UniCTConfig.{name} must be non-empty and unique, got {values}")
        for task in ("classification", "segmentation", "report"):
            weight = getattr(self, f"weight_{task}")
            if weight < 0:
                raise ValueError(f"UniCTConfig.weight_{task} must be >= 0, got {weight}")
        if not (
            self.supervise_classification or self.supervise_segmentation or self.supervise_report
        ):
            raise ValueError(
                "UniCTConfig: supervise_classification, supervise_segmentation and "
                "supervise_report are all off; nothing would be trained"
            )
        if self.report_guidance and not self.supervise_classification:
            raise ValueError(
                "UniCTConfig.report_guidance needs supervise_classification: the report's prompts "
                "are the classification head's decisions, and an untrained head decides nothing"
            )
