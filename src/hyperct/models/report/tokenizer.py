"""Report tokenizer: a Hugging Face ``tokenizers`` model that travels inside the checkpoint.

The default is a byte-level BPE trained on the training reports (lowercased, NFKC, whitespace
collapsed): byte-level so every character round-trips (``decode(encode(x)) == normalise(x)``)
and nothing is ever unknown; BPE merges keep radiology words whole at a small vocabulary.
Users of published CT report generators could not rerun them for want of the vocabulary
(CT2Rep#17), so the whole tokenizer is one JSON string (:meth:`ReportTokenizer.to_state`) stored
with the weights, and generation needs no file outside the run folder.

Example::

    tok = ReportTokenizer.train(reports, TokenizerConfig(vocab_size=2000))
    batch = tok.encode(["No pleural effusion."], max_len=64)   # ids, mask: (1, L)
    tok.decode(batch.ids)                                      # ["no pleural effusion."]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from hyperct.io.atomic import write_text_atomic

FORMAT = "hyperct-report-tokenizer/1"


class ReportTextError(ValueError):
    """A report that cannot be tokenised (empty text); the message names its position."""


@dataclass(frozen=True)
class SpecialTokens:
    """Names of the four special tokens; a pretrained LM brings its own."""

    pad: str = "<pad>"
    bos: str = "<bos>"
    eos: str = "<eos>"
    unk: str = "<unk>"

    def names(self) -> list[str]:
        return [self.pad, self.bos, self.eos, self.unk]


@dataclass(frozen=True)
class TokenizerConfig:
    """How to train the report tokenizer.

    vocab_size: total vocabulary including the 256 byte symbols and the special tokens.
    min_frequency: a merge must occur this often in the training reports.
    lowercase: radiology reports carry no meaning in case; lowercasing halves the vocabulary.
    """

    vocab_size: int = 2000
    min_frequency: int = 2
    lowercase: bool = True

    def __post_init__(self) -> None:
        floor = len(pre_tokenizers.ByteLevel.alphabet()) + len(SpecialTokens().names())
        if self.vocab_size <= floor:
            raise ValueError(
                f"vocab_size must exceed {floor} (bytes + specials), got {self.vocab_size}"
            )
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency must be >= 1, got {self.min_frequency}")


@dataclass(frozen=True)
class EncodedBatch:
    """Token ids and attention mask, both (B, L), right-padded to the longest sequence."""

    ids: torch.Tensor
    mask: torch.Tensor


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    steps += [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    return normalizers.Sequence(steps)


class ReportTokenizer:
    """Encode reports to ids framed by bos/eos, decode ids back to text without specials."""

    def __init__(self, tokenizer: Tokenizer, specials: SpecialTokens = SpecialTokens()) -> None:
        ids = {name: tokenizer.token_to_id(name) for name in specials.names()}
        missing = sorted(name for name, i in ids.items() if i is None)
        if missing:
            raise ValueError(f"tokenizer vocabulary lacks the special tokens {missing}")
        self._tokenizer = tokenizer
        self.specials = specials
        self.pad_id, self.bos_id = ids[specials.pad], ids[specials.bos]
        self.eos_id, self.unk_id = ids[specials.eos], ids[specials.unk]

    @classmethod
    def train(
        cls, reports: Iterable[str], config: TokenizerConfig = TokenizerConfig()
    ) -> ReportTokenizer:
        """Train a byte-level BPE on ``reports``; an empty report is an error naming its index."""
        texts = list(reports)
        normalizer = _normalizer(config.lowercase)
        _check_not_empty(texts, normalizer)
        tokenizer = Tokenizer(models.BPE(unk_token=SpecialTokens().unk))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=config.vocab_size,
            min_frequency=config.min_frequency,
            special_tokens=SpecialTokens().names(),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def backend(self) -> Tokenizer:
        """The wrapped ``tokenizers.Tokenizer``."""
        return self._tokenizer

    def normalise(self, text: str) -> str:
        """The text as the tokenizer sees it (and as :meth:`decode` gives it back)."""
        normalizer = self._tokenizer.normalizer
        return normalizer.normalize_str(text) if normalizer is not None else text

    def encode(self, reports: Sequence[str], max_len: int) -> EncodedBatch:
        """``[bos] + tokens + [eos]`` per report, cut to ``max_len`` (a cut report has no eos)."""
        if max_len < 2:
            raise ValueError(f"max_len must be >= 2 (bos + eos), got {max_len}")
        _check_not_empty(reports, self._tokenizer.normalizer)
        encodings = self._tokenizer.encode_batch(list(reports), add_special_tokens=False)
        rows = [([self.bos_id] + e.ids + [self.eos_id])[:max_len] for e in encodings]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = True
        return EncodedBatch(ids=ids, mask=mask)

    def decode(self, ids: torch.Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Text per row: everything after the first eos is dropped, special tokens stripped."""
        rows = ids.tolist() if isinstance(ids, torch.Tensor) else [list(row) for row in ids]
        cut = [row[: row.index(self.eos_id)] if self.eos_id in row else row for row in rows]
        return self._tokenizer.decode_batch(cut, skip_special_tokens=True)

    def to_state(self) -> dict[str, str]:
        """Plain strings for a checkpoint (``torch.load(weights_only=True)`` reads them)."""
        return {
            "format": FORMAT,
            "tokenizer": self._tokenizer.to_str(),
            "specials": json.dumps(self.specials.__dict__),
        }

    @classmethod
    def from_state(cls, state: dict[str, str]) -> ReportTokenizer:
        """Rebuild from :meth:`to_state`; a foreign or damaged state is a clear error."""
        if state.get("format") != FORMAT:
            raise ValueError(
                f"not a report tokenizer state (format {state.get('format')!r}, want {FORMAT})"
            )
        specials = SpecialTokens(**json.loads(state["specials"]))
        return cls(Tokenizer.from_str(state["tokenizer"]), specials)

    def save(self, path: str | Path) -> Path:
        """Write one JSON file (the state) atomically."""
        return write_text_atomic(path, json.dumps(self.to_state()))

    @classmethod
    def load(cls, path: str | Path) -> ReportTokenizer:
        """Read a file written by :meth:`save`; the error names the file."""
        try:
            return cls.from_state(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: cannot load report tokenizer: {err}") from err


def _check_not_empty(texts: Sequence[str], normalizer: normalizers.Normalizer | None) -> None:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ReportTextError(f"report {i} is not text: {type(text).__name__}")
        seen = normalizer.normalize_str(text) if normalizer is not None else text
        if not seen.strip():
            raise ReportTextError(f"report {i} is empty")
