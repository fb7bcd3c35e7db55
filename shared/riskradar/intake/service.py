"""The intake use case: one report or a batch in, a per-report outcome out.

The handler decodes the HTTP request and maps outcomes to responses; everything between is here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger

from riskradar.intake.enqueue import EnqueueStatus, ReportEnqueuer
from riskradar.intake.preparation import prepare_for_queue, report_fingerprint
from riskradar.intake.validation import FieldError, IntakePolicy, ReportInvalid, validate_report
from riskradar.pseudonymize import IdHasher

logger = Logger(child=True)


class ItemStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    IN_PROGRESS = "in_progress"
    #: Could not be enqueued (a dependency failed); nothing was kept, the client should retry it.
    FAILED = "failed"


_FROM_ENQUEUE = {
    EnqueueStatus.ACCEPTED: ItemStatus.ACCEPTED,
    EnqueueStatus.DUPLICATE: ItemStatus.DUPLICATE,
    EnqueueStatus.CONFLICT: ItemStatus.CONFLICT,
    EnqueueStatus.IN_PROGRESS: ItemStatus.IN_PROGRESS,
}

_REASONS = {
    ItemStatus.CONFLICT: FieldError("report_id", "was already used for a different report"),
    ItemStatus.IN_PROGRESS: FieldError(
        "report_id", "the same report is being accepted right now; retry shortly"
    ),
    ItemStatus.FAILED: FieldError("(report)", "could not be accepted right now; nothing was kept, retry it"),
}


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    status: ItemStatus
    report_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": str(self.status)}
        if self.report_id is not None:
            body["report_id"] = self.report_id
        if self.errors:
            body["errors"] = [error.as_dict() for error in self.errors]
        return body


@dataclass
class IntakeService:
    policy: IntakePolicy
    hasher: IdHasher
    enqueuer: ReportEnqueuer
    clock: Callable[[], datetime]

    def submit(self, payload: Any) -> ItemOutcome:
        """One report. Raises ReportInvalid; a failing dependency propagates (the handler answers 503)."""
        return self._submit(payload, index=0, field_prefix="")

    def submit_batch(self, items: Sequence[Any]) -> list[ItemOutcome]:
        """Each item on its own: valid ones are accepted even when others are refused."""
        outcomes = []
        for index, item in enumerate(items):
            try:
                outcomes.append(self._submit(item, index=index, field_prefix=f"reports[{index}]"))
            except ReportInvalid as invalid:
                outcomes.append(ItemOutcome(index, ItemStatus.REJECTED, errors=invalid.errors))
            except Exception:  # a dependency failed for this item; the others still get their chance
                logger.exception("report could not be enqueued", extra={"batch_index": index})
                failed = _REASONS[ItemStatus.FAILED]
                outcomes.append(
                    ItemOutcome(index, ItemStatus.FAILED, errors=[_in_item(f"reports[{index}]", failed)])
                )
        return outcomes

    def _submit(self, payload: Any, *, index: int, field_prefix: str) -> ItemOutcome:
        now = self.clock()
        report = validate_report(payload, self.policy, now=now, field_prefix=field_prefix)
        queued = prepare_for_queue(report, hasher=self.hasher, received_at=now)
        enqueued = self.enqueuer.enqueue(queued, fingerprint=report_fingerprint(report))
        status = _FROM_ENQUEUE[enqueued.status]
        reason = _REASONS.get(status)
        return ItemOutcome(
            index,
            status,
            report_id=queued.report_id,
            errors=[_in_item(field_prefix, reason)] if reason else [],
            redactions=queued.redactions if status is ItemStatus.ACCEPTED else {},
        )


def _in_item(field_prefix: str, error: FieldError) -> FieldError:
    """`error` named as validation errors are: `reports[3].report_id` for a batch item."""
    if not field_prefix:
        return error
    if error.field == "(report)":
        return FieldError(field_prefix, error.reason)
    return FieldError(f"{field_prefix}.{error.field}", error.reason)


def tally(outcomes: Sequence[ItemOutcome]) -> Counter[ItemStatus]:
    return Counter(outcome.status for outcome in outcomes)
