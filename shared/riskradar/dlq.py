"""Inspecting and redriving a stack's dead-letter queues (`riskradar dlq list | redrive`).

A stack's dead-letter queues are found from the stack itself: every queue that another queue's
RedrivePolicy names. Each is known by the short name of its source queue (IntakeQueue → `intake`,
SignalCriticalQueue → `signal-critical`, NoveltyQueue → `novelty`).

**list** peeks: it receives the messages with a short visibility timeout, reads them and makes them
visible again at once, so nothing is consumed (a consumer polling that queue at the same moment
would find them briefly invisible; dead-letter queues have none). On a FIFO queue SQS hands out no
further messages of a message group while some are in flight: a listing shows at most 10 messages
per group (the depth counts them all).

**redrive** moves messages back to the queue they came from — the `riskradar.dlq.source-queue`
attribute a consumer put on them (riskradar.dead_letters), else the one queue whose redrive policy
names this dead-letter queue — with their own message attributes but without the dead-letter ones,
and deletes each from the dead-letter queue only once the send succeeded (a delete that fails
leaves a copy that a later redrive sends again; consumers skip what they already did). Copies of
the same source message (a consumer's letter and SQS's own move of the same message) are sent
once. A FIFO message keeps its message group and gets a deduplication id of its own, derived from
its dead-letter message id (a retried redrive of it is dropped by SQS, not delivered twice).
`--resend-unknown-signals` marks the intake messages dead-lettered as "signal outcome unknown"
(riskradar.triage) so that triage resends their signal; use it after checking that the signal
consumers never got one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from riskradar.adapters.queue_admin import QueueInfo, ReceivedMessage
from riskradar.dead_letters import (
    ATTRIBUTE_PREFIX,
    DEAD_LETTERED_AT,
    FIRST_RECEIVED_AT,
    REASON,
    RECEIVE_COUNT,
    RESEND_SIGNAL,
    SOURCE_MESSAGE_ID,
    SOURCE_QUEUE,
)

#: The reason triage gives a report whose signal may have gone out too long ago to resend safely.
SIGNAL_OUTCOME_UNKNOWN_PREFIX = "signal outcome unknown"
#: How long a peeked or moving message stays invisible to others.
_PEEK_VISIBILITY_S = 30
_MOVE_VISIBILITY_S = 120


class NoSuchDeadLetterQueue(LookupError):
    """The stack has no dead-letter queue of that name."""


@dataclass(frozen=True)
class DeadLetterQueue:
    #: The short name of its source queue: `intake`, `novelty`, `signal-critical` ...
    name: str
    queue: QueueInfo
    sources: tuple[QueueInfo, ...]


def short_name(logical_id: str) -> str:
    """`SignalCriticalQueue` → `signal-critical`; `IntakeDeadLetterQueue` → `intake`."""
    stem = re.sub(r"(DeadLetter)?Queue$", "", logical_id) or logical_id
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", stem).lower()


def dead_letter_queues(queues: Sequence[QueueInfo]) -> list[DeadLetterQueue]:
    """The queues that some queue's redrive policy names, each with its source queues."""
    by_arn = {queue.arn: queue for queue in queues}
    sources: dict[str, list[QueueInfo]] = {}
    for queue in queues:
        if queue.redrive is not None and queue.redrive.dead_letter_target_arn in by_arn:
            sources.setdefault(queue.redrive.dead_letter_target_arn, []).append(queue)
    found = []
    for arn, feeding in sources.items():
        name = short_name(feeding[0].logical_id) if len(feeding) == 1 else short_name(by_arn[arn].logical_id)
        found.append(DeadLetterQueue(name, by_arn[arn], tuple(feeding)))
    return sorted(found, key=lambda dlq: dlq.name)


def select(queues: Sequence[DeadLetterQueue], name: str) -> DeadLetterQueue:
    """The dead-letter queue called `name` (short name, or the logical id of it or of its source)."""
    for dlq in queues:
        ids = {dlq.name, dlq.queue.logical_id, *(source.logical_id for source in dlq.sources)}
        if name in ids:
            return dlq
    raise NoSuchDeadLetterQueue(
        f"no dead-letter queue {name!r}; there are: {', '.join(q.name for q in queues)}"
    )


