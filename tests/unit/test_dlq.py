"""riskradar.dlq's pure parts: naming and finding a stack's dead-letter queues, reading a letter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskradar.adapters.queue_admin import QueueInfo, ReceivedMessage
from riskradar.adapters.sqs import RedrivePolicy
from riskradar.dead_letters import (
    DEAD_LETTERED_AT,
    REASON,
    RECEIVE_COUNT,
    SOURCE_MESSAGE_ID,
    SOURCE_QUEUE,
    FailedRecord,
    dead_letter_attributes,
)
from riskradar.dlq import DeadLetter, NoSuchDeadLetterQueue, dead_letter_queues, select, short_name

ARN = "arn:aws:sqs:us-east-1:123456789012:"


def queue(logical_id: str, name: str, *, dlq: str | None = None, fifo: bool = False) -> QueueInfo:
    return QueueInfo(
        logical_id=logical_id,
        url=f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}",
        arn=ARN + name,
        fifo=fifo,
        redrive=RedrivePolicy(ARN + dlq, 5) if dlq else None,
    )


STACK = [
    queue("IntakeQueue", "intake", dlq="intake-dlq"),
    queue("IntakeDeadLetterQueue", "intake-dlq"),
    queue("SignalCriticalQueue", "signals-critical.fifo", dlq="signals-critical-dlq.fifo", fifo=True),
    queue("SignalCriticalDeadLetterQueue", "signals-critical-dlq.fifo", fifo=True),
    queue("AlertsQueue", "alerts"),
]


@pytest.mark.parametrize(
    ("logical_id", "name"),
    [
        ("IntakeQueue", "intake"),
        ("IntakeDeadLetterQueue", "intake"),
        ("SignalCriticalQueue", "signal-critical"),
        ("NoveltyQueue", "novelty"),
    ],
)
def test_short_names(logical_id: str, name: str) -> None:
    assert short_name(logical_id) == name


def test_the_dead_letter_queues_are_the_queues_a_redrive_policy_names() -> None:
    found = dead_letter_queues(STACK)
    assert [(dlq.name, dlq.queue.logical_id, [s.logical_id for s in dlq.sources]) for dlq in found] == [
        ("intake", "IntakeDeadLetterQueue", ["IntakeQueue"]),
        ("signal-critical", "SignalCriticalDeadLetterQueue", ["SignalCriticalQueue"]),
    ]
    assert select(found, "IntakeQueue") is select(found, "intake") is select(found, "IntakeDeadLetterQueue")
    with pytest.raises(NoSuchDeadLetterQueue, match="there are: intake, signal-critical"):
        select(found, "alerts")


def test_a_consumers_letter_reads_back_with_its_reason_and_origin() -> None:
    first = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    failed = FailedRecord(
        message_id="m-1",
        receipt_handle="r",
        body="{}",
        attributes={"business": "shop", REASON: "an older letter's reason"},
        receive_count=5,
        first_received_at=first,
        source_queue_arn=ARN + "intake",
    )
    now = first + timedelta(minutes=3)
    attributes = dead_letter_attributes(failed, "not a valid intake message:   (body): json_invalid", now=now)
    assert attributes[REASON] == "not a valid intake message: (body): json_invalid"
    assert (attributes[SOURCE_MESSAGE_ID], attributes[RECEIVE_COUNT]) == ("m-1", "5")

    letter = DeadLetter.from_message(ReceivedMessage("dlq-1", "h", "{}", attributes, {"SentTimestamp": "1"}))
    assert letter.reason == "not a valid intake message: (body): json_invalid"
    assert letter.own_attributes == {"business": "shop"}
    assert (letter.source_message_id, letter.source_queue_arn) == ("m-1", ARN + "intake")
    assert letter.first_received_at == first
    assert letter.age(now + timedelta(minutes=1)) == timedelta(minutes=1)


def test_a_message_sqs_moved_has_no_reason_and_keeps_its_id() -> None:
    sent = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    system = {"SentTimestamp": str(int(sent.timestamp() * 1000)), "ApproximateReceiveCount": "6"}
    letter = DeadLetter.from_message(ReceivedMessage("m-7", "h", "{}", {"business": "ads"}, system))
    assert letter.reason is None
    assert "no reason recorded" in letter.reason_text
    assert letter.source_message_id == "m-7"
    assert letter.source_queue_arn is None
    assert letter.since == sent
    assert letter.receive_count == 5  # SQS kept its count; this receive added one


def test_a_reason_is_bounded_and_a_letter_keeps_room_for_its_attributes() -> None:
    failed = FailedRecord("m", "r", "{}", {f"a{i}": "x" for i in range(6)}, 5, None, ARN + "intake")
    with pytest.raises(ValueError, match="no room"):
        dead_letter_attributes(failed, "why", now=datetime.now(UTC))
    roomy = FailedRecord("m", "r", "{}", {}, 5, None, ARN + "intake")
    long = dead_letter_attributes(roomy, "x" * 5000, now=datetime.now(UTC))
    assert len(long[REASON]) == 1000
    assert DEAD_LETTERED_AT in long
    assert SOURCE_QUEUE in long
