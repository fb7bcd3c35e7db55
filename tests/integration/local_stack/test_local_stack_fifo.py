"""FIFO SQS event sources on the local stack, as Lambda runs them on AWS: a message group is delivered
in order and one batch at a time, a failure fails every later record (SqsFifoPartialProcessor) and
the retry keeps the order, and what keeps failing goes to the FIFO dead-letter queue."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from riskradar.local import LocalStack
from riskradar.local.sqs import InvalidEventSource, check_event_source
from tests.integration.local_stack.probe_stack import PROBE_TEMPLATE, Probe


class FifoProbe:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.probe = Probe(stack)
        self.queue_url = stack.physical_id("FifoQueue")
        self.dead_letter_queue_url = stack.physical_id("FifoDeadLetterQueue")
        # Message ids unique to the test: FIFO deduplicates, and the stack is shared.
        self.prefix = uuid.uuid4().hex[:8]

    def id(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def send(self, group: str, *messages: dict[str, Any]) -> None:
        sqs = self.stack.client("sqs")
        for message in messages:
            body = {**message, "id": self.id(message["id"])}
            sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(body),
                MessageGroupId=f"{self.prefix}-{group}",
                MessageDeduplicationId=body["id"],
            )

    def processed_order(self, names: list[str]) -> list[str]:
        """`names` that were processed, in the order they were processed."""
        positions = {name: self.probe.effect(f"fifo-processed#{self.id(name)}") for name in names}
        done = {name: int(effect["position"]) for name, effect in positions.items() if effect is not None}
        return sorted(done, key=done.__getitem__)

    def deliveries(self, name: str) -> int:
        found = self.probe.effect(f"fifo-delivery#{self.id(name)}")
        return 0 if found is None else int(found["deliveries"])

    def batches(self) -> list[dict[str, Any]]:
        """The batches the worker saw that hold this test's messages, as lists of names."""
        table = self.stack.physical_id("EffectsTable")
        items = self.stack.client("dynamodb").scan(TableName=table)["Items"]
        batches = []
        for item in items:
            if not item["pk"]["S"].startswith("fifo-batch#"):
                continue
            ids = [value["S"] for value in item["ids"]["L"]]
            if all(i.startswith(self.prefix) for i in ids):
                batches.append(
                    {
                        "names": [i.removeprefix(f"{self.prefix}-") for i in ids],
                        "groups": [value["S"] for value in item["groups"]["L"]],
                        "sequence_numbers": [value["S"] for value in item["sequence_numbers"]["L"]],
                    }
                )
        return batches

    def dead_letters(self) -> list[tuple[str, str]]:
        """(name, message group) of every message in the FIFO DLQ, in order; received and deleted."""
        sqs = self.stack.client("sqs")
        found: list[tuple[str, str]] = []
        while messages := sqs.receive_message(
            QueueUrl=self.dead_letter_queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", []):
            found += [
                (
                    json.loads(m["Body"])["id"].removeprefix(f"{self.prefix}-"),
                    m["Attributes"]["MessageGroupId"],
                )
                for m in messages
            ]
            for message in messages:
                sqs.delete_message(
                    QueueUrl=self.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return found


@pytest.fixture
def fifo(stack: LocalStack) -> FifoProbe:
    return FifoProbe(stack)


def test_a_message_group_is_delivered_in_order_in_batches_of_at_most_the_batch_size(
    stack: LocalStack, fifo: FifoProbe
) -> None:
    names = [f"m{n}" for n in range(10)]
    fifo.send("g", *({"id": name} for name in names))

    stack.run_until_idle(timeout_s=20)

    assert fifo.processed_order(names) == names
    batches = fifo.batches()
    # Each batch continues where the last one ended: never a later message before an earlier one.
    assert sorted((b["names"] for b in batches), key=lambda n: names.index(n[0])) == [
        names[0:4],
        names[4:8],
        names[8:10],
    ]
    # Lambda hands over the FIFO attributes of each record.
    assert all(group == f"{fifo.prefix}-g" for b in batches for group in b["groups"])
    assert all(number.isdigit() for b in batches for number in b["sequence_numbers"])


def test_while_a_batch_is_in_flight_its_message_group_gives_out_nothing(
    stack: LocalStack, fifo: FifoProbe
) -> None:
    names = ["peeker", "a", "b", "c", "d", "e"]
    fifo.send("g", {"id": "peeker", "peek": True}, *({"id": name} for name in names[1:]))

    stack.run_until_idle(timeout_s=20)

    peek = fifo.probe.effect(f"fifo-peek#{fifo.id('peeker')}")
    assert peek is not None
    assert peek["visible"] == 0
    assert fifo.processed_order(names) == names
    assert all(fifo.deliveries(name) == 1 for name in names)


def test_a_failure_fails_every_later_record_and_the_retry_keeps_the_order(
    stack: LocalStack, fifo: FifoProbe
) -> None:
    names = ["a", "b", "c", "d"]
    fifo.send("g", {"id": "a"}, {"id": "b", "fail_times": 1}, {"id": "c"}, {"id": "d"})

    stack.run_until_idle(timeout_s=20)

    assert fifo.processed_order(names) == names
    # c and d were held behind b (not processed), then came back with it.
    assert [fifo.deliveries(name) for name in names] == [1, 2, 1, 1]
    assert [b["names"] for b in fifo.batches()] in (
        [["a", "b", "c", "d"], ["b", "c", "d"]],
        [["b", "c", "d"], ["a", "b", "c", "d"]],  # scan order is not arrival order
    )
    assert stack.queue_depth("FifoQueue") == 0


def test_a_record_that_keeps_failing_goes_to_the_fifo_dead_letter_queue_with_those_held_behind_it(
    stack: LocalStack, fifo: FifoProbe
) -> None:
    fifo.send("g", {"id": "a"}, {"id": "poison", "poison": True}, {"id": "c"})

    stack.run_until_idle(timeout_s=20)

    assert fifo.processed_order(["a", "poison", "c"]) == ["a"]
    # Every receive counts, also of the records held behind the failing one: after 3 (the queue's
    # maxReceiveCount) both move on, in order and in their group. Nothing is lost.
    assert fifo.deliveries("poison") == 3
    assert fifo.dead_letters() == [("poison", f"{fifo.prefix}-g"), ("c", f"{fifo.prefix}-g")]
    assert stack.queue_depth("FifoQueue") == 0


def test_another_message_group_is_not_held_up_by_a_failing_one(stack: LocalStack, fifo: FifoProbe) -> None:
    fifo.send("stuck", {"id": "poison", "poison": True}, {"id": "behind"})
    fifo.send("free", {"id": "x"}, {"id": "y"})

    stack.run_until_idle(timeout_s=20)

    assert fifo.processed_order(["x", "y"]) == ["x", "y"]
    assert [fifo.deliveries(name) for name in ("x", "y")] == [1, 1]
    assert [name for name, _ in fifo.dead_letters()] == ["poison", "behind"]


def test_event_source_limits_are_those_of_lambda() -> None:
    fifo = "arn:aws:sqs:us-east-1:123456789012:work.fifo"
    standard = "arn:aws:sqs:us-east-1:123456789012:work"

    def check(
        arn: str, batch_size: int, window_s: float, visibility_s: int = 60, timeout_s: int = 30
    ) -> None:
        check_event_source(
            arn,
            batch_size=batch_size,
            batching_window_s=window_s,
            visibility_timeout_s=visibility_s,
            function_timeout_s=timeout_s,
        )

    check(fifo, 10, 0)
    check(standard, 100, 5)
    check(standard, 10, 0, visibility_s=30)
    with pytest.raises(InvalidEventSource, match="at most 10"):
        check(fifo, 11, 0)
    with pytest.raises(InvalidEventSource, match="batching window"):
        check(fifo, 10, 1)
    with pytest.raises(InvalidEventSource, match="needs a batching window"):
        check(standard, 11, 0)
    with pytest.raises(
        InvalidEventSource, match=r"visibility timeout \(30 s\) is less than the function's timeout \(60 s\)"
    ):
        check(standard, 10, 0, visibility_s=30, timeout_s=60)


def test_a_template_whose_fifo_event_source_lambda_would_refuse_does_not_start(tmp_path: Path) -> None:
    worker = (PROBE_TEMPLATE.parent / "functions" / "fifo_worker").as_posix()
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Queue:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties: {QueueName: window-probe.fifo, FifoQueue: true}\n"
        "  Worker:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        f"      CodeUri: {worker}/\n"
        "      Handler: app.lambda_handler\n"
        "      Runtime: python3.12\n"
        "      Environment: {Variables: {EFFECTS_TABLE: none}}\n"
        "      Events:\n"
        "        Fifo:\n"
        "          Type: SQS\n"
        "          Properties: {Queue: !GetAtt Queue.Arn, BatchSize: 10, MaximumBatchingWindowInSeconds: 5}\n"
    )

    with pytest.raises(InvalidEventSource, match="batching window"):
        LocalStack.start(template, stack_name="fifo-window-probe")