@dataclass(frozen=True)
class DeadLetter:
    """One message in a dead-letter queue, as `list` shows it."""

    message_id: str
    body: str
    #: The message's own attributes (without the dead-letter ones).
    own_attributes: Mapping[str, str]
    #: Why it failed, when a consumer dead-lettered it; None when SQS's redrive moved it.
    reason: str | None
    source_queue_arn: str | None
    #: The id the message had on its source queue (SQS's own move keeps it).
    source_message_id: str
    receive_count: int | None
    first_received_at: datetime | None
    #: When it was dead-lettered (a consumer's letter) or first sent (SQS's move keeps that).
    since: datetime | None
    group_id: str | None

    @classmethod
    def from_message(cls, message: ReceivedMessage) -> DeadLetter:
        attributes = message.attributes
        system = message.system
        receive_count = attributes.get(RECEIVE_COUNT)
        return cls(
            message_id=message.message_id,
            body=message.body,
            own_attributes={k: v for k, v in attributes.items() if not k.startswith(ATTRIBUTE_PREFIX)},
            reason=attributes.get(REASON),
            source_queue_arn=attributes.get(SOURCE_QUEUE),
            source_message_id=attributes.get(SOURCE_MESSAGE_ID, message.message_id),
            receive_count=int(receive_count) if receive_count else _moved_receive_count(system),
            first_received_at=_parse_time(attributes.get(FIRST_RECEIVED_AT))
            or _epoch_ms(system.get("ApproximateFirstReceiveTimestamp")),
            since=_parse_time(attributes.get(DEAD_LETTERED_AT)) or _epoch_ms(system.get("SentTimestamp")),
            group_id=system.get("MessageGroupId"),
        )

    @property
    def reason_text(self) -> str:
        if self.reason is not None:
            return self.reason
        return (
            "no reason recorded: SQS's redrive policy moved it (the consumer crashed or timed out on "
            "its last attempt, or could not dead-letter it); see the function's logs"
        )

    def age(self, now: datetime) -> timedelta | None:
        return now - self.since if self.since is not None else None


@dataclass(frozen=True)
class Listing:
    queue: DeadLetterQueue
    visible: int
    in_flight: int
    letters: tuple[DeadLetter, ...]


@dataclass
class RedriveResult:
    queue: DeadLetterQueue
    dry_run: bool
    #: (dead letter, source queue logical id) moved, or that would be in a dry run.
    moved: list[tuple[DeadLetter, str]] = field(default_factory=list)
    #: Further copies of a source message already moved in this run (deleted, not sent).
    duplicates: list[DeadLetter] = field(default_factory=list)
    #: Letters left in the dead-letter queue, with why.
    failed: list[tuple[DeadLetter, str]] = field(default_factory=list)


