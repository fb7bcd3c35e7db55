"""Dead letters that say why: a record that keeps failing leaves its queue with its reason.

SQS's own redrive (the source queue's RedrivePolicy) moves a message that was received
`maxReceiveCount` times to the dead-letter queue as it is — nothing says why it failed, and the
reason is left in a log line somewhere. So each consumer does it itself: on a failing record's last
receive (`ApproximateReceiveCount` ≥ the source queue's `maxReceiveCount`, read from the queue's
RedrivePolicy at the first need, never hard-coded) it sends the record to the dead-letter queue the
policy names, with the original message attributes and these:

    riskradar.dlq.reason              why the last attempt failed (no report content, no PII)
    riskradar.dlq.source-queue        ARN of the queue the record came from (redrive goes back there)
    riskradar.dlq.source-message-id   the record's message id on that queue
    riskradar.dlq.receive-count       how often it was received
    riskradar.dlq.first-received-at   when it was first received, i.e. first failed (ISO 8601)
    riskradar.dlq.dead-lettered-at    when it was dead-lettered

and reports the record done. If that send fails, the record is reported failed as before and SQS's
redrive moves it on its next receive, without a reason (`riskradar dlq list` says so). A record
that retrying can never fix (see riskradar.triage, a signal whose outcome is unknown) is
dead-lettered at once. On a FIFO queue the dead letter keeps the record's message group and is
deduplicated by the record's message id (dead-lettering the same record twice sends one letter).

A record whose last attempt crashes or times out never reaches this code: SQS moves it without a
reason, exactly as before. `riskradar dlq list` shows both kinds; `riskradar dlq redrive` sends
either back to its source queue without the attributes above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from riskradar.adapters.sqs import RedrivePolicy

logger = Logger(child=True)

ATTRIBUTE_PREFIX: Final = "riskradar.dlq."
REASON: Final = "riskradar.dlq.reason"
SOURCE_QUEUE: Final = "riskradar.dlq.source-queue"
SOURCE_MESSAGE_ID: Final = "riskradar.dlq.source-message-id"
RECEIVE_COUNT: Final = "riskradar.dlq.receive-count"
FIRST_RECEIVED_AT: Final = "riskradar.dlq.first-received-at"
DEAD_LETTERED_AT: Final = "riskradar.dlq.dead-lettered-at"
#: Set by `riskradar dlq redrive --resend-unknown-signals` (see riskradar.triage).
RESEND_SIGNAL: Final = "riskradar.resend-signal"
#: SQS allows ten message attributes per message; the dead-letter attributes take six.
_MAX_ATTRIBUTES: Final = 10
#: A reason is a summary, not a dump.
MAX_REASON_CHARS: Final = 1000


@dataclass(frozen=True)
class FailedRecord:
    """What a consumer knows of an SQS record that failed."""

    message_id: str
    receipt_handle: str
    body: str
    #: The record's String message attributes.
    attributes: Mapping[str, str]
    receive_count: int
    first_received_at: datetime | None
    source_queue_arn: str
    #: The FIFO message group (None on a standard queue).
    group_id: str | None = None

    @classmethod
    def from_sqs_record(cls, record: SQSRecord) -> FailedRecord:
        first = record.attributes.approximate_first_receive_timestamp
        attributes = {
            name: str(attribute.string_value)
            for name, attribute in record.message_attributes.items()
            if attribute.string_value is not None
        }
        return cls(
            message_id=record.message_id,
            receipt_handle=record.receipt_handle,
            body=record.body,
            attributes=attributes,
            receive_count=int(record.attributes.approximate_receive_count),
            first_received_at=datetime.fromtimestamp(int(first) / 1000, UTC) if first else None,
            source_queue_arn=record.event_source_arn,
            group_id=record.attributes.message_group_id,
        )


def dead_letter_attributes(record: FailedRecord, reason: str, *, now: datetime) -> dict[str, str]:
    """The dead letter's message attributes: the record's own (but earlier dead-letter ones), then ours."""
    own = {name: value for name, value in record.attributes.items() if not name.startswith(ATTRIBUTE_PREFIX)}
    ours = {
        REASON: summarize_reason(reason),
        SOURCE_QUEUE: record.source_queue_arn,
        SOURCE_MESSAGE_ID: record.message_id,
        RECEIVE_COUNT: str(record.receive_count),
        DEAD_LETTERED_AT: now.astimezone(UTC).isoformat(),
    }
    if record.first_received_at is not None:
        ours[FIRST_RECEIVED_AT] = record.first_received_at.astimezone(UTC).isoformat()
    if len(own) + len(ours) > _MAX_ATTRIBUTES:
        raise ValueError(f"{len(own)} message attributes leave no room for the dead-letter attributes")
    return own | ours


def summarize_reason(reason: str) -> str:
    text = " ".join(reason.split()) or "unknown"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


class SourceQueue(Protocol):
    def redrive_policy(self) -> RedrivePolicy | None: ...

    def change_visibility(self, receipt_handles: Sequence[str], *, timeout_s: int) -> int: ...


class DeadLetterQueue(Protocol):
    def send(
        self,
        body: str,
        *,
        attributes: dict[str, str] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str: ...


class DeadLetterRouter:
    """Dead-letters a consumer's failing records itself, with their reasons (see the module docstring)."""

    def __init__(
        self,
        source: SourceQueue,
        dead_letters: DeadLetterQueue,
        *,
        fifo: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._dead_letters = dead_letters
        self._fifo = fifo
        self._clock = clock
        self._policy: RedrivePolicy | None = None
        self._policy_read = False

    @property
    def max_receive_count(self) -> int | None:
        """The source queue's maxReceiveCount (read once); None if it cannot be read or is not set."""
        if not self._policy_read:
            try:
                self._policy = self._source.redrive_policy()
                self._policy_read = True
            except Exception:
                logger.exception("could not read the source queue's redrive policy; SQS's redrive applies")
                return None
        return self._policy.max_receive_count if self._policy else None

    def is_last_receive(self, record: FailedRecord) -> bool:
        """Whether SQS moves the record to the dead-letter queue if it fails this time."""
        limit = self.max_receive_count
        return limit is not None and record.receive_count >= limit

    def dead_letter(self, record: FailedRecord, reason: str) -> bool:
        """Send the record to the dead-letter queue with its reason; False if that failed (the record
        must then be reported failed, and SQS's redrive moves it without a reason)."""
        try:
            self._dead_letters.send(
                record.body,
                attributes=dead_letter_attributes(record, reason, now=self._clock()),
                group_id=(record.group_id or "dead-letters") if self._fifo else None,
                deduplication_id=record.message_id if self._fifo else None,
            )
        except Exception:
            logger.exception(
                "could not dead-letter the record; SQS's redrive will move it without a reason",
                extra={"message_id": record.message_id},
            )
            return False
        return True

    def retry_after(self, records: Sequence[FailedRecord], *, seconds: int) -> None:
        """Best effort: have failed records come back after `seconds` instead of the queue's
        visibility timeout. If it fails they come back later, which is all."""
        if not records:
            return
        try:
            self._source.change_visibility([record.receipt_handle for record in records], timeout_s=seconds)
        except Exception as error:
            logger.warning(
                "could not shorten the failed records' visibility; they come back later",
                extra={"error": f"{type(error).__name__}: {error}"[:300]},
            )
