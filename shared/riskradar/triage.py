"""The triage use case: a batch of queued reports in, stored records and routed signals out.

Work is done per batch, not per report: the texts are embedded in one model call, and every store
or queue is written with batch requests. Per-report round trips would cost more than the embedding.

Exactly one signal per report, under retries, redeliveries, crashes and timeouts
--------------------------------------------------------------------------------
SQS delivers a report at least once, and a batch may stop anywhere: the runtime crashes after the
send, a timeout cuts it off between two calls, the record write is throttled. A retry must then
neither send a second signal nor lose the first. The record is written twice, around the send:

1. the record, **pending**: everything triage decided (theme, score, reasons) and the signal
   itself, with `signal_pending_since` = now — before any signal leaves (compactly: record and
   signal compressed in one attribute; the batch in one transaction, `ReportStore.claim_pending`),
   and only where the report has no record yet: of two invocations triaging one report at once (a
   standard queue may deliver a message twice, into two batches), one owns it and the other retries
   it later, so two different scores can never become two signals on two queues;
2. the signals, to FIFO signal queues, each with MessageDeduplicationId = its report id
   (MessageGroupId too: signals need no order, so no report waits behind another);
3. the record again, **sent**, with the signal's message id (the signal body dropped).

A report whose record is sent is skipped on redelivery. A report whose record is pending is not
triaged again: its stored signal is resent, byte for byte, under the same deduplication id — SQS
drops it if the first send went through, delivers it if not — and the record is marked sent. SQS
only deduplicates for 5 minutes, so that resend happens only while the first attempt is less than
`SAFE_RESEND_WINDOW` (4 minutes: a minute of margin for clocks and latency) old. Failed records ask
for a retry after `RETRY_DELAY` (the handler shortens their visibility), so a retry lands inside
the window. Where the send was definitely refused (a 4xx answer, or never attempted) the pending
record is deleted: nothing left, the report is triaged afresh on retry.

The one window left: the invocation dies (crash, timeout, out of memory) between writing the
pending record and marking it sent, and its retry comes after the window — on AWS the record's
message only comes back after IntakeQueue's visibility timeout (900 s). Whether SQS accepted that
signal is then unknowable (no API answers "was a message with this deduplication id sent?"), so
the report is neither resent nor dropped: it goes to the intake dead-letter queue at once with the
reason `signal outcome unknown`. An operator who finds no signal for it downstream redrives it with
`riskradar dlq redrive --resend-unknown-signals`, which resends it (`RESEND_SIGNAL`).

A stored record therefore means what it says: `sent` — SQS accepted the signal; `pending` — the
report is being signalled or waits in the dead-letter queue. Consumers may still see a signal twice
only if they read one after SQS's 5-minute deduplication interval and an operator resent it.

Per-report Powertools Idempotency would not help here: its record is written before the work and
its "in progress" state has the same unknowable window; the FIFO deduplication id is what closes it.

Counters and shards under retries: the subject-reporter counter sets each reporter's time (a
repeat sets the same value) and the theme-hour counter adds report fingerprints to a set (see
riskradar.adapters.dynamodb), so a batch counted twice counts once. A retried batch writes its
embedding shard again under a new key; readers drop repeated report ids (the online detector
remembers the ids it observed, recluster keeps each id once). Each embedding shard written is
announced on the online detector's FIFO queue before any signal leaves. If an announcement is not
accepted, the batch fails as a whole (`ShardNoticeNotSent`) before any record is written.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from riskradar.adapters.dynamodb import (
    PendingRecord,
    RecordState,
    ReportStore,
    SignalState,
    SubjectReport,
    SubjectReporterCounter,
    ThemeActivityCounter,
)
from riskradar.adapters.s3 import EmbeddingShard, EmbeddingShardStore, ReportFacts, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue, send_failure
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
#: SQS drops a FIFO message whose deduplication id it accepted in the last 5 minutes.
SIGNAL_DEDUPLICATION_INTERVAL = timedelta(minutes=5)
#: A pending signal is resent only while its first send is younger than this (see the docstring).
SAFE_RESEND_WINDOW = timedelta(minutes=4)
#: How soon a failed record comes back (the handler shortens its visibility): well inside the window.
RETRY_DELAY = timedelta(seconds=30)
#: SQS keeps a message 14 days (the MessageRetentionPeriod of every queue in template.yaml).
SQS_MESSAGE_RETENTION = timedelta(days=14)
#: However old a report is when it is triaged (a backdated filing, an import of old complaints), its
#: record is kept at least this long after triage. The record is what makes triage idempotent: a
#: report that comes back once its record has expired is triaged afresh and signalled a second time.
#: Its message can come back for the rest of its 14 days in IntakeQueue, then for 14 days from the
#: intake dead-letter queue (triage dead-letters a new copy), then for 14 more once an operator
#: redrives it (`riskradar dlq redrive` sends a new copy too).
RECORD_KEPT_AFTER_TRIAGE = 3 * SQS_MESSAGE_RETENTION
_SAFE_SQS_ID = re.compile(r"[!-~]{1,128}")


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> Vectors: ...


class TriageStatus(StrEnum):
    SIGNALLED = "signalled"
    ALREADY_TRIAGED = "already_triaged"
    #: Not done; a retry may succeed.
    FAILED = "failed"
    #: A signal may or may not have been sent too long ago to resend safely: no retry can tell.
    SIGNAL_OUTCOME_UNKNOWN = "signal_outcome_unknown"
    #: Another report already holds this report id (intake deduplicates for a day only): no retry helps.
    REPORT_ID_REUSED = "report_id_reused"


@dataclass(frozen=True)
class TriageOutcome:
    report_id: str
    status: TriageStatus
    priority: Priority | None = None
    reason: str | None = None


@dataclass
class TriageResult:
    outcomes: dict[str, TriageOutcome] = field(default_factory=dict)

    def count(self, status: TriageStatus) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome.status is status)

    def by_priority(self) -> Counter[str]:
        """Signals sent in this batch, by priority."""
        return Counter(
            str(outcome.priority)
            for outcome in self.outcomes.values()
            if outcome.status is TriageStatus.SIGNALLED
        )


class Delivery(StrEnum):
    #: SQS accepted the signal (or dropped it as a repeat of one it accepted).
    SENT = "sent"
    #: SQS refused it, or it was never sent: there is no such signal.
    REFUSED = "refused"
    #: The send failed in a way that does not tell whether SQS accepted it (5xx, connection lost).
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SendResult:
    delivery: Delivery
    message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class OutgoingSignal:
    report_id: str
    priority: Priority
    business: str
    #: The message body: the signal's JSON, kept in the pending record so a resend is identical.
    body: str
    #: The report's record as it is stored once the signal is sent (without the pending fields).
    record: dict[str, Any] = field(default_factory=dict, compare=False)


def signal_message_id(report_id: str) -> str:
    """The signal's MessageDeduplicationId and MessageGroupId: the report id where SQS allows it
    (1-128 printable ASCII characters), else a digest of it."""
    if _SAFE_SQS_ID.fullmatch(report_id):
        return report_id
    return hashlib.sha256(report_id.encode()).hexdigest()


class SignalRouter:
    """One FIFO SQS queue per priority; each signal deduplicated by its report id."""

    def __init__(self, queues: dict[Priority, SqsQueue]) -> None:
        self._queues = queues

    def publish(self, signals: Sequence[OutgoingSignal]) -> dict[str, SendResult]:
        """Send each signal; return what became of it, by report id. Never raises for a failed send:
        after the first failed request the rest are not attempted (REFUSED)."""
        results: dict[str, SendResult] = {}
        by_priority: dict[Priority, list[OutgoingSignal]] = defaultdict(list)
        for signal in signals:
            by_priority[signal.priority].append(signal)
        failure: SendResult | None = None
        for priority, group in by_priority.items():
            for start in range(0, len(group), _SEND_BATCH):
                chunk = group[start : start + _SEND_BATCH]
                if failure is not None:
                    results.update(
                        (s.report_id, SendResult(Delivery.REFUSED, error="not sent: " + str(failure.error)))
                        for s in chunk
                    )
                    continue
                try:
                    sent = self._queues[priority].send_batch(
                        [signal.body for signal in chunk],
                        attributes=[{"business": s.business, "priority": str(priority)} for s in chunk],
                        group_ids=[signal_message_id(s.report_id) for s in chunk],
                        deduplication_ids=[signal_message_id(s.report_id) for s in chunk],
                    )
                except Exception as error:
                    read = send_failure(error)
                    if read is None:
                        raise
                    failure = SendResult(
                        Delivery.REFUSED if read.refused else Delivery.UNKNOWN, error=read.summary
                    )
                    results.update((s.report_id, failure) for s in chunk)
                    continue
                for signal, message_id in zip(chunk, sent, strict=True):
                    results[signal.report_id] = (
                        SendResult(Delivery.SENT, message_id)
                        if message_id
                        else SendResult(Delivery.REFUSED, error="the signal queue refused the message")
                    )
        return results


#: SendMessageBatch takes at most ten entries: one request per chunk, so a failure is per chunk.
_SEND_BATCH = 10


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
    #: How long a report's record is kept (ReportRetentionDays; see record_expires_at).
    record_retention: timedelta
    clock: Callable[[], datetime]

    def triage(self, batch: Sequence[QueuedReport], *, resend_unknown: Collection[str] = ()) -> TriageResult:
        """Triage a batch (see the module docstring). `resend_unknown`: report ids whose pending
        signal an operator asked to resend even past the safe window (their outcome is unknown)."""
        result = TriageResult()
        # SQS may deliver the same message twice, even within one batch.
        unique = list({report.report_id: report for report in batch}.values())
        fresh, resend = self._sort_out(unique, result, resend_unknown)
        outgoing = self._pending_signals(resend)
        owned: set[str] = set()
        if fresh:
            pending = self._triage_fresh(fresh)
            # The records exist, pending, before any signal leaves (see the module docstring);
            # a report another invocation claimed meanwhile is its to signal.
            taken = self.reports.claim_pending(pending)
            for report_id in taken:
                result.outcomes[report_id] = TriageOutcome(
                    report_id, TriageStatus.FAILED, reason="another invocation is triaging this report; retry"
                )
            owned = {item.report_id for item in pending} - taken
            outgoing += [_outgoing(item) for item in pending if item.report_id in owned]
        self._send_and_record(outgoing, owned, result)
        for report_id in resend:
            result.outcomes.setdefault(
                report_id,
                TriageOutcome(report_id, TriageStatus.FAILED, reason="pending record changed; retry"),
            )
        return result

    def _sort_out(
        self, reports: Sequence[QueuedReport], result: TriageResult, resend_unknown: Collection[str]
    ) -> tuple[list[QueuedReport], list[str]]:
        """Reports never triaged, and report ids whose pending signal is to be resent; the outcome
        of the others (already triaged, or their signal's outcome unknown) goes into `result`."""
        states = self.reports.states(report.report_id for report in reports)
        now = self.clock()
        fresh: list[QueuedReport] = []
        resend: list[str] = []
        for report in reports:
            report_id = report.report_id
            state = states.get(report_id)
            if state is None:
                fresh.append(report)
            elif state.content_digest is not None and state.content_digest != content_digest(report):
                result.outcomes[report_id] = TriageOutcome(
                    report_id,
                    TriageStatus.REPORT_ID_REUSED,
                    reason=(
                        "report id reused: another report is stored under this id (intake deduplicates "
                        "report ids for a day); this one was not triaged. Send it again under a new id"
                    ),
                )
            elif state.signal is SignalState.SENT:
                result.outcomes[report_id] = TriageOutcome(report_id, TriageStatus.ALREADY_TRIAGED)
            elif _safe_to_resend(state, now) or report_id in resend_unknown:
                resend.append(report_id)
            else:
                since = state.pending_since.isoformat() if state.pending_since else "an unknown time"
                result.outcomes[report_id] = TriageOutcome(
                    report_id,
                    TriageStatus.SIGNAL_OUTCOME_UNKNOWN,
                    reason=(
                        f"signal outcome unknown: a signal for this report may have been sent at {since}, "
                        f"longer than {SAFE_RESEND_WINDOW} ago (SQS deduplicates for "
                        f"{SIGNAL_DEDUPLICATION_INTERVAL}); if the signal consumers have no signal for it, "
                        "redrive it with `riskradar dlq redrive --resend-unknown-signals`"
                    ),
                )
        return fresh, resend

    def _pending_signals(self, report_ids: Sequence[str]) -> list[OutgoingSignal]:
        """The stored signals of these pending records, to be resent as they are."""
        # A record missing here is not pending any more: sent meanwhile by a concurrent delivery
        # (its outcome says retry).
        return [_outgoing(item) for item in self.reports.pending(report_ids).values()]

    def _send_and_record(
        self, outgoing: Sequence[OutgoingSignal], fresh_ids: set[str], result: TriageResult
    ) -> None:
        """Send the signals; mark the records of those SQS accepted sent; forget the pending records
        of fresh reports whose signal certainly did not go out."""
        sends = self.signals.publish(outgoing)
        records: list[dict[str, Any]] = []
        never_sent: list[str] = []
        for signal in outgoing:
            sent = sends[signal.report_id]
            if sent.delivery is Delivery.SENT:
                records.append(
                    signal.record
                    | {"signal_state": str(SignalState.SENT), "signal_message_id": sent.message_id}
                )
                result.outcomes[signal.report_id] = TriageOutcome(
                    signal.report_id, TriageStatus.SIGNALLED, signal.priority
                )
                continue
            if sent.delivery is Delivery.REFUSED and signal.report_id in fresh_ids:
                # Nothing went out for it, ever: forget the pending record, triage it afresh next time.
                never_sent.append(signal.report_id)
            result.outcomes[signal.report_id] = TriageOutcome(
                signal.report_id,
                TriageStatus.FAILED,
                reason=f"signal not sent ({sent.delivery}): {sent.error}",
            )
        self.reports.put_many(records)
        if never_sent:
            self.reports.delete_many(never_sent)

    def _triage_fresh(self, reports: Sequence[QueuedReport]) -> list[PendingRecord]:
        """Embed, assign, count, shard, announce and score; the pending record of each report."""
        # The distinct-reporter counts and the snapshot do not depend on the embeddings: they are
        # fetched while the model runs (its inference releases the GIL), not after it.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="triage-io") as io:
            counting = io.submit(self._distinct_reporters, reports)
            reading = io.submit(self.snapshots.current)
            vectors = self.embedder.encode([report.text for report in reports])
            snapshot = reading.result()
            distinct_reporters = counting.result()
        assignments = assign_to_themes(vectors, snapshot)
        velocity = self._theme_velocity(reports, assignments, snapshot)
        # Vectors are kept, and the online detector told, before any signal leaves: no report is
        # signalled without its embedding, nor without the detector hearing of it.
        self.shard_notices.announce(self._write_shards(reports, vectors, assignments))
        now = self.clock()
        pending: list[PendingRecord] = []
        for report, assignment in zip(reports, assignments, strict=True):
            signal = self._signal(report, assignment, distinct_reporters, velocity, now)
            pending.append(
                PendingRecord(
                    report_record(report, assignment, signal, retention=self.record_retention),
                    signal.model_dump_json(),
                    now,
                )
            )
        return pending

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
        members: dict[tuple[str, datetime], list[str]] = defaultdict(list)
        for report, assignment in zip(reports, assignments, strict=True):
            members[(_theme_key(assignment), _hour(report.created_at))].append(report.report_id)
        totals = self.activity.add(members)
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


def content_digest(report: QueuedReport) -> str:
    """What makes a report that report, hashed: every field but when intake received it (a
    redelivery, a redrive or a client's retry carries the same digest; another report under the
    same id does not)."""
    canonical = report.model_dump_json(exclude={"received_at"})
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def record_expires_at(created_at: datetime, triaged_at: datetime, retention: timedelta) -> int:
    """When DynamoDB may delete a report's record: its TTL attribute `expires_at`, in epoch seconds.

    Retention is about how old the report is, so it counts from when the report was filed
    (`created_at`, the time the recluster window and the theme statistics go by), not from when
    triage happened to see it. A backdated report is still kept RECORD_KEPT_AFTER_TRIAGE after its
    triage, so that every copy of its message that can come back finds its record (see there); the
    retention period's minimum (template.yaml) is far above that floor. Its embedding shard is kept
    `retention` from when triage wrote it (S3 lifecycle counts from an object's creation).
    """
    return int(max(created_at + retention, triaged_at + RECORD_KEPT_AFTER_TRIAGE).timestamp())


def report_record(
    report: QueuedReport, assignment: Assignment, signal: Signal, *, retention: timedelta
) -> dict[str, Any]:
    """The reports-table item: redacted content, pseudonymous ids, theme, score and its reasons,
    and when it expires (the signal's state is added by the caller)."""
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
        "redactions": dict(report.redactions),
        "content_digest": content_digest(report),
        "expires_at": record_expires_at(report.created_at, signal.triaged_at, retention),
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


def _outgoing(pending: PendingRecord) -> OutgoingSignal:
    """The signal a pending record holds, and the record it becomes once the signal is sent."""
    return OutgoingSignal(
        pending.report_id,
        Priority(pending.record["priority"]),
        str(pending.record["business"]),
        pending.signal_body,
        record=dict(pending.record),
    )


def _safe_to_resend(state: RecordState, now: datetime) -> bool:
    return state.pending_since is not None and now - state.pending_since < SAFE_RESEND_WINDOW


def _theme_key(assignment: Assignment) -> str:
    return assignment.theme_id or NOVELTY_POOL


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
