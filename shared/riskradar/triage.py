"""The triage use case: a batch of queued reports in, stored records and routed signals out.

Work is done per batch, not per report: the texts are embedded in one model call, and every store
or queue is written with batch requests. Per-report round trips would cost more than the embedding.

Idempotency by report id, at batch granularity: a report whose record is already in the reports
table has been triaged and signalled, and is skipped on redelivery. The record is written only
after its signal was accepted by SQS, so a stored record always means "signal sent"; the one
window left open is a crash between the two, after which the redelivered report is signalled again
(at least once; signals carry the report id so consumers can drop the repeat). Per-report
Powertools Idempotency would close nothing more and cost two DynamoDB round trips per report.

Each embedding shard written is announced on the online detector's FIFO queue before any signal
leaves. If an announcement is not accepted, the batch fails as a whole (`ShardNoticeNotSent`) and
SQS redelivers it: no report is signalled and recorded while the online detector never hears of it.
The shards already written stay as duplicates, which their readers drop by report id.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from riskradar.adapters.dynamodb import (
    ReportStore,
    SubjectReport,
    SubjectReporterCounter,
    ThemeActivityCounter,
)
from riskradar.adapters.s3 import EmbeddingShard, EmbeddingShardStore, ReportFacts, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.models import QueuedReport, ShardNotice, Signal
from riskradar.scoring import (
    Priority,
    PriorityScore,
    ScoreInputs,
    ScoringPolicy,
    score_report,
    signal_reasons,
)
from riskradar.themes import Assignment, ThemeSnapshot, Vectors, assign_to_themes

#: The theme id under which novelty-pool reports are counted.
NOVELTY_POOL = "novelty"
#: A theme's velocity counts only once its current hour holds at least this many reports.
MIN_REPORTS_FOR_VELOCITY = 5
#: Every shard notice goes to one FIFO message group: the online detector sees the shards one batch
#: at a time, in the order triage wrote them.
SHARD_NOTICE_GROUP = "embedding-shards"


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> Vectors: ...


class TriageStatus(StrEnum):
    SIGNALLED = "signalled"
    ALREADY_TRIAGED = "already_triaged"
    FAILED = "failed"


@dataclass(frozen=True)
class TriageOutcome:
    report_id: str
    status: TriageStatus
    priority: Priority | None = None
    reason: str | None = None


@dataclass
class TriageResult:
    outcomes: dict[str, TriageOutcome] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)

    def count(self, status: TriageStatus) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome.status is status)

    def by_priority(self) -> Counter[str]:
        return Counter(str(signal.priority) for signal in self.signals)


class SignalRouter:
    """One SQS queue per priority."""

    def __init__(self, queues: dict[Priority, SqsQueue]) -> None:
        self._queues = queues

    def publish(self, signals: Sequence[Signal]) -> dict[str, str | None]:
        """Message id per report id (None where SQS refused the signal)."""
        by_priority: dict[Priority, list[Signal]] = defaultdict(list)
        for signal in signals:
            by_priority[Priority(signal.priority)].append(signal)
        message_ids: dict[str, str | None] = {}
        for priority, group in by_priority.items():
            sent = self._queues[priority].send_batch(
                [signal.model_dump_json() for signal in group],
                attributes=[{"business": s.business, "priority": str(priority)} for s in group],
            )
            message_ids.update(zip((signal.report_id for signal in group), sent, strict=True))
        return message_ids


class ShardNoticeNotSent(RuntimeError):
    """The online detector's queue did not accept every shard notice; the batch must be retried."""


class ShardAnnouncer:
    """Announces written embedding shards on the online detector's FIFO queue."""

    def __init__(self, queue: SqsQueue) -> None:
        self._queue = queue

    def announce(self, notices: Sequence[ShardNotice]) -> None:
        """Send every notice, in order; raise ShardNoticeNotSent unless SQS accepted all of them."""
        if not notices:
            return
        sent = self._queue.send_batch(
            [notice.model_dump_json() for notice in notices],
            group_id=SHARD_NOTICE_GROUP,
            # The same shard is the same message: a resend (an SDK retry after a lost response) is
            # dropped by SQS within its 5-minute deduplication interval.
            deduplication_ids=[hashlib.sha256(n.shard_key.encode()).hexdigest() for n in notices],
        )
        refused = [
            notice.shard_key for notice, message_id in zip(notices, sent, strict=True) if not message_id
        ]
        if refused:
            raise ShardNoticeNotSent(
                f"the novelty queue refused {len(refused)} of {len(notices)} shard notices"
            )


