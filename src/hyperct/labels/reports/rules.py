"""The rules labeler: lexicon + negation/uncertainty scope, offline and fast.

A report is split into sentences and clauses; every lexicon mention is classified present,
absent or uncertain by its scope; a finding is labelled by its strongest mention:
any present mention gives 1, otherwise an uncertain one gives ``RulesConfig.uncertain_label``,
otherwise an absent one gives 0, and a finding never mentioned gives -1 (0 when the report calls
the whole examination normal, e.g. "Thoracic CT examination within normal limits").

The lexicon is English: a report in another language ("Kein Emphysem") gets -1 for every
finding and a logged warning instead of labels read from words it does not understand.

Hedged mentions ("possible X", "X?", "X cannot be excluded") are labelled 1 by default: a
radiologist hedges about the cause or the significance of something seen on the images far more
often than about whether it is there at all, and expert label sets (CT-RATE) mark such findings
present. Set ``uncertain_label`` to 0 or -1 for a stricter label set.

>>> from hyperct.labels.reports.rules import label_report
>>> out = label_report("No pleural effusion. Minimal atelectasis in the left lower lobe.")
>>> out.labels["Pleural effusion"], out.labels["Atelectasis"], out.labels["Emphysema"]
(0, 1, -1)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from hyperct.labels.reports.language import check_language
from hyperct.labels.reports.lexicon import FindingRule, rules_for
from hyperct.labels.reports.scope import Status, classify_mention
from hyperct.labels.reports.text import Clause, split_clauses, split_sentences
from hyperct.tasks import LABEL_VALUES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RulesConfig:
    """Options of the rules labeler.

    uncertain_label: label given to a finding whose strongest mention is hedged (1, 0 or -1).
    convention: "ctrate" (default) labels as CT-RATE's annotators do, so labels from this
        labeler and CT-RATE's own agree on what a task means; "catalogue" follows the task
        definitions in hyperct.tasks. They differ on two findings: lymph nodes below
        pathological size ("millimetric", "< 1 cm", "not reaching pathological size") count as
        lymphadenopathy under "ctrate" only, and "bronchial wall thickening" counts as
        peribronchial thickening under "catalogue" only.
    """

    uncertain_label: int = 1
    convention: str = "ctrate"

    def __post_init__(self) -> None:
        if self.uncertain_label not in LABEL_VALUES:
            raise ValueError(
                f"uncertain_label must be one of {LABEL_VALUES}, got {self.uncertain_label!r}"
            )
        rules_for(self.convention)


@dataclass(frozen=True)
class Mention:
    """One mention of a finding: where it is, how it is spoken of, and what decided that."""

    task: str
    status: Status
    sentence_index: int
    sentence: str
    phrase: str
    cue: str


@dataclass(frozen=True)
class ReportLabels:
    """Labels of one report and, per labelled finding, the mention that decided it.

    ``not_labelled`` says why the report was not read (it is not English); then every label is
    -1 and there is no evidence.
    """

    labels: dict[str, int]
    evidence: dict[str, Mention] = field(default_factory=dict)
    not_labelled: str = ""


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


# Where the list item holding a mention ends: "Ground glass opacities in both lungs,
# hepatosteatosis in the liver" is two items, and the liver belongs to the second. An "and"
# between two sides or levels ("anterior and posterior mediastinum") joins one site.
_ITEM_END = re.compile(
    r"[,;()]|\s(?:and|as\s+well\s+as)\s(?!(?:the\s+)?(?:anterior|posterior|superior|inferior|"
    r"left|right|upper|lower|middle|medial|lateral|central|peripheral|both|bilateral)\b)",
    re.IGNORECASE,
)


def _item_end(clause: str, end: int) -> int:
    """The end of the list item holding ``clause[:end]``; a parenthesis is read through."""
    depth = 0
    for m in _ITEM_END.finditer(clause, end):
        token = m.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            return m.start()
    return len(clause)


def _excluded(rule: FindingRule, clause: str, end: int, after: int) -> bool:
    """Whether a veto of ``rule`` governs the mention ending at ``end``.

    A veto counts from ``after`` (the end of the rule's previous mention in the clause, else
    0) through the end of the mention's own list item: a site or sense named before the mention
    frames it ("In the liver, a nodule"), one named in a later item, or holding an earlier
    mention ("subcutaneous emphysema, centrilobular emphysema"), belongs to that one.
    """
    if rule.exclude_re is None:
        return False
    return bool(rule.exclude_re.search(clause, after, _item_end(clause, end)))


def find_mentions(
    rule: FindingRule, sentence: str, index: int, clauses: list[Clause] | None = None
) -> list[Mention]:
    """All mentions of one finding in one sentence, each with its status.

    ``clauses`` are the sentence's clauses when the caller has already split it.
    """
    mentions: list[Mention] = []
    normal_spans: list[tuple[int, int]] = []
    if rule.normal_re is not None:
        for m in rule.normal_re.finditer(sentence):
            normal_spans.append(m.span())
            mentions.append(
                Mention(rule.task, Status.ABSENT, index, sentence, m.group(0), "normal")
            )
    if not rule.term_re.search(sentence):
        return mentions
    for clause in clauses if clauses is not None else split_clauses(sentence):
        after = 0
        for m in rule.term_re.finditer(clause.text):
            span = (clause.start + m.start(), clause.start + m.end())
            vetoed = _excluded(rule, clause.text, m.end(), after)
            after = m.end()
            if vetoed or _overlaps(span, normal_spans):
                continue
            if rule.context is not None and not rule.context(sentence, *span):
                continue
            scope = classify_mention(
                clause.text, m.start(), m.end(), preceding=sentence[: clause.start]
            )
            mentions.append(
                Mention(rule.task, scope.status, index, sentence, m.group(0), scope.cue)
            )
    return mentions


# A whole-examination normal statement: findings it does not otherwise mention are absent.
_NORMAL_STUDY = re.compile(
    r"\b(?:thora\w*|chest)\s+(?:ct\s+)?(?:examination|study|scan|ct)\b[^.]{0,20}?"
    r"\bwithin\s+normal\s+limits|^\s*normal\s+(?:chest|thoracic|thorax)\s+ct\b",
    re.IGNORECASE,
)


def _normal_study(sentences: list[str]) -> tuple[int, str] | None:
    for i, sentence in enumerate(sentences):
        if _NORMAL_STUDY.search(sentence):
            return i, sentence
    return None


def _label_of(mention: Mention, config: RulesConfig) -> int:
    if mention.status is Status.PRESENT:
        return 1
    if mention.status is Status.ABSENT:
        return 0
    return config.uncertain_label


def label_report(text: str, config: RulesConfig | None = None) -> ReportLabels:
    """Label one report for the 18 conventional findings (1 / 0 / -1) with evidence."""
    config = config or RulesConfig()
    language = check_language(text)
    if not language.english:
        reason = f"report is not in English ({language.describe()})"
        logger.warning("%s: every finding -1; report starts %r", reason, text[:60])
        return ReportLabels(
            labels={rule.task: -1 for rule in rules_for(config.convention)}, not_labelled=reason
        )
    split = split_sentences(text)
    sentences = [(s, split_clauses(s)) for s in split]
    normal = _normal_study(split)
    labels: dict[str, int] = {}
    evidence: dict[str, Mention] = {}
    for rule in rules_for(config.convention):
        best: Mention | None = None
        best_label = -1
        for i, (sentence, clauses) in enumerate(sentences):
            for mention in find_mentions(rule, sentence, i, clauses):
                label = _label_of(mention, config)
                if label > best_label or best is None:
                    best, best_label = mention, max(label, best_label)
        if best is None and normal is not None:
            best = Mention(
                rule.task, Status.ABSENT, normal[0], normal[1], normal[1], "normal study"
            )
            best_label = 0
        labels[rule.task] = best_label
        if best is not None:
            evidence[rule.task] = best
    return ReportLabels(labels=labels, evidence=evidence)
