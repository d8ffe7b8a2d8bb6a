"""Which linear layers of the backbone get LoRA, and wrapping them in place.

Target names are the transformers DINOv3 module names: ``q_proj``, ``k_proj``, ``v_proj``,
``o_proj`` (attention) and ``up_proj``, ``down_proj`` (MLP); 6 per block, 72 for ViT-B/16.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from hyperct.models.lora.layer import LoRALinear
from hyperct.models.lora.sources import LoRASource

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("up_proj", "down_proj")
ALL_MODULES = ATTENTION_MODULES + MLP_MODULES
MODULE_GROUPS: dict[str, tuple[str, ...]] = {
    "all": ALL_MODULES,
    "attention": ATTENTION_MODULES,
    "mlp": MLP_MODULES,
}


@dataclass(frozen=True)
class LoRATargets:
    """A subset of (block, module type) pairs to adapt.

    Attributes:
        modules: module types, or one group name: ``"all"``, ``"attention"``, ``"mlp"``.
        blocks: block indices to adapt; None for all blocks.
        last_k: adapt only the last K blocks (cannot be combined with ``blocks``).
    """

    modules: tuple[str, ...] | str = "all"
    blocks: tuple[int, ...] | None = None
    last_k: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.modules, str):
            if self.modules not in MODULE_GROUPS:
                raise ValueError(
                    f"LoRATargets.modules: unknown group {self.modules!r}; use {list(MODULE_GROUPS)}"
                )
            object.__setattr__(self, "modules", MODULE_GROUPS[self.modules])
        object.__setattr__(self, "modules", tuple(self.modules))
        bad = [m for m in self.modules if m not in ALL_MODULES]
        if bad or not self.modules:
            raise ValueError(f"LoRATargets.modules: {bad or 'empty'}; choose from {ALL_MODULES}")
        if self.blocks is not None and self.last_k is not None:
            raise ValueError("LoRATargets: give either blocks or last_k, not both")
        if self.last_k is not None and self.last_k < 1:
            raise ValueError(f"LoRATargets.last_k must be >= 1, got {self.last_k}")
        if self.blocks is not None:
            object.__setattr__(self, "blocks", tuple(sorted(set(self.blocks))))

    def block_indices(self, num_blocks: int) -> tuple[int, ...]:
        """The adapted blocks of a backbone with ``num_blocks`` blocks."""
        if self.last_k is not None:
            if self.last_k > num_blocks:
                raise ValueError(
                    f"LoRATargets.last_k={self.last_k} exceeds the {num_blocks} blocks"
                )
            return tuple(range(num_blocks - self.last_k, num_blocks))
        if self.blocks is None:
            return tuple(range(num_blocks))
        bad = [b for b in self.blocks if not 0 <= b < num_blocks]
        if bad:
            raise ValueError(f"LoRATargets.blocks {bad} out of range for {num_blocks} blocks")
        return self.blocks


def find_targets(blocks: nn.ModuleList, targets: LoRATargets) -> dict[str, nn.Linear]:
    """Target linear layers by qualified name (``"3.attention.q_proj"``), in block/module order."""
    found: dict[str, nn.Linear] = {}
    for index in targets.block_indices(len(blocks)):
        for name, module in blocks[index].named_modules():
            if name.rsplit(".", 1)[-1] in targets.modules and isinstance(module, nn.Linear):
                found[f"{index}.{name}"] = module
    return found


def inject_lora(
    blocks: nn.ModuleList,
    targets: LoRATargets,
    make_source: Callable[[str, nn.Linear], LoRASource],
    alpha: float,
    dropout: float,
) -> dict[str, LoRALinear]:
    """Replace each target ``nn.Linear`` in ``blocks`` by a :class:`LoRALinear`, in place.

    ``make_source(name, linear)`` gives the strategy for each layer. Returns the wrapped layers by
    name, in block/module order (the order the hypernetwork's module embeddings follow).
    """
    if any(isinstance(m, LoRALinear) for m in blocks.modules()):
        raise ValueError(
            "the backbone already carries LoRA layers; build each model on its own backbone"
        )
    wrapped: dict[str, LoRALinear] = {}
    for name, linear in find_targets(blocks, targets).items():
        layer = LoRALinear(linear, make_source(name, linear), alpha=alpha, dropout=dropout)
        parent_name, child = name.rsplit(".", 1)
        setattr(blocks.get_submodule(parent_name), child, layer)
        wrapped[name] = layer
    return wrapped


def module_type(name: str) -> str:
    """``"3.attention.q_proj"`` -> ``"q_proj"``."""
    return name.rsplit(".", 1)[-1]


def block_of(name: str) -> int:
    """``"3.attention.q_proj"`` -> 3."""
    return int(name.split(".", 1)[0])
