"""UniCT (MICCAI 2026): one chest-CT model that classifies, segments and writes the report.

No code is public; this is the project's reference implementation of what the paper describes.
Flow: a visual encoder gives slice tokens and a global token
(:mod:`~hyperct.models.unict.encoders`); one adapter per task derives that task's latents
(:mod:`~hyperct.models.unict.adapters`); the fusion module lets the tasks' summaries attend to
each other (:mod:`~hyperct.models.unict.fusion`); the segmentation decoder predicts masks from
the fused segmentation latents; the masks modulate the classification and report latents
(:mod:`~hyperct.models.unict.modulation`); then the classification head and the injected report
decoder read them (with ``report_guidance`` the decoder also reads one prompt per finding the
classification head decided, :mod:`~hyperct.models.report.guidance`).

The report head exists when a tokenizer is given: the decoder defaults to the project's
from-scratch :class:`~hyperct.models.report.decoder.TransformerReportDecoder` built from
``UniCTConfig.decoder``; any :class:`~hyperct.models.report.base.ReportDecoder` whose
``visual_dim`` is ``UniCTConfig.dim`` can be injected instead.

Example::

    model = UniCT(UniCTConfig(encoder="volume3d"), tokenizer=tokenizer)
    reports = model.encode_reports(["No effusion.", None])
    output = model(volumes, reports=reports)
    losses = model.losses(output, UniCTTargets(labels, masks, mask_present, reports))
    total_loss(losses, model.config).backward()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from hyperct.models.interface import Capability
from hyperct.models.report.base import ReportDecoder
from hyperct.models.report.decoder import TransformerDecoderConfig, TransformerReportDecoder
from hyperct.models.report.generate import GenerationConfig, generate
from hyperct.models.report.guidance import FindingPrompts, PrevalenceDecisions
from hyperct.models.report.tokenizer import EncodedBatch, ReportTokenizer
from hyperct.models.unict.adapters import TaskAdapter
from hyperct.models.unict.config import UniCTConfig
from hyperct.models.unict.encoders import EncodedCT, create_encoder
from hyperct.models.unict.fusion import NoFusion, TaskFusion
from hyperct.models.unict.heads import SEGMENTATION_DECODERS, ClassificationHead
from hyperct.models.unict.losses import UniCTOutput, UniCTTargets, unict_losses
from hyperct.models.unict.losses import report_loss as teacher_forced_loss
from hyperct.models.unict.modulation import MaskFiLM, NoModulation


@dataclass
class UniCTPrediction:
    """Per scan: class probabilities ``(B, K)``, mask probabilities ``(B, K_seg, depth, H, W)``
    on the model grid, the reports (None unless asked for) and the fusion attention."""

    probabilities: torch.Tensor
    mask_probabilities: torch.Tensor
    reports: list[str] | None
    fusion_attention: torch.Tensor | None


@dataclass
class _Latents:
    classification: torch.Tensor
    segmentation: torch.Tensor
    report: torch.Tensor | None


class UniCT(nn.Module):
    """Classification + segmentation + report generation from one encoder (see module doc)."""

    #: Capabilities beyond the common screening-model interface: one pass for every task, its
    #: masks and fusion attention, Grad-CAM on the encoder's feature map; an instance with a
    #: report head adds ``REPORT_GENERATION``.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.UNIFIED_TASKS, Capability.SEGMENTATION, Capability.FEATURE_MAP}
    )

    def __init__(
        self,
        config: UniCTConfig = UniCTConfig(),
        tokenizer: ReportTokenizer | None = None,
        report_decoder: ReportDecoder | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.report_decoder = _report_decoder(config, tokenizer, report_decoder)
        if self.report_decoder is not None:
            self.capabilities = self.capabilities | {Capability.REPORT_GENERATION}
        self.encoder = create_encoder(config)
        dim, heads, drop = config.dim, config.heads, config.dropout
        latents = {"classification": config.cls_latents, "segmentation": config.num_seg_classes}
        if self.report_decoder is not None:
            latents["report"] = config.report_latents
        self.adapters = nn.ModuleDict(
            {
                task: TaskAdapter(dim, n, heads, config.adapter_layers, drop)
                for task, n in latents.items()
            }
        )
        self.fusion_tasks: tuple[str, ...] = tuple(latents)
        self.fusion = TaskFusion(dim, heads, len(latents), drop) if config.fusion else NoFusion()
        channels = self.encoder.channels
        self.seg_decoder = SEGMENTATION_DECODERS[self.encoder.kind](
            channels, self.encoder.skip_channels, dim, config.seg_embed, config.seg_upsample
        )
        targets = len(latents) - 1  # classification (+ report)
        self.modulation = (
            MaskFiLM(channels, config.num_seg_classes, dim, targets)
            if config.modulation
            else NoModulation()
        )
        self.class_head = ClassificationHead(dim, config.num_classes)
        if config.report_guidance and self.report_decoder is None:
            raise ValueError("UniCTConfig.report_guidance needs a report head: pass tokenizer=")
        self.report_prompts = (
            FindingPrompts(config.num_classes, dim) if config.report_guidance else None
        )
        self.report_decisions = (
            PrevalenceDecisions(config.num_classes) if config.report_guidance else None
        )

    @property
    def task_names(self) -> list[str]:
        """The classification outputs, in output order."""
        return list(self.config.classes)

    @property
    def segmentation_classes(self) -> list[str]:
        """The mask channels, in channel order."""
        return list(self.config.seg_classes)

    @property
    def feature_width(self) -> int:
        """Channels of the encoder's feature map."""
        return self.encoder.channels

    def forward_features(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> EncodedCT:
        """The encoder's tokens and feature map."""
        return self.encoder(images, image_mask)

    def forward(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        reports: EncodedBatch | None = None,
        labels: torch.Tensor | None = None,
    ) -> UniCTOutput:
        """All tasks; ``reports`` (from :meth:`encode_reports`) gives teacher-forced logits.
        With ``report_guidance``, ``labels`` ``(B, K)`` (1/0/-1, training) set the report's
        prompts where known, the head's decisions elsewhere."""
        output, latents = self._outputs(self.forward_features(images, image_mask))
        if reports is not None:
            decoder, _ = self._report_head()
            ids, mask = (t.to(output.class_logits.device) for t in (reports.ids, reports.mask))
            memory = self._report_memory(output, latents, labels)
            output.report_logits = decoder(memory, ids[:, :-1], mask[:, :-1])
        return output

    def forward_head(self, encoded: EncodedCT) -> torch.Tensor:
        """Classification logits ``(B, K)`` from the encoder's output (e.g. for Grad-CAM on
        ``encoded.feature_map``)."""
        return self._outputs(encoded)[0].class_logits

    def feature_map_logits(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's feature map and the classification logits computed from it."""
        encoded = self.forward_features(images, image_mask)
        return encoded.feature_map, self.forward_head(encoded)

    def _outputs(self, encoded: EncodedCT) -> tuple[UniCTOutput, _Latents]:
        """Every output but the report logits, and the latents the report head reads."""
        latents, attention = self._fused_latents(encoded)
        coarse, seg_logits = self.seg_decoder(
            encoded.feature_map, latents.segmentation, encoded.grid, encoded.skips
        )
        latents = self._modulated(latents, encoded, coarse)
        output = UniCTOutput(self.class_head(latents.classification), seg_logits, None, attention)
        return output, latents

    def _fused_latents(self, encoded: EncodedCT) -> tuple[_Latents, torch.Tensor | None]:
        fused, attention = self.fusion([self.adapters[t](encoded) for t in self.fusion_tasks])
        report = fused[2] if len(fused) == 3 else None
        return _Latents(fused[0], fused[1], report), attention

    def _modulated(
        self, latents: _Latents, encoded: EncodedCT, coarse_masks: torch.Tensor
    ) -> _Latents:
        readers = [latents.classification] + (
            [latents.report] if latents.report is not None else []
        )
        out = self.modulation(readers, encoded, coarse_masks)
        return _Latents(out[0], latents.segmentation, out[1] if len(out) == 2 else None)

    def losses(self, output: UniCTOutput, targets: UniCTTargets) -> dict[str, torch.Tensor]:
        """Unweighted loss per supervised task (:func:`~hyperct.models.unict.losses.unict_losses`)."""
        return unict_losses(output, targets, self.config)

    def report_loss(
        self, images: torch.Tensor, reports: Sequence[str], image_mask: torch.Tensor | None = None,
        *, labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced mean token cross-entropy of ``reports``, one per scan (the
        report-generating interface; also the report part of :meth:`losses`). ``labels`` are not
        read: UniCT's classification loss is its own task in :meth:`losses`."""
        encoded = self.encode_reports(reports)
        return teacher_forced_loss(self(images, image_mask, reports=encoded).report_logits, encoded)

    def encode_reports(self, reports: Sequence[str | None]) -> EncodedBatch:
        """Token batch of ``reports``; a scan without text (None or blank) is bos only."""
        decoder, tokenizer = self._report_head()
        present = [i for i, text in enumerate(reports) if text is not None and text.strip()]
        max_len = decoder.max_len
        width = 1
        ids = torch.full((len(reports), max_len), tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros((len(reports), max_len), dtype=torch.bool)
        ids[:, 0], mask[:, 0] = tokenizer.bos_id, True
        if present:
            encoded = tokenizer.encode([str(reports[i]) for i in present], max_len)
            width = encoded.ids.shape[1]
            ids[present, :width], mask[present, :width] = encoded.ids, encoded.mask
        return EncodedBatch(ids=ids[:, :width], mask=mask[:, :width])

    def _report_head(self) -> tuple[ReportDecoder, ReportTokenizer]:
        if self.report_decoder is None or self.tokenizer is None:
            raise ValueError("this UniCT has no report head (it was built without a tokenizer)")
        return self.report_decoder, self.tokenizer

    @torch.no_grad()
    def generate_reports(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        generation: GenerationConfig = GenerationConfig(),
    ) -> list[str]:
        """One report per scan, decoded from the modulated report latents."""
        return self._predict(images, image_mask, generation)[1]

    @torch.no_grad()
    def predict(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        generation: GenerationConfig | None = None,
    ) -> UniCTPrediction:
        """Probabilities, mask probabilities and, when ``generation`` is given, reports."""
        output, reports = self._predict(images, image_mask, generation)
        return UniCTPrediction(
            torch.sigmoid(output.class_logits),
            torch.sigmoid(output.seg_logits),
            reports,
            output.fusion_attention,
        )

    def _predict(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor | None,
        generation: GenerationConfig | None,
    ) -> tuple[UniCTOutput, list[str] | None]:
        output, latents = self._outputs(self.forward_features(images, image_mask))
        if generation is None:
            return output, None
        decoder, tokenizer = self._report_head()
        return output, generate(decoder, self._report_memory(output, latents), tokenizer,
                                generation)

    def _report_memory(
        self, output: UniCTOutput, latents: _Latents, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """What the report decoder reads: the report latents, with ``report_guidance`` one
        prompt per classification output after them (the label where ``labels`` knows it, else
        the head's decision at the class's training prevalence)."""
        if latents.report is None:
            raise ValueError("this UniCT has no report latents (it was built without a tokenizer)")
        if self.report_prompts is None or self.report_decisions is None:
            return latents.report
        return self.report_prompts(latents.report,
                                   self.report_decisions(output.class_logits, labels))

    def predict_all(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Classification logits ``(B, K)`` (the screening-model interface)."""
        return self(images, image_mask).class_logits

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight but a frozen backbone's."""
        frozen = self.encoder.frozen_keys("encoder.")
        return {k: v for k, v in self.state_dict().items() if k not in frozen}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`trainable_state_dict`: every trainable key, and no other."""
        frozen = self.encoder.frozen_keys("encoder.")
        stray = sorted(k for k in state if k in frozen)
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if k not in frozen]
        if stray or missing or unexpected:
            raise KeyError(
                f"trainable state does not fit UniCT: frozen {stray[:5]}, missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )

    def backbone_identity(self) -> dict[str, str]:
        """``{"name", "sha256"}`` of the frozen backbone (or saying there is none)."""
        return self.encoder.identity()


def _report_decoder(
    config: UniCTConfig, tokenizer: ReportTokenizer | None, decoder: ReportDecoder | None
) -> ReportDecoder | None:
    """The injected decoder, the default one for ``tokenizer``, or None (no report head)."""
    if tokenizer is None:
        if decoder is not None:
            raise ValueError("a report decoder needs its tokenizer: pass tokenizer= as well")
        if config.supervise_report:
            raise ValueError(
                "UniCTConfig.supervise_report is on but no tokenizer was given, so there is no "
                "report head; pass tokenizer= or set supervise_report=False"
            )
        return None
    if decoder is not None:
        return decoder
    fields = {**config.decoder, "dropout": config.decoder.get("dropout", config.dropout),
              "condition_tokens": config.num_classes if config.report_guidance else 0}
    return TransformerReportDecoder(
        TransformerDecoderConfig(vocab_size=tokenizer.vocab_size, visual_dim=config.dim, **fields)
    )