class Admin(Protocol):
    def depth(self, queue_url: str) -> tuple[int, int]: ...

    def receive(self, queue_url: str, *, max_messages: int, visibility_s: int) -> list[ReceivedMessage]: ...

    def release(self, queue_url: str, receipt_handles: Sequence[str]) -> None: ...

    def send(
        self,
        queue_url: str,
        body: str,
        *,
        attributes: Mapping[str, str],
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str: ...

    def delete(self, queue_url: str, receipt_handle: str) -> None: ...


class DeadLetterOperator:
    """`riskradar dlq` over one stack's dead-letter queues."""

    def __init__(
        self,
        queues: Sequence[QueueInfo],
        admin: Admin,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._all = list(queues)
        self.queues = dead_letter_queues(queues)
        self._admin = admin
        self._clock = clock

    def select(self, name: str) -> DeadLetterQueue:
        return select(self.queues, name)

    def list(self, dlq: DeadLetterQueue, *, limit: int = 100) -> Listing:
        """Depth and up to `limit` messages, peeked (made visible again before returning)."""
        visible, in_flight = self._admin.depth(dlq.queue.url)
        received: list[ReceivedMessage] = []
        try:
            while len(received) < limit:
                batch = self._admin.receive(
                    dlq.queue.url, max_messages=limit - len(received), visibility_s=_PEEK_VISIBILITY_S
                )
                if not batch:
                    break
                received.extend(batch)
        finally:
            self._admin.release(dlq.queue.url, [message.receipt_handle for message in received])
        letters = tuple(DeadLetter.from_message(message) for message in received)
        return Listing(dlq, visible, in_flight, letters)

    def redrive(
        self,
        dlq: DeadLetterQueue,
        *,
        max_messages: int | None = None,
        dry_run: bool = False,
        resend_unknown_signals: bool = False,
    ) -> RedriveResult:
        """Move up to `max_messages` letters back to their source queues (see the module docstring)."""
        result = RedriveResult(dlq, dry_run)
        sent_sources: set[str] = set()
        held: list[str] = []  # receipt handles to release at the end (dry run, failures)
        try:
            while max_messages is None or len(result.moved) < max_messages:
                wanted = 10 if max_messages is None else max_messages - len(result.moved)
                batch = self._admin.receive(
                    dlq.queue.url, max_messages=wanted, visibility_s=_MOVE_VISIBILITY_S
                )
                if not batch:
                    break
                for message in batch:
                    letter = DeadLetter.from_message(message)
                    if letter.source_message_id in sent_sources:
                        if dry_run:
                            held.append(message.receipt_handle)
                        else:
                            self._admin.delete(dlq.queue.url, message.receipt_handle)
                        result.duplicates.append(letter)
                        continue
                    target = self._source_of(letter, dlq)
                    if isinstance(target, str):
                        result.failed.append((letter, target))
                        held.append(message.receipt_handle)
                        continue
                    sent_sources.add(letter.source_message_id)
                    if dry_run:
                        result.moved.append((letter, target.logical_id))
                        held.append(message.receipt_handle)
                        continue
                    try:
                        self._admin.send(
                            target.url,
                            letter.body,
                            attributes=self._attributes(letter, resend_unknown_signals),
                            group_id=(letter.group_id or "redriven") if target.fifo else None,
                            deduplication_id=f"redrive-{letter.message_id}" if target.fifo else None,
                        )
                    except Exception as error:
                        sent_sources.discard(letter.source_message_id)
                        result.failed.append((letter, f"not sent to {target.logical_id}: {error}"))
                        held.append(message.receipt_handle)
                        continue
                    result.moved.append((letter, target.logical_id))
                    try:
                        self._admin.delete(dlq.queue.url, message.receipt_handle)
                    except Exception as error:
                        result.failed.append(
                            (letter, f"sent, but not deleted (a later redrive resends it): {error}")
                        )
        finally:
            if held:
                self._admin.release(dlq.queue.url, held)
        return result

    def _source_of(self, letter: DeadLetter, dlq: DeadLetterQueue) -> QueueInfo | str:
        if letter.source_queue_arn is not None:
            for queue in self._all:
                if queue.arn == letter.source_queue_arn:
                    return queue
            return f"its source queue {letter.source_queue_arn} is not in this stack"
        if len(dlq.sources) == 1:
            return dlq.sources[0]
        return "SQS moved it without naming its source, and several queues feed this dead-letter queue"

    @staticmethod
    def _attributes(letter: DeadLetter, resend_unknown_signals: bool) -> dict[str, str]:
        attributes = dict(letter.own_attributes)
        attributes.pop(RESEND_SIGNAL, None)
        if resend_unknown_signals and (letter.reason or "").startswith(SIGNAL_OUTCOME_UNKNOWN_PREFIX):
            attributes[RESEND_SIGNAL] = "1"
        return attributes


def _moved_receive_count(system: Mapping[str, str]) -> int | None:
    """A message SQS moved keeps its receive count, which this very receive has raised by one (and
    earlier peeks too: an upper bound, then)."""
    count = system.get("ApproximateReceiveCount", "")
    return int(count) - 1 if count.isdigit() and int(count) > 1 else None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _epoch_ms(text: str | None) -> datetime | None:
    if not text or not text.isdigit():
        return None
    return datetime.fromtimestamp(int(text) / 1000, UTC)


def format_listing(listing: Listing, *, now: datetime) -> str:
    """A listing as the terminal shows it."""
    dlq = listing.queue
    sources = ", ".join(source.logical_id for source in dlq.sources)
    lines = [
        f"{dlq.name}: {dlq.queue.logical_id} ({listing.visible} messages"
        + (f", {listing.in_flight} in flight" if listing.in_flight else "")
        + f"), fed by {sources}"
    ]
    for letter in listing.letters:
        age = letter.age(now)
        receives = "?" if letter.receive_count is None else str(letter.receive_count)
        lines.append(
            f"  {letter.source_message_id}  age {_duration(age)}  receives {receives}  {letter.reason_text}"
        )
    if len(listing.letters) < listing.visible:
        lines.append(f"  ... {listing.visible - len(listing.letters)} more not shown")
    return "\n".join(lines)


def format_redrive(result: RedriveResult) -> str:
    verb = "would move" if result.dry_run else "moved"
    lines = [f"{result.queue.name}: {verb} {len(result.moved)} message(s) back to their source queue"]
    for letter, target in result.moved:
        lines.append(f"  {letter.source_message_id} -> {target}   (was: {letter.reason_text[:80]})")
    if result.duplicates:
        lines.append(f"  {len(result.duplicates)} further copies of those messages dropped")
    for letter, why in result.failed:
        lines.append(f"  NOT MOVED {letter.source_message_id}: {why}")
    return "\n".join(lines)


def _duration(delta: timedelta | None) -> str:
    if delta is None:
        return "?"
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
