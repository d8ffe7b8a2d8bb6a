"""HyperCT (MIDL 2026): one frozen ViT, adapted per task by LoRA weights from a hypernetwork.

A scan is N packed images (three consecutive slices each). For each sample the hypernetwork turns
the sample's task id into LoRA (A, B) for every adapted linear layer; all images of the sample go
through the backbone with that LoRA; the CLS token of each image is averaged over the scan's real
images and a head gives one logit.

>>> model = HyperCT(HyperCTConfig(backbone="dinov3-tiny", task_dim=32))  # doctest: +SKIP
>>> model(images, image_mask, task_ids).shape  # doctest: +SKIP
torch.Size([2])
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from hyperct.models.adapted import build_adapted_backbone
from hyperct.models.config_dict import DictConfig
from hyperct.models.backbones import BACKBONE_DTYPES, Backbone
from hyperct.models.heads import HEADS, create_head
from hyperct.models.hypernetwork import HyperNetwork, HyperNetworkConfig, LoRAPair, ModuleSpec
from hyperct.models.interface import Capability
from hyperct.models.lora import GeneratedLoRA, LoRATargets, block_of, module_type
from hyperct.models.state import backbone_identity, load_trainable_state_dict, trainable_state_dict
from hyperct.models.trunk import RunSpec, masked_mean, patch_grid, run_blocks
from hyperct.tasks import TASK_NAMES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HyperCTConfig(DictConfig):
    """Everything that defines a HyperCT model (saved with every checkpoint).

    Attributes:
        backbone: backbone preset name (``dinov3-vitb16`` is the paper's).
        weights: local backbone weights (HF folder, .safetensors, Meta .pth); None = random.
        backbone_overrides: DINOv3ViTConfig fields changed from the preset (tests, ablations).
        backbone_dtype: storage dtype of the frozen weights; ``"bfloat16"`` runs the backbone in
            bf16 without autocast casts (hypernetwork and head stay float32).
        lora_modules: adapted module types, or ``"all"``, ``"attention"``, ``"mlp"``.
        lora_blocks: adapted block indices (None: all); exclusive with ``adapt_last_k``.
        adapt_last_k: adapt only the last K blocks; the blocks before run once per scan in
            ``predict_all`` (shared trunk).
        rank, alpha, dropout: LoRA rank r, scaling alpha / r and dropout on the LoRA input.
        head: ``"shared"`` (paper: task-agnostic) or ``"per_task"``.
        num_tasks: task ids 0..num_tasks-1 (25: :mod:`hyperct.tasks`).
        extra_tasks: names of tasks added after training (see :meth:`HyperCT.add_task`).
        task_dim, module_dim, latent_dim, hyper_output_dim, num_residual_blocks: hypernetwork sizes.
        activation_checkpointing: recompute activations of the blocks in backward (less memory).
            Without it a block keeps what its matmuls and the inputs of its norms and GELU need:
            the norms' and GELU's outputs, LoRA's dropped inputs and the attention probabilities
            are recomputed anyway by the nodes that need them (4.4 GB peak RSS at batch 2 x 55
            ViT-B images in bf16 under tcmalloc; see benchmarks/model_speed.py).
        checkpointing: what ``activation_checkpointing`` recomputes. ``"light"`` keeps the MLP's
            input instead of its 3,072-wide pre-activation and recomputes the MLP's norm, first
            linear layer and GELU (3.6 GB at about 1.1x the time of no checkpointing);
            ``"full"`` keeps only each block's input (least memory, 2.8 GB: one extra forward,
            about 1.4x the time); ``"selective"`` keeps the frozen linear layers' outputs and
            recomputes the rest of each block (4.2 GB at about 1.3x: it kept less than no
            checkpointing before the lean nodes, and now light keeps less, faster).
        predict_tasks_per_pass: tasks per batched pass in ``predict_all`` under autograd or in
            training mode (None: all at once); a pass's memory grows with the scans of a batch
            times its tasks. Prediction (no autograd, eval mode) runs one task per pass with its
            LoRA merged on the fly, whatever this says.
    """

    backbone: str = "dinov3-vitb16"
    weights: str | None = None
    backbone_overrides: dict[str, Any] = field(default_factory=dict)
    backbone_dtype: str = "float32"
    lora_modules: tuple[str, ...] | str = "all"
    lora_blocks: tuple[int, ...] | None = None
    adapt_last_k: int | None = None
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.05
    head: str = "shared"
    num_tasks: int = 25
    extra_tasks: tuple[str, ...] = ()
    task_dim: int = 512
    module_dim: int = 64
    latent_dim: int = 128
    hyper_output_dim: int = 512
    num_residual_blocks: int = 2
    activation_checkpointing: bool = False
    checkpointing: Literal["light", "selective", "full"] = "full"
    predict_tasks_per_pass: int | None = 5

    def __post_init__(self) -> None:
        if self.backbone_dtype not in BACKBONE_DTYPES:
            raise ValueError(
                f"HyperCTConfig.backbone_dtype: {self.backbone_dtype!r} is not one of {list(BACKBONE_DTYPES)}"
            )
        if self.head not in HEADS:
            raise ValueError(f"HyperCTConfig.head: {self.head!r} is not one of {list(HEADS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"HyperCTConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.alpha <= 0:
            raise ValueError(f"HyperCTConfig.alpha must be > 0, got {self.alpha}")
        if self.checkpointing not in ("light", "selective", "full"):
            raise ValueError(
                f"HyperCTConfig.checkpointing: {self.checkpointing!r} is not 'light', "
                "'selective' or 'full'"
            )
        if self.predict_tasks_per_pass is not None and self.predict_tasks_per_pass < 1:
            raise ValueError(
                f"HyperCTConfig.predict_tasks_per_pass must be >= 1, got {self.predict_tasks_per_pass}"
            )
        object.__setattr__(self, "extra_tasks", tuple(self.extra_tasks))
        self.targets()
        self.hypernetwork_config()

    def targets(self) -> LoRATargets:
        modules = (
            self.lora_modules if isinstance(self.lora_modules, str) else tuple(self.lora_modules)
        )
        blocks = None if self.lora_blocks is None else tuple(self.lora_blocks)
        return LoRATargets(modules=modules, blocks=blocks, last_k=self.adapt_last_k)

    def hypernetwork_config(self) -> HyperNetworkConfig:
        return HyperNetworkConfig(
            num_tasks=self.num_tasks,
            task_dim=self.task_dim,
            module_dim=self.module_dim,
            latent_dim=self.latent_dim,
            output_dim=self.hyper_output_dim,
            num_residual_blocks=self.num_residual_blocks,
            rank=self.rank,
        )


@dataclass
class ScanFeatures:
    """``cls``: (B, N, C) CLS token per image after the final norm. ``patch_tokens``: (B, N, h, w,
    C) output of the chosen block (before any norm; in the autograd graph, for Grad-CAM)."""

    cls: torch.Tensor
    patch_tokens: torch.Tensor | None = None


class HyperCT(nn.Module):
    """Frozen backbone + hypernetwork-generated LoRA + head; see the module docstring."""

    capabilities = frozenset(
        {Capability.TASK_FEATURES, Capability.ADD_TASK, Capability.GENERATE_LORA}
    )

    def __init__(self, config: HyperCTConfig, backbone: Backbone | None = None):
        super().__init__()
        self.config = config
        self.backbone, layers = build_adapted_backbone(config, backbone, self._new_source)
        self.module_names = tuple(layers)
        self._sources = {name: layer.source for name, layer in layers.items()}
        self.lora_scaling = config.alpha / config.rank
        self.adapted_blocks = tuple(sorted({block_of(n) for n in self.module_names}))
        specs = [
            ModuleSpec(n, module_type(n), m.in_features, m.out_features) for n, m in layers.items()
        ]
        self.hypernetwork = HyperNetwork(config.hypernetwork_config(), specs)
        self.head = create_head(config.head, self.backbone.hidden_size, config.num_tasks)
        self.task_names = (
            list(TASK_NAMES)
            if config.num_tasks == len(TASK_NAMES)
            else [f"task_{i}" for i in range(config.num_tasks)]
        )
        for name in config.extra_tasks:
            self._append_task(name)

    def _new_source(self, name: str, linear: nn.Linear) -> GeneratedLoRA:
        return GeneratedLoRA(linear.in_features, linear.out_features, self.config.rank)

    @property
    def num_tasks(self) -> int:
        return self.hypernetwork.task_embedding.num_tasks

    @property
    def feature_width(self) -> int:
        """Width of the patch tokens the anatomy head reads."""
        return self.backbone.hidden_size

    # ----------------------------------------------------------------- forward passes
    def forward(
        self, images: torch.Tensor, image_mask: torch.Tensor, task_ids: torch.Tensor
    ) -> torch.Tensor:
        """Logits (B,) of each sample's own task: images (B, N, 3, H, W), mask (B, N), ids (B,)."""
        features = self.forward_features(images, image_mask, task_ids)
        return self.forward_head(features.cls, image_mask, task_ids)

    def forward_features(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor,
        task_ids: torch.Tensor,
        return_patch_tokens: bool = False,
        block: int | None = None,
    ) -> ScanFeatures:
        """CLS per image (B, N, C) and, if asked, patch tokens (B, N, h, w, C) of ``block``
        (default: the last block). The mask is unused here; it is taken for a uniform call."""
        self._check_inputs(images, image_mask)
        unique, inverse = torch.unique(task_ids, return_inverse=True)
        pairs = self.hypernetwork(unique, gather=inverse, dtype=self.backbone.dtype)
        spec = self._run_spec(0, pairs)
        if return_patch_tokens:
            spec.capture = self._capture_block(block)
            spec.capture_grid = patch_grid(images, self.backbone.patch_size)
        hidden, rope = self.backbone.embed(images.flatten(0, 1))
        hidden, tokens = run_blocks(self.backbone, hidden, rope, spec)
        cls = self.backbone.final_norm(hidden)[:, 0].unflatten(0, images.shape[:2])
        return ScanFeatures(cls=cls, patch_tokens=tokens)

    def forward_head(
        self, cls: torch.Tensor, image_mask: torch.Tensor, task_ids: torch.Tensor
    ) -> torch.Tensor:
        """Masked mean of per-image CLS (..., N, C) over real images, then the head -> (...)."""
        return self.head(masked_mean(cls, image_mask), task_ids)

    def predict_all(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        tasks: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Logits (B, T) of every task in ``tasks`` (default: all).

        Blocks before the first adapted block run once per scan and are shared by all tasks.
        Call it under ``torch.inference_mode()`` for prediction: then (in eval mode) each task
        runs on all scans of the batch in a pass of its own, with its LoRA merged into the
        weights on the fly (see :class:`~hyperct.models.lora.LoRALinear`), so every adapted
        layer is one plain matmul. Under autograd the tasks run in batched passes of
        ``predict_tasks_per_pass``, each layer adding every task's update to the frozen product.
        """
        if image_mask is None:
            raise ValueError("HyperCT.predict_all needs the image_mask of the packed images")
        self._check_inputs(images, image_mask)
        task_list = list(range(self.num_tasks)) if tasks is None else list(tasks)
        trunk_stop = self.adapted_blocks[0]
        hidden, rope = self.backbone.embed(images.flatten(0, 1))
        hidden, _ = run_blocks(
            self.backbone, hidden, rope, RunSpec(0, trunk_stop, grad_from=self.backbone.num_blocks)
        )
        task_ids = torch.tensor(task_list, device=hidden.device)
        pairs = self.hypernetwork(task_ids, dtype=self.backbone.dtype)
        # A task's LoRA merges into the weights only where it is the one update of its pass.
        merging = not torch.is_grad_enabled() and not self.training
        per_pass = 1 if merging else self.config.predict_tasks_per_pass or len(task_list)
        features = [
            self._pass_features(
                hidden,
                rope,
                images.shape[:2],
                image_mask,
                task_ids[start : start + per_pass],
                [
                    (lora_a[start : start + per_pass], lora_b[start : start + per_pass])
                    for lora_a, lora_b in pairs
                ],
            )
            for start in range(0, len(task_list), per_pass)
        ]
        return self.head(torch.cat(features, dim=1), task_ids[None].expand(len(images), -1))

    def _pass_features(
        self,
        trunk: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        shape: torch.Size,
        image_mask: torch.Tensor,
        task_ids: torch.Tensor,
        pairs: list[LoRAPair],
    ) -> torch.Tensor:
        """The scan features (B, len(task_ids), C) of one pass, with ``pairs`` those tasks'
        LoRA: the tokens task-major, so that each task's LoRA group is every image of the
        batch (one group, and a mergeable update, per task)."""
        batch, count = shape[0], len(task_ids)
        hidden = trunk[None].expand(count, *trunk.shape).flatten(0, 1)
        hidden, _ = run_blocks(
            self.backbone, hidden, rope, self._run_spec(self.adapted_blocks[0], pairs)
        )
        cls = self.backbone.final_norm(hidden)[:, 0].unflatten(0, (count, *shape)).transpose(0, 1)
        return masked_mean(cls, image_mask[:, None].expand(batch, count, shape[1]))

    # ----------------------------------------------------------------- helpers
    def _run_spec(self, start: int, pairs: list[LoRAPair]) -> RunSpec:
        config = self.config
        lora: dict[int, tuple[list[GeneratedLoRA], list[torch.Tensor]]] = {}
        for name, (lora_a, lora_b) in zip(self.module_names, pairs):
            sources, tensors = lora.setdefault(block_of(name), ([], []))
            sources.append(self._sources[name])
            tensors.extend((lora_a, lora_b))
        return RunSpec(
            start=start,
            stop=self.backbone.num_blocks,
            lora=lora,
            checkpointing=config.checkpointing if config.activation_checkpointing else "none",
            grad_from=self.adapted_blocks[0],
        )

    def _capture_block(self, block: int | None) -> int:
        last = self.backbone.num_blocks - 1
        index = (
            last if block is None else (block + self.backbone.num_blocks if block < 0 else block)
        )
        if not 0 <= index <= last:
            raise IndexError(f"block {block} out of range for a backbone of {last + 1} blocks")
        return index

    @staticmethod
    def _check_inputs(images: torch.Tensor, image_mask: torch.Tensor) -> None:
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be (B, N, 3, H, W), got {tuple(images.shape)}")
        if image_mask.shape != images.shape[:2] or image_mask.dtype != torch.bool:
            raise ValueError(
                f"image_mask must be bool (B, N) = {tuple(images.shape[:2])}, got "
                f"{image_mask.dtype} {tuple(image_mask.shape)}"
            )

    # ----------------------------------------------------------------- analysis and state
    @torch.no_grad()
    def generate_lora(self, task_ids: Sequence[int] | torch.Tensor) -> dict[str, LoRAPair]:
        """Each module's LoRA for the given tasks: name -> (A (U, r, d_in), B (U, d_out, r)).

        Unscaled; the update of task u is ``lora_scaling * B[u] @ A[u]``. Names are relative to
        the backbone's block list (``"3.attention.q_proj"``).
        """
        ids = torch.as_tensor(
            task_ids, dtype=torch.long, device=self.hypernetwork.module_embedding.device
        )
        return dict(zip(self.module_names, self.hypernetwork(ids)))

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the frozen backbone: hypernetwork (with task embeddings) and head."""
        return trainable_state_dict(self)

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        load_trainable_state_dict(self, state)

    def backbone_identity(self) -> dict[str, str]:
        return backbone_identity(self.backbone)

    def add_task(self, name: str) -> int:
        """Add a task (a new task embedding); returns its id. Then :meth:`train_only_added_tasks`."""
        if self.config.head != "shared":
            raise ValueError(
                "adding a task needs the task-agnostic head (HyperCTConfig.head='shared')"
            )
        task_id = self._append_task(name)
        self.config = dataclasses.replace(self.config, extra_tasks=(*self.config.extra_tasks, name))
        return task_id

    def _append_task(self, name: str) -> int:
        if name in self.task_names:
            raise ValueError(f"task {name!r} already exists")
        self.task_names.append(name)
        return self.hypernetwork.task_embedding.add()

    def train_only_added_tasks(self) -> list[nn.Parameter]:
        """Freeze hypernetwork and head; only the added task embeddings train. Returns them."""
        self.requires_grad_(False)
        added = list(self.hypernetwork.task_embedding.added)
        for parameter in added:
            parameter.requires_grad_(True)
        return added
