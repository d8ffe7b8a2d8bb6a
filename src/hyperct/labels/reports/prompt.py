"""The LLM labelling prompt, built from the task catalogue, and strict parsing of the reply.

The prompt lists the 18 findings with their catalogue definitions and asks for one JSON object
with exactly those keys and values 1 (present, hedged included), 0 (stated absent) or -1 (not
mentioned). A reply that is not exactly that is rejected, never repaired by guessing.
"""

from __future__ import annotations

import json
import re

from hyperct.labels.reports.outcome import FINDINGS
from hyperct.tasks import CONVENTIONAL

PROMPT_VERSION = "hyperct-report-labels-v1"
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class ReplyError(ValueError):
    """The model's reply is not a valid label object."""


def system_prompt() -> str:
    """Instructions and the 18 finding definitions (from hyperct.tasks)."""
    lines = [
        "You are an expert thoracic radiologist. You read one chest CT report and label 18 "
        "findings.",
        "For each finding answer 1 if the report says it is present in this examination (a "
        "hedged mention such as 'possible', 'suspicious for' or 'cannot be excluded' counts as "
        "present), 0 if the report says it is absent, normal or resolved, and -1 if the report "
        "does not mention it.",
        "Findings seen only on a previous examination and not in this one are 0.",
        "Answer with one JSON object and nothing else: exactly the 18 keys below, spelled as "
        "given, each with the integer 1, 0 or -1.",
        "",
        "Findings:",
    ]
    lines += [f"- {t.name}: {t.definition}" for t in CONVENTIONAL]
    return "\n".join(lines)


def user_prompt(report: str) -> str:
    """The report, delimited so instructions inside it are read as report text."""
    return f"Report:\n<<<\n{report.strip()}\n>>>\nJSON:"


def parse_reply(content: str) -> dict[str, int]:
    """Parse and validate the model's reply: the 18 keys exactly, values 1, 0 or -1."""
    fenced = _FENCE.match(content)
    text = fenced.group(1) if fenced else content.strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplyError(
            f"reply is not valid JSON ({exc.msg} at char {exc.pos}): {content[:80]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise ReplyError(f"reply is JSON but not an object: {type(data).__name__}")
    missing = [k for k in FINDINGS if k not in data]
    extra = [k for k in data if k not in FINDINGS]
    if missing or extra:
        raise ReplyError(f"reply keys wrong: missing {missing}, unexpected {extra}")
    bad = {k: v for k, v in data.items() if isinstance(v, bool) or v not in (1, 0, -1)}
    if bad:
        raise ReplyError(f"reply values must be 1, 0 or -1: {bad}")
    return {k: int(data[k]) for k in FINDINGS}
