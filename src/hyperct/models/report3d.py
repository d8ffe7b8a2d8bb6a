"""A first report generator: a MONAI 3D backbone + the from-scratch report decoder.

The backbone's lowest-resolution map is pooled to a fixed ``token_grid`` and each cell becomes a
visual token with a learned position, so the decoder sees the same number of tokens whatever the
crop size. The tokenizer is part of the model's config (its ``to_state`` strings): a run trains it
on the training reports, the checkpoint's config carries it, and a model rebuilt from that config
alone writes the same text. The family has no classification tasks (``task_names`` is empty).

With ``guidance_findings`` (task names, e.g. the 18 CT-RATE findings) the report is
classification-guided (:mod:`hyperct.models.report.guidance`): a head on the pooled visual
tokens predicts those findings, trained on the scans' labels, and one present/absent prompt per
finding joins the decoder's memory. Empty: the unguided model, parameter for parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from hyperct.models.backbones3d import available_backbones3d, create_backbone3d
from hyperct.models.interface import Capability
from hyperct.models.state import FullyTrainable
from hyperct.models.report.decoder import TransformerDecoderConfig, TransformerReportDecoder
from hyperct.models.report.generate import GenerationConfig
from hyperct.models.report.guidance import FindingGuidance, FindingGuidanceConfig
from hyperct.models.report.model import FeatureMapTokens, ReportModel
from hyperct.models.report.tokenizer import ReportTokenizer
from hyperct.tasks import TASK_NAMES


@dataclass(frozen=True)
class ReportGenerator3DConfig:
    """What :class:`ReportGenerator3D` is built from.

    Attributes:
        tokenizer: :meth:`ReportTokenizer.to_state` of the trained tokenizer.
        encoder: a name from :func:`hyperct.models.backbones3d.available_backbones3d`.
        encoder_kwargs: fields of the backbone's config (e.g. ``{"width": 8}``).
        token_grid: (d, h, w) cells the feature map is average-pooled to, one token each.
        width, layers, heads, dropout, max_len: the decoder's shape.
        beam_width: 1 decodes greedily; length_penalty: beam search's length exponent.
        guidance_findings: task names the report is guided by (empty: no guidance);
        guidance_weight: weight of their classification loss beside the token loss.
    """

    tokenizer: dict[str, str]
    encoder: str = "resnet10_3d"
    encoder_kwargs: dict[str, object] = field(default_factory=dict)
    token_grid: tuple[int, int, int] = (2, 4, 4)
    width: int = 256
    layers: int = 3
    heads: int = 4
    dropout: float = 0.1
    max_len: int = 256
    beam_width: int = 1
    length_penalty: float = 1.0
    guidance_findings: tuple[str, ...] = ()
    guidance_weight: float = 1.0

    def __post_init__(self) -> None:
        unknown = [name for name in self.guidance_findings if name not in TASK_NAMES]
        if unknown:
            raise ValueError(f"guidance_findings {unknown} are not task names; known: {TASK_NAMES}")
        if len(set(self.guidance_findings)) != len(self.guidance_findings):
            raise ValueError(f"guidance_findings repeat a name: {list(self.guidance_findings)}")
        if self.guidance_weight < 0:
            raise ValueError(f"guidance_weight must be >= 0, got {self.guidance_weight}")
        if self.encoder not in available_backbones3d():
            raise ValueError(
                f"ReportGenerator3DConfig.encoder {self.encoder!r} is unknown; choose one of "
                f"{available_backbones3d()}"
            )
        if len(self.token_grid) != 3 or min(self.token_grid) < 1:
            raise ValueError(f"token_grid must be three sizes >= 1, got {self.token_grid}")

    def generation(self) -> GenerationConfig:
        """Decoding as configured, up to the decoder's length limit."""
        return GenerationConfig(max_tokens=self.max_len, beam_width=self.beam_width,
                                length_penalty=self.length_penalty)


class ReportGenerator3D(FullyTrainable, nn.Module):
    """``generate_reports(image (B, 1, D, H, W)) -> list[str]``; trained end to end."""

    capabilities = frozenset({Capability.REPORT_GENERATION})

    def __init__(self, config: ReportGenerator3DConfig) -> None:
        super().__init__()
        self.config = config
        tokenizer = ReportTokenizer.from_state(config.tokenizer)
        backbone = create_backbone3d(config.encoder, **config.encoder_kwargs)
        channels = self._channels = int(backbone.out_channels)
        cells = config.token_grid[0] * config.token_grid[1] * config.token_grid[2]
        encoder = FeatureMapTokens(
            nn.Sequential(backbone, nn.AdaptiveAvgPool3d(tuple(config.token_grid))),
            channels, tokens=cells,
        )
        decoder = TransformerReportDecoder(TransformerDecoderConfig(
            vocab_size=tokenizer.vocab_size, visual_dim=channels, width=config.width,
            layers=config.layers, heads=config.heads, max_len=config.max_len,
            dropout=config.dropout, condition_tokens=len(config.guidance_findings),
        ))
        guidance = (
            FindingGuidance(FindingGuidanceConfig(len(config.guidance_findings), channels))
            if config.guidance_findings else None
        )
        self.report = ReportModel(encoder, decoder, tokenizer, guidance, config.guidance_weight)
        self._finding_ids = [TASK_NAMES.index(name) for name in config.guidance_findings]

    @property
    def task_names(self) -> list[str]:
        """No classification outputs."""
        return []

    @property
    def feature_width(self) -> int:
        """Channels of the backbone's feature map (the visual tokens' width)."""
        return self._channels

    @property
    def tokenizer(self) -> ReportTokenizer:
        return self.report.tokenizer

    def predict_all(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, 0)``: a report generator classifies nothing."""
        if image_mask is not None:
            raise ValueError("ReportGenerator3D reads whole volumes; it takes no image_mask")
        return images.new_zeros((images.shape[0], 0))

    def report_loss(
        self, images: torch.Tensor, reports: Sequence[str], *, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Teacher-forced mean token cross-entropy (reports cut to ``max_len`` tokens); guided,
        plus the weighted BCE of the guidance findings' known ``labels`` (``(B, 25)``, task-id
        order, -1 missing), which also set the training prompts."""
        _check_volume(images)
        if self.report.guidance is None or labels is None:
            return self.report.loss(images, reports)
        if labels.ndim != 2 or labels.shape[1] != len(TASK_NAMES):
            raise ValueError(f"labels must be (B, {len(TASK_NAMES)}), got {tuple(labels.shape)}")
        return self.report.loss(images, reports, labels[:, self._finding_ids])

    def generate_reports(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> list[str]:
        """One report per volume, greedy or beam as configured."""
        if image_mask is not None:
            raise ValueError("ReportGenerator3D reads whole volumes; it takes no image_mask")
        _check_volume(images)
        return self.report.generate(images, self.config.generation())


def _check_volume(image: torch.Tensor) -> None:
    if image.ndim != 5:
        raise ValueError(
            f"ReportGenerator3D expects (B, C, D, H, W) images, got shape {tuple(image.shape)}"
        )