@dataclass
class TriageService:
    embedder: Embedder
    reports: ReportStore
    subjects: SubjectReporterCounter
    activity: ThemeActivityCounter
    shards: EmbeddingShardStore
    snapshots: ThemeSnapshotStore
    signals: SignalRouter
    shard_notices: ShardAnnouncer
    scoring: ScoringPolicy
    subject_window: timedelta
    clock: Callable[[], datetime]

    def triage(self, batch: Sequence[QueuedReport]) -> TriageResult:
        result = TriageResult()
        # SQS may deliver the same message twice, even within one batch.
        unique = list({report.report_id: report for report in batch}.values())
        done = self.reports.existing(report.report_id for report in unique)
        for report_id in done:
            result.outcomes[report_id] = TriageOutcome(report_id, TriageStatus.ALREADY_TRIAGED)
        todo = [report for report in unique if report.report_id not in done]
        if not todo:
            return result

        vectors = self.embedder.encode([report.text for report in todo])
        snapshot = self.snapshots.current()
        assignments = assign_to_themes(vectors, snapshot)
        distinct_reporters = self._distinct_reporters(todo)
        velocity = self._theme_velocity(todo, assignments, snapshot)
        # Vectors are kept, and the online detector told, before any signal leaves: no report is
        # signalled without its embedding, nor without the detector hearing of it.
        self.shard_notices.announce(self._write_shards(todo, vectors, assignments))

        now = self.clock()
        signals = [
            self._signal(report, assignment, distinct_reporters, velocity, now)
            for report, assignment in zip(todo, assignments, strict=True)
        ]
        message_ids = self.signals.publish(signals)
        records = []
        for report, assignment, signal in zip(todo, assignments, signals, strict=True):
            message_id = message_ids.get(report.report_id)
            if message_id is None:
                result.outcomes[report.report_id] = TriageOutcome(
                    report.report_id, TriageStatus.FAILED, reason="signal queue refused the message"
                )
                continue
            records.append(report_record(report, assignment, signal, message_id))
            result.signals.append(signal)
            result.outcomes[report.report_id] = TriageOutcome(
                report.report_id, TriageStatus.SIGNALLED, Priority(signal.priority)
            )
        self.reports.put_many(records)
        return result

    def _distinct_reporters(self, reports: Sequence[QueuedReport]) -> dict[str, int]:
        observations = [
            SubjectReport(report.subject.id_hash, report.reporter.id_hash, report.created_at)
            for report in reports
            if report.subject is not None
        ]
        if not observations:
            return {}
        return self.subjects.record_and_count(observations, window=self.subject_window)

    def _theme_velocity(
        self, reports: Sequence[QueuedReport], assignments: Sequence[Assignment], snapshot: ThemeSnapshot
    ) -> dict[tuple[str, datetime], float | None]:
        """Reports in the theme's current hour over its usual hourly rate, per (theme, hour)."""
        counts: Counter[tuple[str, datetime]] = Counter(
            (_theme_key(assignment), _hour(report.created_at))
            for report, assignment in zip(reports, assignments, strict=True)
        )
        totals = self.activity.add(counts)
        velocity: dict[tuple[str, datetime], float | None] = {}
        for (theme_id, hour), total in totals.items():
            theme = snapshot.theme(theme_id)
            baseline = theme.baseline_hourly_rate if theme else None
            # Below a handful of reports an hour, a ratio is noise (1 report vs 0.1 expected is "10x").
            enough = total >= MIN_REPORTS_FOR_VELOCITY
            velocity[(theme_id, hour)] = total / baseline if baseline and enough else None
        return velocity

    def _write_shards(
        self, reports: Sequence[QueuedReport], vectors: Vectors, assignments: Sequence[Assignment]
    ) -> list[ShardNotice]:
        """One shard per day of the batch; a notice for each, in the order they were written."""
        rows_by_day: dict[Any, list[int]] = defaultdict(list)
        for row, report in enumerate(reports):
            rows_by_day[report.created_at.date()].append(row)
        notices = []
        for day, rows in sorted(rows_by_day.items()):
            key = self.shards.write(
                EmbeddingShard(
                    day=day,
                    report_ids=tuple(reports[row].report_id for row in rows),
                    theme_ids=tuple(assignments[row].theme_id or "" for row in rows),
                    created_at=np.array(
                        [reports[row].created_at.timestamp() for row in rows], dtype=np.float64
                    ),
                    vectors=vectors[rows],
                    texts=tuple(reports[row].text for row in rows),
                    facts=self._facts([reports[row] for row in rows]),
                )
            )
            notices.append(
                ShardNotice(
                    shard_key=key,
                    reports=len(rows),
                    novelty_pool_reports=sum(1 for row in rows if assignments[row].theme_id is None),
                    written_at=self.clock(),
                )
            )
        return notices

    def _facts(self, reports: Sequence[QueuedReport]) -> ReportFacts:
        return ReportFacts(
            businesses=tuple(report.business for report in reports),
            reporter_roles=tuple(str(report.reporter.role) for report in reports),
            reporter_hashes=tuple(report.reporter.id_hash for report in reports),
            subject_types=tuple(str(report.subject.type) if report.subject else "" for report in reports),
            subject_hashes=tuple(report.subject.id_hash if report.subject else "" for report in reports),
            amounts_usd=np.array(
                [
                    self.scoring.config_for(report.business).money_at_risk.usd_value(report.amount)
                    if report.amount is not None
                    else np.nan
                    for report in reports
                ],
                dtype=np.float64,
            ),
        )

    def _signal(
        self,
        report: QueuedReport,
        assignment: Assignment,
        distinct_reporters: dict[str, int],
        velocity: dict[tuple[str, datetime], float | None],
        now: datetime,
    ) -> Signal:
        theme = assignment.theme
        score = score_report(
            ScoreInputs(
                business=report.business,
                reporter_role=report.reporter.role,
                text=report.text,
                amount=report.amount,
                theme_label=theme.label if theme else None,
                theme_verdict=theme.verdict if theme else None,
                theme_emerging=theme.emerging if theme else False,
                distinct_reporters=distinct_reporters.get(report.subject.id_hash, 0) if report.subject else 0,
                subject_type=str(report.subject.type) if report.subject else None,
                window_days=self.subject_window.days,
                theme_velocity=velocity.get((_theme_key(assignment), _hour(report.created_at))),
            ),
            self.scoring.config_for(report.business),
        )
        return build_signal(
            report, theme.theme_id if theme else None, theme.label if theme else None, score, now
        )


