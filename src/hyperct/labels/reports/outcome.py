"""What any report labeler returns for one report: labels, evidence rows, or a failure."""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperct.tasks import CONVENTIONAL

FINDINGS: tuple[str, ...] = tuple(t.name for t in CONVENTIONAL)
EVIDENCE_COLUMNS = ("task", "label", "status", "sentence", "phrase", "cue", "method")


@dataclass(frozen=True)
class ReportOutcome:
    """Labels of the 18 findings (None when labelling failed) and the evidence that decided them."""

    labels: dict[str, int] | None
    evidence: list[dict[str, object]] = field(default_factory=list)
    error: str = ""

    @classmethod
    def failed(cls, error: str) -> ReportOutcome:
        return cls(labels=None, error=error)
