"""Negation, uncertainty and history scope of a finding mention inside its clause.

A mention is *absent* when a negation cue governs it ("no X", "X was not observed", "X has
resolved", "resolution of X", "previously seen X ... not detected in this examination") or when
it is placed in the prior study only ("In the previous examination, there is X"), *uncertain*
when a hedge governs it ("possible X", "X?", "X cannot be excluded"), and *present* otherwise.
Cues reach only within the clause (see :mod:`hyperct.labels.reports.text`) and a few words
around the mention; a preceding negation stops at its own verb ("No A was seen, X ...") and at a
new noun phrase with a severity word ("No A, mild X"). A denied change ("no significant change in
X") denies no finding, and a regression qualified as incomplete ("almost completely resolved")
leaves the finding present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    """How a report speaks of a finding in one mention."""

    PRESENT = "present"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class ScopeResult:
    """The status of a mention and the cue that decided it ("" when none)."""

    status: Status
    cue: str


_I = re.IGNORECASE
# Hedges that contain a negation word but mean "possible": checked before any negation.
# "X could not be distinguished" hedges; "X was not distinguished" (not seen) is a negation.
_NEGATED_HEDGE = re.compile(
    r"\b(?:can ?not|could not|couldn't|can't|unable to)\s+(?:be\s+)?(?:clearly\s+)?"
    r"(?:excluded|ruled out|rule out|exclude|distinguished|differentiated|evaluated)\b|"
    r"\bnot\s+(?:be\s+)?(?:clearly\s+)?(?:excluded|ruled out|rule out|exclude)\b",
    _I,
)
_HEDGE = re.compile(
    r"\?|\b(?:possibl[ey]|probabl[ey]|suspicious|suspected|suspicion|questionable|"
    r"may|might|likely|differential diagnosis|suggestive of|favou?r(?:ed|s)?|"
    r"cannot be excluded|indeterminate|equivocal|presum\w+|considered (?:as|to be)?|"
    r"to be evaluated|doubtful)\b",
    _I,
)
# Phrases that look like negations but deny a change, not a finding: "no significant change",
# "has not shown any significant size change", "did not demonstrate progression".
_PSEUDO_NEGATION = re.compile(
    r"\b(?:no|not|without)\s+(?:(?:show\w*|demonstrat\w*|reveal\w*|display\w*|exhibit\w*|"
    r"undergo\w*|undergone)\s+)?(?:(?:a|an|any|significant|apparent|marked|obvious|evident|"
    r"notable|remarkable|major|size|dimensional|morphological|interval)\s+){0,3}"
    r"(?:change|changes|difference|differences|progression|regression|"
    r"increase in (?:size|number)|decrease in (?:size|number))\b|"
    r"\bnot\s+(?:only|significantly changed|changed)\b",
    _I,
)
_PRE_NEGATION = re.compile(
    r"\b(?:no|not|without|absence of|absent|negative for|free of|neither|nor|none|"
    r"no longer|no evidence of|rule out|ruled out)\b",
    _I,
)
_VERB = (
    r"(?:observed|detected|seen|identified|noted|present|visualized|visualised|found|evident|"
    r"apparent|demonstrated|encountered|visible|determined|distinguished|recorded|shown|"
    r"monitored|considered|described|noticed|reached|reach|developed|followed|appreciated|"
    r"discerned|depicted|"
    # "selected" is translated Turkish for "discerned": "not selected in this examination".
    r"selected)"
)
_POST_NEGATION = re.compile(
    r"\b(?:(?:is|are|was|were|has|have|had|been|be|did|does|do|could|can)\s+)*"
    r"(?:not|n't|no longer)\s+(?:\w+\s+){0,2}?" + _VERB + r"\b|"
    r"\b(?:absent|excluded|ruled out|resolved|disappeared|not present|removed|"
    r"regressed completely|completely regressed|completely resolved|no longer|unlikely)\b|"
    r"\b(?:full|complete|total)\s+(?:regression|resolution)\b|"
    r"\b(?:has|have)\s+(?:regressed|been\s+lost)\W*$|"
    # A report's answer to a heading: "Pericardial effusion: none".
    r"^\W*(?:none|negative|nil)\b|"
    # "Pericardial effusion - no thickening was detected": the dash joins the two findings.
    r"^\W*-\s*no\s+(?:\w+\s+){0,2}?(?:was|were|is|are)\s+" + _VERB + r"\b",
    _I,
)
# "... not observed in the current examination": reaches back over the whole clause.
_NOT_NOW = re.compile(
    r"\b(?:not|no longer)\s+(?:\w+\s+){0,3}?" + _VERB + r"\s+(?:\w+\s+){0,2}?(?:in|on)\s+"
    r"(?:this|the\s+current|the\s+present|current|present|the\s+last)\b|"
    r"\b(?:resolved|regressed|disappeared|removed|lost)\s+(?:completely\s+)?(?:in|on)\s+"
    r"(?:this|the\s+current|the\s+present|current)\b",
    _I,
)
# What ends a negation's reach before the mention: the negated phrase got its own verb ("No
# nodule was detected, ground glass ...", "X is not seen in this examination, and Y ..."), or a
# comma or "and" opens a new noun phrase with a severity word, which a negated list does not
# carry ("No effusion, mild peribronchial ..."; "focal", "new" or "patchy" often do: "no
# effusion, focal consolidation or pneumothorax").
_NEGATION_CLOSED = re.compile(
    r"(?:^\s*|\b(?:is|are|was|were|been)\s+)(?:\w+\s+)?" + _VERB + r"\b[^,;]*?(?:[,;]|\band\b)|"
    r"(?:[,;]|\band\b)\s*(?:there\s+(?:is|are)\s+)?(?:an?\s+)?(?:mild|mildly|minimal|minimally|"
    r"moderate|marked|severe|slight|slightly|small|trace)\b",
    _I,
)
# A noun that says the finding has gone, right before it: "resolution of the effusion",
# "loss of consolidation in this examination". Only a word or two may lie between ("loss of
# aeration with atelectasis" keeps the atelectasis), and no conjunction.
_GONE_BEFORE = re.compile(
    r"\b(?:resolution|disappearance|clearing|clearance|loss)\s+of(?:\s+the)?"
    r"(?:\s+(?!and\b|or\b|with\b)[\w-]+)?\s*$",
    _I,
)
# A qualifier that leaves a residue of what regressed: "almost completely disappeared",
# "nearly complete regression", "largely resolved" still describe a finding that is there.
_RESIDUAL = re.compile(
    r"\b(?:almost|nearly|near|largely|mostly|partially|partly)[\s-]+"
    r"(?:(?:complete(?:ly)?|total(?:ly)?|full(?:y)?)\s+)?$",
    _I,
)
# A negation followed by these phrases speaks of the past exam, not of this one.
_PAST_EXAM = re.compile(
    r"^\W*(?:\w+\s+){0,2}?(?:in|on|at)\s+(?:the\s+)?(?:previous|prior|former|earlier|old|"
    r"last|preceding)\b",
    _I,
)
# A mention placed in the prior study only: "In the previous examination, there is X",
# "the appearances previously observed as X (are now ...)".
_PRIOR_ONLY = re.compile(
    r"\b(?:in|on)\s+(?:the\s+)?(?:previous|prior|former|earlier)\s+(?:examination|exam|ct|study|scan)"
    r"(?:\s+of\s+the\s+patient)?\s*,?\s*there\s+(?:is|are|was|were)\s+(?:[\w-]+\s+){0,4}$|"
    r"\bpreviously\s+(?:observed|seen|described|detected|noted|reported)\s+as\s+(?:an?\s+)?$",
    _I,
)
_WORD = re.compile(r"\S+")
PRE_WINDOW_WORDS = 12
POST_WINDOW_WORDS = 14


def _last_words(text: str, n: int) -> str:
    words = _WORD.findall(text)
    return " ".join(words[-n:])


def _first_words(text: str, n: int) -> str:
    words = _WORD.findall(text)
    return " ".join(words[:n])


def _residual(text: str, start: int) -> bool:
    """Whether the regression cue at ``text[start:]`` is qualified as incomplete."""
    return bool(_RESIDUAL.search(text[:start]))


def classify_mention(clause: str, start: int, end: int, preceding: str = "") -> ScopeResult:
    """Classify the mention at ``clause[start:end]`` as present, absent or uncertain.

    ``preceding`` is the sentence's text before the clause. Only a prior-study frame reaches
    over the clause break from it: "In the previous examination, there is X" splits before
    "there is", yet X is still placed in the prior study.
    """
    before = _PSEUDO_NEGATION.sub(" ", _last_words(clause[:start], PRE_WINDOW_WORDS))
    after = _PSEUDO_NEGATION.sub(" ", _first_words(clause[end:], POST_WINDOW_WORDS))
    hedge = _NEGATED_HEDGE.search(before + " " + after)
    if hedge:
        return ScopeResult(Status.UNCERTAIN, hedge.group(0))
    prior = _PRIOR_ONLY.search(preceding + clause[:start])
    if prior:
        return ScopeResult(Status.ABSENT, prior.group(0).strip())
    now = _NOT_NOW.search(clause[end:])
    if now and not _residual(clause[end:], now.start()):
        return ScopeResult(Status.ABSENT, now.group(0))
    post = _POST_NEGATION.search(after)
    if post and not _PAST_EXAM.match(after[post.end() :]) and not _residual(after, post.start()):
        return ScopeResult(Status.ABSENT, post.group(0))
    gone = _GONE_BEFORE.search(before)
    if gone:
        return ScopeResult(Status.ABSENT, gone.group(0).strip())
    negations = list(_PRE_NEGATION.finditer(before))
    if negations and not _NEGATION_CLOSED.search(before[negations[-1].end() :]):
        return ScopeResult(Status.ABSENT, negations[-1].group(0))
    hedge = _HEDGE.search(clause)
    if hedge:
        return ScopeResult(Status.UNCERTAIN, hedge.group(0))
    return ScopeResult(Status.PRESENT, "")
