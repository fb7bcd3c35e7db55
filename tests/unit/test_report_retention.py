"""How long triage keeps a report's record: its TTL (`expires_at`), from the report's created_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from riskradar.models import PseudonymousReporter, QueuedReport, ReporterRole
from riskradar.scoring import Priority, PriorityScore
from riskradar.themes import Assignment
from riskradar.triage import (
    RECORD_KEPT_AFTER_TRIAGE,
    build_signal,
    record_expires_at,
    report_record,
)

YEAR = timedelta(days=365)
TRIAGED_AT = datetime(2026, 11, 24, 9, 0, 5, tzinfo=UTC)


def queued(created_at: datetime) -> QueuedReport:
    return QueuedReport(
        report_id="r-1",
        business="shop",
        reporter=PseudonymousReporter(id_hash="a" * 64, role=ReporterRole.USER),
        text="the seller never shipped",
        created_at=created_at,
        received_at=TRIAGED_AT - timedelta(seconds=5),
    )


def record_of(report: QueuedReport, retention: timedelta) -> dict[str, object]:
    signal = build_signal(report, None, None, PriorityScore(20, Priority.NORMAL, ()), TRIAGED_AT)
    return report_record(report, Assignment(theme=None, similarity=0.0), signal, retention=retention)


def test_a_record_expires_the_retention_period_after_its_report_was_filed() -> None:
    created_at = TRIAGED_AT - timedelta(minutes=3)

    record = record_of(queued(created_at), YEAR)

    assert record["expires_at"] == int((created_at + YEAR).timestamp())
    assert isinstance(record["expires_at"], int)  # a Number attribute: DynamoDB's TTL ignores strings


def test_a_backdated_report_is_kept_long_enough_after_triage_for_its_message_to_come_back() -> None:
    """A report filed long ago (an import, a late filing) is not dropped at once: its record is what
    keeps a redelivery or a redrive from signalling it a second time."""
    created_at = TRIAGED_AT - YEAR - timedelta(days=30)

    record = record_of(queued(created_at), YEAR)

    assert record["expires_at"] == int((TRIAGED_AT + RECORD_KEPT_AFTER_TRIAGE).timestamp())
    # A report only partly past its retention is kept whichever is later.
    partly = TRIAGED_AT - YEAR + timedelta(days=60)
    assert record_expires_at(partly, TRIAGED_AT, YEAR) == int((partly + YEAR).timestamp())
