"""The HyperCT hypernetwork: task embedding -> LoRA A and B for every adapted linear layer.

Per DESIGN.md: a learnable task embedding (512) and a learned module-indicator embedding (64)
per target module -> mixer (Linear-SiLU-Linear-SiLU) to a latent of 128 -> 2 residual blocks
(LayerNorm-Linear-SiLU-Linear-SiLU) -> output projection (LayerNorm-Linear-SiLU-Linear-SiLU) to
512 -> one linear head per module type emitting r * (d_in + d_out) values, split into A (r x d_in)
and B (d_out x r). The B part of every head starts at zero, so Delta W = 0 at initialisation and
training starts from the pretrained backbone (the HyperCT authors' code did not do this).

All modules of all requested tasks go through the network in one batched pass; the only Python
loop is over the (at most six) module types.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

logger = logging.getLogger(__name__)

LoRAPair = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class HyperNetworkConfig:
    """Sizes of the hypernetwork (defaults: the HyperCT paper's)."""

    num_tasks: int = 25
    task_dim: int = 512
    module_dim: int = 64
    latent_dim: int = 128
    output_dim: int = 512
    num_residual_blocks: int = 2
    rank: int = 16

    def __post_init__(self) -> None:
        for field in ("num_tasks", "task_dim", "module_dim", "latent_dim", "output_dim", "rank"):
            if getattr(self, field) < 1:
                raise ValueError(
                    f"HyperNetworkConfig.{field} must be >= 1, got {getattr(self, field)}"
                )
        if self.num_residual_blocks < 0:
            raise ValueError(
                f"HyperNetworkConfig.num_residual_blocks must be >= 0, got {self.num_residual_blocks}"
            )


@dataclass(frozen=True)
class ModuleSpec:
    """One adapted linear layer: its name, its type (which head serves it) and its shape."""

    name: str
    kind: str
    in_features: int
    out_features: int


class TaskEmbedding(nn.Module):
    """Task id -> embedding; tasks added later are separate parameters so they train alone."""

    def __init__(self, num_tasks: int, dim: int):
        super().__init__()
        self.table = nn.Parameter(torch.randn(num_tasks, dim))
        self.added = nn.ParameterList()

    @property
    def num_tasks(self) -> int:
        return self.table.shape[0] + len(self.added)

    def add(self) -> int:
        """Append a new task embedding; returns its task id."""
        self.added.append(
            nn.Parameter(torch.randn(1, self.table.shape[1], device=self.table.device))
        )
        return self.num_tasks - 1

    def weight(self) -> torch.Tensor:
        return torch.cat([self.table, *self.added]) if len(self.added) else self.table

    def forward(self, task_ids: torch.Tensor) -> torch.Tensor:
        if task_ids.numel() and (task_ids.min() < 0 or task_ids.max() >= self.num_tasks):
            raise IndexError(f"task ids must be in [0, {self.num_tasks}), got {task_ids.tolist()}")
        return self.weight()[task_ids]


def _mlp(dim_in: int, dim_out: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.LayerNorm(dim_in)] if norm else []
    layers += [nn.Linear(dim_in, dim_out), nn.SiLU(), nn.Linear(dim_out, dim_out), nn.SiLU()]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """x + (LayerNorm-Linear-SiLU-Linear-SiLU)(x)."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = _mlp(dim, dim, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class HyperNetwork(nn.Module):
    """Generates LoRA (A, B) for every module in ``modules`` from task ids."""

    def __init__(self, config: HyperNetworkConfig, modules: Sequence[ModuleSpec]):
        super().__init__()
        if not modules:
            raise ValueError("HyperNetwork needs at least one target module")
        self.config = config
        self.specs = tuple(modules)
        self.task_embedding = TaskEmbedding(config.num_tasks, config.task_dim)
        self.module_embedding = nn.Parameter(torch.randn(len(modules), config.module_dim))
        self.mixer = _mlp(config.task_dim + config.module_dim, config.latent_dim, norm=False)
        self.residual = nn.Sequential(
            *(ResidualBlock(config.latent_dim) for _ in range(config.num_residual_blocks))
        )
        self.output = _mlp(config.latent_dim, config.output_dim, norm=True)
        self.heads = nn.ModuleDict()
        self._positions: dict[str, list[int]] = {}
        for position, spec in enumerate(self.specs):
            self._add_head(spec)
            self._positions.setdefault(spec.kind, []).append(position)

    def _add_head(self, spec: ModuleSpec) -> None:
        size = self.config.rank * (spec.in_features + spec.out_features)
        head = self.heads[spec.kind] if spec.kind in self.heads else None
        if head is not None:
            if head.out_features != size:
                raise ValueError(
                    f"module {spec.name}: shape differs from other {spec.kind!r} modules"
                )
            return
        head = nn.Linear(self.config.output_dim, size)
        with torch.no_grad():
            head.weight[self.config.rank * spec.in_features :].zero_()
            head.bias[self.config.rank * spec.in_features :].zero_()
        self.heads[spec.kind] = head

    def features(self, task_ids: torch.Tensor) -> torch.Tensor:
        """Per (task, module) features (U, M, output_dim) before the heads."""
        tasks = self.task_embedding(task_ids)
        count, modules = tasks.shape[0], self.module_embedding.shape[0]
        joint = torch.cat(
            [
                tasks[:, None].expand(count, modules, -1),
                self.module_embedding[None].expand(count, -1, -1),
            ],
            dim=-1,
        )
        return self.output(self.residual(self.mixer(joint)))

    def forward(
        self,
        task_ids: torch.Tensor,
        gather: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[LoRAPair]:
        """LoRA pairs in module order: A (G, r, d_in), B (G, d_out, r).

        ``task_ids`` (U,) are run once each; ``gather`` (G,) indexes into them to give one pair
        per group (e.g. per sample), so duplicate tasks in a batch cost nothing extra. ``dtype``
        (e.g. the backbone's bfloat16) casts each module type's output once, not each pair
        where it is used. The pairs are views cut by ``unbind`` and ``split``, whose backward
        is one stack / concatenation per module type rather than a zero-filled gradient of
        the whole output per module.
        """
        feats = self.features(task_ids)
        pairs: list[LoRAPair | None] = [None] * len(self.specs)
        rank = self.config.rank
        for kind, positions in self._positions.items():
            index = torch.tensor(positions, device=feats.device)
            flat = self.heads[kind](feats.index_select(1, index))
            if gather is not None:
                flat = flat.index_select(0, gather)
            if dtype is not None:
                flat = flat.to(dtype)
            spec = self.specs[positions[0]]
            sizes = [rank * spec.in_features, rank * spec.out_features]
            for position, values in zip(positions, flat.unbind(1)):
                lora_a, lora_b = values.split(sizes, dim=1)
                pairs[position] = (
                    lora_a.unflatten(1, (rank, spec.in_features)),
                    lora_b.unflatten(1, (spec.out_features, rank)),
                )
        return pairs  # type: ignore[return-value]


def parameter_count(module: nn.Module) -> dict[str, int]:
    """Parameters of a hypernetwork by part, paper Table 3 style (embeddings, trunk, heads, total)."""
    if not isinstance(module, HyperNetwork):
        raise TypeError(f"expected a HyperNetwork, got {type(module).__name__}")
    embeddings = module.task_embedding.table.numel() + module.module_embedding.numel()
    trunk = _numel(module.mixer) + _numel(module.residual) + _numel(module.output)
    heads = _numel(module.heads)
    return {
        "embeddings": embeddings,
        "trunk": trunk,
        "heads": heads,
        "total": embeddings + trunk + heads,
    }


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