def build_signal(
    report: QueuedReport, theme_id: str | None, theme_label: str | None, score: PriorityScore, now: datetime
) -> Signal:
    return Signal(
        report_id=report.report_id,
        business=report.business,
        priority=str(score.priority),
        score=score.score,
        reasons=signal_reasons(score),
        theme_id=theme_id,
        theme_label=theme_label,
        subject_type=str(report.subject.type) if report.subject else None,
        subject_hash=report.subject.id_hash if report.subject else None,
        reporter_role=str(report.reporter.role),
        amount=report.amount,
        created_at=report.created_at,
        triaged_at=now,
    )


def report_record(
    report: QueuedReport, assignment: Assignment, signal: Signal, message_id: str
) -> dict[str, Any]:
    """The reports-table item: redacted content, pseudonymous ids, theme, score and its reasons."""
    item: dict[str, Any] = {
        "report_id": report.report_id,
        "business": report.business,
        "reporter_role": str(report.reporter.role),
        "reporter_hash": report.reporter.id_hash,
        "text": report.text,
        "created_at": report.created_at.isoformat(),
        "received_at": report.received_at.isoformat(),
        "triaged_at": signal.triaged_at.isoformat(),
        "theme_id": assignment.theme_id or NOVELTY_POOL,
        "theme_similarity": Decimal(str(round(assignment.similarity, 4))),
        "score": signal.score,
        "priority": signal.priority,
        "reasons": [reason.model_dump() for reason in signal.reasons],
        "signal_message_id": message_id,
        "redactions": dict(report.redactions),
    }
    if report.subject is not None:
        item["subject_type"] = str(report.subject.type)
        item["subject_hash"] = report.subject.id_hash
    if report.amount is not None:
        item["amount_value"] = report.amount.value
        item["amount_currency"] = report.amount.currency
    if report.category is not None:
        item["category"] = report.category
    if report.locale is not None:
        item["locale"] = report.locale
    if assignment.nearest_theme_id is not None:
        item["nearest_theme_id"] = assignment.nearest_theme_id
    return item


def _theme_key(assignment: Assignment) -> str:
    return assignment.theme_id or NOVELTY_POOL


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
