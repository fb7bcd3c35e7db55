"""SQS event sources: moto holds the mappings disabled and the local poller acts as Lambda."""

from __future__ import annotations

import threading
import time

from riskradar.local import LocalStack
from tests.integration.local_stack.probe_stack import (
    PROBE_ISSUER_PARAMETER,
    PROBE_SECRET,
    PROBE_TEMPLATE,
    Probe,
)


def test_mappings_are_disabled_in_moto_so_moto_never_consumes_the_queue(
    stack: LocalStack, probe: Probe
) -> None:
    mappings = stack.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    ours = [m for m in mappings if m["EventSourceArn"].endswith(":probe-work-it")]

    probe.send({"id": "left-alone"})
    time.sleep(0.3)
    counts = stack.client("sqs").get_queue_attributes(
        QueueUrl=probe.work_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]

    assert [m["State"] for m in ours] == ["Disabled"]
    assert counts == {"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "0"}
    assert probe.deliveries("left-alone") == 0
    stack.run_until_idle(timeout_s=10)
    assert probe.deliveries("left-alone") == 1


def test_a_batch_gathers_up_to_batch_size_beyond_one_receive(stack: LocalStack, probe: Probe) -> None:
    ids = [f"gather-{n}" for n in range(30)]
    probe.send(*({"id": message_id} for message_id in ids))

    first, second = stack.poll_once(), stack.poll_once()

    assert (first, second) == (25, 5)
    assert sorted(len(batch) for batch in probe.batches_with(set(ids))) == [5, 25]
    assert all(probe.deliveries(message_id) == 1 for message_id in ids)
    assert stack.queue_depth("WorkQueue") == 0


def test_a_partial_failure_retries_only_the_failed_message_until_the_dlq(
    stack: LocalStack, probe: Probe
) -> None:
    probe.send({"id": "good-1"}, {"id": "poison-1", "poison": True}, {"id": "good-2"})

    stack.run_until_idle(timeout_s=10)

    assert [probe.deliveries(i) for i in ("good-1", "poison-1", "good-2")] == [1, 3, 1]
    assert probe.effect("processed#good-1") == {"pk": "processed#good-1", "times": 1}
    assert probe.effect("processed#poison-1") is None
    assert stack.queue_depth("WorkQueue") == 0
    assert stack.queue_depth("WorkDeadLetterQueue") == 1
    assert probe.drain(probe.dead_letter_queue_url) == [{"id": "poison-1", "poison": True}]


def test_a_handler_exception_fails_the_whole_batch(stack: LocalStack, probe: Probe) -> None:
    ids = ["bystander-1", "crasher", "bystander-2"]
    probe.send({"id": "bystander-1"}, {"id": "crasher", "crash": True}, {"id": "bystander-2"})

    stack.run_until_idle(timeout_s=10)

    assert [probe.deliveries(i) for i in ids] == [3, 3, 3]
    assert all(probe.effect(f"processed#{i}") is None for i in ids)
    assert sorted(body["id"] for body in probe.drain(probe.dead_letter_queue_url)) == sorted(ids)


def test_a_failure_report_naming_an_unknown_message_fails_the_whole_batch(
    stack: LocalStack, probe: Probe
) -> None:
    probe.send({"id": "misreported", "report_unknown": True}, {"id": "innocent"})

    stack.run_until_idle(timeout_s=10)

    assert [probe.deliveries("misreported"), probe.deliveries("innocent")] == [3, 3]
    assert sorted(body["id"] for body in probe.drain(probe.dead_letter_queue_url)) == [
        "innocent",
        "misreported",
    ]


def test_background_polling_delivers_without_being_asked(stack: LocalStack, probe: Probe) -> None:
    stack.start_background(poll_interval_s=0.02)
    try:
        probe.send({"id": "background-1"})
        deadline = time.monotonic() + 10
        while probe.deliveries("background-1") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stack.stop_background()

    assert probe.deliveries("background-1") == 1
    assert stack.queue_depth("WorkQueue") == 0


def test_a_batching_window_gathers_messages_that_arrive_while_it_is_open(stack: LocalStack) -> None:
    # A second probe stack beside the session's: its window is 5 s x 0.1 = 0.5 s.
    with LocalStack.start(
        PROBE_TEMPLATE,
        stack_name="local-stack-window",
        parameters={"Stage": "window"},
        ssm_secure_parameters={"/probe/secret": PROBE_SECRET},
        batching_window_scale=0.1,
        jwt_issuer_parameters=[PROBE_ISSUER_PARAMETER],
    ) as windowed:
        probe = Probe(windowed)
        probe.send({"id": "early-1"}, {"id": "early-2"})
        late = threading.Timer(0.2, probe.send, args=({"id": "late-1"}, {"id": "late-2"}))
        late.start()
        delivered = windowed.poll_once()
        late.join()
        batches = probe.batches_with({"early-1", "late-1"})

    assert delivered == 4
    assert [sorted(batch) for batch in batches] == [["early-1", "early-2", "late-1", "late-2"]]
    # Stopping it deleted its resources from the shared moto and left the session's stack alone.
    assert stack.client("sqs").list_queues(QueueNamePrefix="probe-work-window").get("QueueUrls", []) == []
    assert stack.queue_depth("WorkQueue") == 0
