"""Sentence and clause splitting for radiology reports.

Negation and uncertainty are scoped to a clause, so the splitter decides how far a "no" reaches.
Report bullets (CT-RATE writes impressions as ``" item " item``, others use ``•`` or ``-``) end a
sentence; decimals (``3.5 mm``) and dates (``07.02.2022``) do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A colon ends a sentence unless the answer to a heading follows ("Pericardial effusion: none").
_SENTENCE_END = re.compile(
    r"(?<=[.!?;])\s+|(?<=:)\s+(?!(?i:none|absent|negative|nil|not\s+(?:seen|present|detected|"
    r"observed))\b)|\s*[\"\u2022\u201c\u201d]\s*|\n+|\s+-\s+(?=[A-Z])"
)
# Words that start a new clause: a negation before them does not reach past them.
_CLAUSE_BREAK = re.compile(
    r"\s*(?:,\s*)?\b(?:but|however|although|though|whereas|while|except(?: for)?|apart from|"
    r"other than|besides|in addition|additionally|yet|on the other hand|"
    r"and (?=there (?:is|are|was|were)\b))\b\s*|\s*,\s*(?=there (?:is|are|was|were)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Clause:
    """A piece of a sentence with its character offset in that sentence."""

    text: str
    start: int


def split_sentences(text: str) -> list[str]:
    """Split a report into stripped, non-empty sentences."""
    parts = _SENTENCE_END.split(text)
    return [p.strip(" \t,") for p in parts if p and p.strip(" \t,.")]


def split_clauses(sentence: str) -> list[Clause]:
    """Split a sentence at contrastive words (but, however, apart from, ...)."""
    clauses: list[Clause] = []
    start = 0
    for match in _CLAUSE_BREAK.finditer(sentence):
        if match.start() > start:
            clauses.append(Clause(sentence[start : match.start()], start))
        start = match.end()
    if start < len(sentence):
        clauses.append(Clause(sentence[start:], start))
    return clauses
