"""LoRA: linear layers wrapped in place, with a strategy object for where A and B come from."""

from hyperct.models.lora.layer import LoRALinear
from hyperct.models.lora.sources import GeneratedLoRA, LoRASource, StaticLoRA
from hyperct.models.lora.targets import (
    ALL_MODULES,
    ATTENTION_MODULES,
    MLP_MODULES,
    LoRATargets,
    block_of,
    find_targets,
    inject_lora,
    module_type,
)

__all__ = [
    "ALL_MODULES",
    "ATTENTION_MODULES",
    "MLP_MODULES",
    "GeneratedLoRA",
    "LoRALinear",
    "LoRASource",
    "LoRATargets",
    "StaticLoRA",
    "block_of",
    "find_targets",
    "inject_lora",
    "module_type",
]
