"""Consuming from moto's SQS as the local stack patches it (riskradar.local.moto_server): receive
and batch delete in time linear in the request, with SQS's answers, against a real moto server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.sqs.models import Message

from riskradar.local.moto_server import MotoServer, fake_session


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    server = MotoServer()
    yield fake_session("us-east-1").client("sqs", endpoint_url=server.endpoint_url)
    server.reset()
    server.stop()


def queue_with(sqs: Any, name: str, messages: int) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    for start in range(0, messages, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(start, min(start + 10, messages))],
        )
    return url


def receive(sqs: Any, url: str, count: int = 10) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=count, VisibilityTimeout=60
    ).get("Messages", [])
    return messages


def depth(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def test_a_batch_delete_removes_exactly_its_messages(sqs: Any) -> None:
    url = queue_with(sqs, "delete-exact", 25)
    received = receive(sqs, url)

    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"e{n}", "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)],
    )

    assert sorted(e["Id"] for e in answer["Successful"]) == sorted(f"e{n}" for n in range(10))
    assert answer.get("Failed", []) == []
    assert depth(sqs, url) == (15, 0)
    rest = {m["Body"] for _ in range(3) for m in receive(sqs, url)}
    assert rest.isdisjoint(m["Body"] for m in received)
    assert len(rest) == 15


def test_a_handle_deleted_before_succeeds_again_and_an_unknown_one_fails(sqs: Any) -> None:
    url = queue_with(sqs, "delete-answers", 3)
    first, second = receive(sqs, url, 2)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])

    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "again", "ReceiptHandle": first["ReceiptHandle"]},
            {"Id": "fresh", "ReceiptHandle": second["ReceiptHandle"]},
            {"Id": "unknown", "ReceiptHandle": "not-a-handle"},
        ],
    )

    assert sorted(e["Id"] for e in answer["Successful"]) == ["again", "fresh"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in answer["Failed"]] == [
        ("unknown", "ReceiptHandleIsInvalid", True)
    ]
    assert depth(sqs, url) == (1, 0)


def test_an_old_receipt_handle_still_deletes_its_message(sqs: Any) -> None:
    url = queue_with(sqs, "delete-old-handle", 1)
    (first,) = receive(sqs, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    (again,) = receive(sqs, url)
    assert again["ReceiptHandle"] != first["ReceiptHandle"]

    answer = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": "old", "ReceiptHandle": first["ReceiptHandle"]}]
    )

    assert [e["Id"] for e in answer["Successful"]] == ["old"]
    assert depth(sqs, url) == (0, 0)


def test_messages_in_flight_or_delayed_are_not_received(sqs: Any) -> None:
    url = queue_with(sqs, "receive-visible", 5)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    in_flight = receive(sqs, url, 3)

    rest = receive(sqs, url)

    assert len(in_flight) == 3
    assert sorted(m["Body"] for m in rest + in_flight) == [f"m{n}" for n in range(5)]


def test_consuming_a_backlog_reads_each_message_a_bounded_number_of_times(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog = 1_000
    url = queue_with(sqs, "consume-linear", backlog)
    reads = 0
    handles = Message.all_receipt_handles

    def counting_handles(self: Message) -> list[str | None]:
        nonlocal reads
        reads += 1
        return handles.fget(self)  # type: ignore[attr-defined,no-any-return]

    # The moto server answers in this process, so its reads are counted here.
    monkeypatch.setattr(Message, "all_receipt_handles", property(counting_handles))
    for _ in range(10):
        batch = receive(sqs, url)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
        )

    # One walk of the queue per batch delete: ~10 x 1,000. moto's own delete walked it twice per
    # entry, every message's handles each time: ~2 x 100 x 1,000.
    assert reads <= 10 * backlog + 100
    assert depth(sqs, url) == (backlog - 100, 0)
