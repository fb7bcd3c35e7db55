"""The triage handler against moto (`mock_aws`) with the real model, driven by events/."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from riskradar.adapters.s3 import EmbeddingShardStore
from riskradar.dead_letters import FIRST_RECEIVED_AT, REASON, RECEIVE_COUNT, RESEND_SIGNAL, SOURCE_MESSAGE_ID
from riskradar.local.faults import FaultInjector, FaultPlan, FunctionFaults, FunctionTimedOut
from riskradar.local.moto_server import patch_moto
from riskradar.models import ShardNotice
from riskradar.scoring import ScoringPolicy
from riskradar.triage import SHARD_NOTICE_GROUP
from tests.helpers import ROOT, MockedFunction, drain_url, mocked_function

pytestmark = pytest.mark.slow
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")


TRIAGE = "TriageFunction"


@pytest.fixture(scope="module")
def triage() -> Iterator[MockedFunction]:
    # moto as the local stack runs it: SQS's FIFO deduplication kept for 5 minutes, consumed or not.
    patch_moto()
    with mocked_function(TRIAGE, function_dir="triage") as function:
        yield function


def sample_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "triage_intake_queue_batch.json").read_text())
    return event


def signals(function: MockedFunction) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    return [s for queue in SIGNAL_QUEUES for s in drain_url(sqs, function.stack.physical_id(queue))]


def stored_ids(function: MockedFunction) -> list[str]:
    table = function.stack.physical_id("ReportsTable")
    return sorted(item["report_id"]["S"] for item in boto3.client("dynamodb").scan(TableName=table)["Items"])


def test_sample_batch_is_triaged_and_only_the_poison_record_fails(triage: MockedFunction) -> None:
    event = sample_event()
    poison_id = event["Records"][-1]["messageId"]

    response = triage.invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": poison_id}]}
    assert stored_ids(triage) == ["evt-0101", "evt-0102", "evt-0103"]
    sent = signals(triage)
    assert sorted(s["report_id"] for s in sent) == ["evt-0101", "evt-0102", "evt-0103"]
    scam = next(s for s in sent if s["report_id"] == "evt-0101")
    assert scam["theme_id"] is None  # no snapshot published yet: the novelty pool
    bucket = triage.stack.physical_id("ArtifactsBucket")
    keys = [
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="embeddings/")["Contents"]
    ]
    assert keys
    assert all(key.startswith("embeddings/dt=2026-11-24/") for key in keys)
    # Each shard carries what per-theme statistics need, aligned with its report ids.
    store = EmbeddingShardStore(boto3.client("s3"), bucket)
    facts_of: dict[str, tuple[str, str, str, float]] = {}
    for key in keys:
        shard = store.read(key)
        assert shard.facts is not None
        for row, report_id in enumerate(shard.report_ids):
            facts_of[report_id] = (
                shard.facts.businesses[row],
                shard.facts.reporter_roles[row],
                shard.facts.subject_types[row],
                float(shard.facts.amounts_usd[row]),
            )
    assert facts_of["evt-0101"][:3] == ("live", "user", "live_stream")
    assert math.isnan(facts_of["evt-0101"][3])
    business, role, subject_type, usd = facts_of["evt-0102"]
    assert (business, role, subject_type) == ("payments", "seller", "")
    eur = ScoringPolicy.from_json(None).config_for("payments").money_at_risk.usd_rates["EUR"]
    assert usd == pytest.approx(89.90 * eur)


def test_each_record_expires_the_templates_retention_period_after_its_report_was_filed(
    triage: MockedFunction,
) -> None:
    """REPORT_RETENTION_DAYS reaches triage from the template (ReportRetentionDays, 365 by default)
    and sets each record's TTL attribute, as a number, from the report's created_at."""
    table = boto3.resource("dynamodb").Table(triage.stack.physical_id("ReportsTable"))
    items = table.scan()["Items"]
    assert {item["report_id"] for item in items} == {"evt-0101", "evt-0102", "evt-0103"}
    for item in items:
        created_at = datetime.fromisoformat(str(item["created_at"]))
        assert item["expires_at"] == int((created_at + timedelta(days=365)).timestamp()), item["report_id"]


def shard_keys(function: MockedFunction) -> list[str]:
    bucket = function.stack.physical_id("ArtifactsBucket")
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="embeddings/").get("Contents", [])
    return sorted(o["Key"] for o in listed)


def shard_notices(function: MockedFunction) -> list[tuple[ShardNotice, dict[str, str]]]:
    """Every notice on NoveltyQueue, in order, with its FIFO attributes (received and deleted)."""
    sqs = boto3.client("sqs")
    url = function.stack.physical_id("NoveltyQueue")
    found: list[tuple[ShardNotice, dict[str, str]]] = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages"):
        found += [(ShardNotice.model_validate_json(m["Body"]), m["Attributes"]) for m in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_every_shard_written_is_announced_on_the_novelty_queue(triage: MockedFunction) -> None:
    notices = shard_notices(triage)

    assert sorted(notice.shard_key for notice, _ in notices) == shard_keys(triage)
    for notice, attributes in notices:
        assert attributes["MessageGroupId"] == SHARD_NOTICE_GROUP
        assert attributes["MessageDeduplicationId"] == hashlib.sha256(notice.shard_key.encode()).hexdigest()
    # No theme snapshot yet: every report of the sample batch but the poison one is in the pool.
    assert sum(notice.reports for notice, _ in notices) == 3
    assert sum(notice.novelty_pool_reports for notice, _ in notices) == 3


def test_redelivered_batch_signals_nothing_twice(triage: MockedFunction) -> None:
    before = stored_ids(triage)
    signals(triage)
    event = sample_event()
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"

    response = triage.invoke(event)

    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][-1]["messageId"]]
    assert signals(triage) == []
    assert stored_ids(triage) == before


def test_a_batch_of_only_poison_fails_every_record(triage: MockedFunction) -> None:
    event = sample_event()
    event["Records"] = [event["Records"][-1]]
    with pytest.raises(BatchProcessingError):
        triage.invoke(event)


def test_a_novelty_queue_that_refuses_the_notices_fails_the_batch_before_any_signal(
    triage: MockedFunction,
) -> None:
    sqs = boto3.client("sqs")
    novelty_url = triage.stack.physical_id("NoveltyQueue")
    attributes = sqs.get_queue_attributes(
        QueueUrl=novelty_url, AttributeNames=["FifoQueue", "VisibilityTimeout"]
    )
    event = sample_event()
    event["Records"] = event["Records"][:2]
    for day, record in enumerate(event["Records"]):
        body = json.loads(record["body"])
        body["report_id"] = f"evt-09{day:02d}"
        body["created_at"] = f"2026-11-2{day}T10:00:00Z"  # two days: two shards, two notices
        record["body"] = json.dumps(body)
    shards_before = shard_keys(triage)
    stored_before = stored_ids(triage)
    signals(triage)
    shard_notices(triage)

    sqs.delete_queue(QueueUrl=novelty_url)
    try:
        with pytest.raises(BatchProcessingError, match="NonExistentQueue"):
            triage.invoke(event)
    finally:
        assert (
            sqs.create_queue(QueueName=novelty_url.rsplit("/", 1)[-1], Attributes=attributes["Attributes"])[
                "QueueUrl"
            ]
            == novelty_url
        )

    # Nothing left the batch: SQS redelivers it whole (its shards stay, unannounced duplicates).
    assert signals(triage) == []
    assert stored_ids(triage) == stored_before
    orphans = set(shard_keys(triage)) - set(shards_before)
    assert len(orphans) == 2

    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    assert triage.invoke(event) == {"batchItemFailures": []}

    assert sorted(s["report_id"] for s in signals(triage)) == ["evt-0900", "evt-0901"]
    announced = [notice.shard_key for notice, _ in shard_notices(triage)]
    assert len(announced) == 2
    assert not orphans & set(announced)
    assert announced == sorted(announced, key=lambda key: key.split("/")[1])  # oldest day first


# ------------------------------------------------------------------ signals under crashes and retries


def fresh_event(tag: str, *, receive_count: int = 1, resend: bool = False) -> dict[str, Any]:
    """The sample batch's three valid records as new reports `<tag>-0..2`."""
    event = sample_event()
    event["Records"] = event["Records"][:-1]
    for n, record in enumerate(event["Records"]):
        body = json.loads(record["body"])
        body["report_id"] = f"{tag}-{n}"
        record["body"] = json.dumps(body)
        record["messageId"] = f"{tag}-message-{n}"
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        if resend:
            record["messageAttributes"][RESEND_SIGNAL] = {
                "stringValue": "1",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
    return event


def records(function: MockedFunction, tag: str) -> dict[str, dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(function.stack.physical_id("ReportsTable"))
    found = {}
    for n in range(3):
        item = table.get_item(Key={"report_id": f"{tag}-{n}"}).get("Item")
        if item is not None:
            found[f"{tag}-{n}"] = item
    return found


def die_after_the_first_signal_send(function: MockedFunction, event: dict[str, Any]) -> None:
    """Invoke, and stop the invocation right after its second SendMessageBatch: the first carries
    the shard notices, the second the first chunk of signals."""
    injector = FaultInjector(
        FaultPlan(functions={TRIAGE: FunctionFaults(stop_after=("sqs:SendMessageBatch", 2))})
    )
    with pytest.raises(FunctionTimedOut), injector.invocation(TRIAGE):
        function.invoke(event)


def signal_ids(function: MockedFunction) -> Counter[str]:
    return Counter(s["report_id"] for s in signals(function))


def intake_dead_letters(function: MockedFunction) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = function.stack.physical_id("IntakeDeadLetterQueue")
    letters = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        letters += [
            {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()} for m in messages
        ]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return letters


def test_a_signal_sent_by_an_invocation_that_then_died_is_not_sent_again(triage: MockedFunction) -> None:
    signals(triage)
    die_after_the_first_signal_send(triage, fresh_event("died"))

    pending = records(triage, "died")
    assert sorted(pending) == ["died-0", "died-1", "died-2"]  # every record written before any send
    assert {item["signal_state"] for item in pending.values()} == {"pending"}
    first = signal_ids(triage)  # a consumer took what went out
    assert sum(first.values()) >= 1  # they went out; the records were never marked sent

    assert triage.invoke(fresh_event("died", receive_count=2)) == {"batchItemFailures": []}

    assert first + signal_ids(triage) == Counter({"died-0": 1, "died-1": 1, "died-2": 1})
    stored = records(triage, "died")
    assert {item["signal_state"] for item in stored.values()} == {"sent"}
    assert all("signal_body" not in item and item["signal_message_id"] for item in stored.values())
    # The record the first invocation decided, in full, as attributes (it was pending as one string).
    assert all("pending_record" not in item for item in stored.values())
    assert all({"text", "theme_id", "score", "priority", "reasons"} <= set(item) for item in stored.values())


def test_a_pending_signal_past_the_window_is_dead_lettered_and_resent_only_on_request(
    triage: MockedFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals(triage)
    intake_dead_letters(triage)
    die_after_the_first_signal_send(triage, fresh_event("late"))
    first = signal_ids(triage)
    later = datetime.now(UTC) + timedelta(minutes=10)
    monkeypatch.setattr(triage.module.service, "clock", lambda: later)

    # Ten minutes on, SQS would no longer drop a resend: nobody can tell whether one went out.
    assert triage.invoke(fresh_event("late", receive_count=2)) == {"batchItemFailures": []}

    assert signal_ids(triage) == Counter()
    letters = intake_dead_letters(triage)
    assert sorted(letter[SOURCE_MESSAGE_ID] for letter in letters) == [f"late-message-{n}" for n in range(3)]
    for letter in letters:
        assert letter[REASON].startswith("signal outcome unknown")
        assert "--resend-unknown-signals" in letter[REASON]
        assert letter[RECEIVE_COUNT] == "2"
        first_receive_ms = int(sample_event()["Records"][0]["attributes"]["ApproximateFirstReceiveTimestamp"])
        assert datetime.fromisoformat(letter[FIRST_RECEIVED_AT]).timestamp() * 1000 == first_receive_ms
    assert {item["signal_state"] for item in records(triage, "late").values()} == {"pending"}

    # An operator checked the consumers and redrove them with --resend-unknown-signals.
    assert triage.invoke(fresh_event("late", resend=True)) == {"batchItemFailures": []}
    assert {item["signal_state"] for item in records(triage, "late").values()} == {"sent"}
    resent = signal_ids(triage)
    assert set(first + resent) == {"late-0", "late-1", "late-2"}


def test_another_report_under_a_used_report_id_is_dead_lettered_at_once_and_the_first_kept(
    triage: MockedFunction,
) -> None:
    """Intake deduplicates report ids for a day; a client reusing one later gets its report
    accepted. Triage must not count it as the report already stored under that id."""
    signals(triage)
    intake_dead_letters(triage)
    assert triage.invoke(fresh_event("reused")) == {"batchItemFailures": []}
    first = records(triage, "reused")
    assert signal_ids(triage) == Counter({"reused-0": 1, "reused-1": 1, "reused-2": 1})

    # Redelivered days later: the same reports (only intake's receipt time differs) are no news.
    again = fresh_event("reused", receive_count=2)
    for record in again["Records"]:
        body = json.loads(record["body"])
        body["received_at"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        record["body"] = json.dumps(body)
    assert triage.invoke(again) == {"batchItemFailures": []}
    assert intake_dead_letters(triage) == []

    # A different report under reused-1: into the dead-letter queue with the reason, not dropped.
    other = fresh_event("reused")
    other["Records"] = other["Records"][1:2]
    body = json.loads(other["Records"][0]["body"])
    body["text"] = "A different complaint: the replacement never arrived either."
    other["Records"][0]["body"] = json.dumps(body)
    assert triage.invoke(other) == {"batchItemFailures": []}

    letters = intake_dead_letters(triage)
    assert [letter[SOURCE_MESSAGE_ID] for letter in letters] == ["reused-message-1"]
    assert letters[0][REASON].startswith("report id reused")
    assert signal_ids(triage) == Counter()
    assert records(triage, "reused") == first


def test_a_report_another_invocation_claimed_meanwhile_is_left_to_it_and_retried(
    triage: MockedFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two invocations triaging one report at once (a standard queue's duplicate delivery into
    another batch) could reach different scores: two signals on two queues. The record is claimed
    conditionally: the invocation that read the report's state before the other claimed it sends
    nothing for it and has it retried."""
    signals(triage)
    assert triage.invoke(fresh_event("claimed")) == {"batchItemFailures": []}
    first = records(triage, "claimed")
    assert signal_ids(triage) == Counter({"claimed-0": 1, "claimed-1": 1, "claimed-2": 1})

    # The second invocation read the states before the first claimed its records.
    monkeypatch.setattr(triage.module.service.reports, "states", lambda report_ids: {})
    event = fresh_event("claimed")
    event["Records"] += fresh_event("unclaimed")["Records"][:1]
    response = triage.invoke(event)

    assert sorted(failures["itemIdentifier"] for failures in response["batchItemFailures"]) == [
        f"claimed-message-{n}" for n in range(3)
    ]
    assert signal_ids(triage) == Counter({"unclaimed-0": 1})
    assert records(triage, "claimed") == first


def test_a_refused_signal_leaves_no_pending_record_and_is_sent_on_retry(triage: MockedFunction) -> None:
    sqs = boto3.client("sqs")
    saved = {}
    for queue in SIGNAL_QUEUES:
        url = triage.stack.physical_id(queue)
        names = ["FifoQueue", "DeduplicationScope", "FifoThroughputLimit", "RedrivePolicy"]
        saved[url] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        sqs.delete_queue(QueueUrl=url)
    try:
        with pytest.raises(BatchProcessingError, match="NonExistentQueue"):
            triage.invoke(fresh_event("refused"))
    finally:
        for url, attributes in saved.items():
            sqs.create_queue(QueueName=url.rsplit("/", 1)[-1], Attributes=attributes)

    assert records(triage, "refused") == {}  # never signalled: nothing half-done is left
    assert triage.invoke(fresh_event("refused", receive_count=2)) == {"batchItemFailures": []}
    assert signal_ids(triage) == Counter({"refused-0": 1, "refused-1": 1, "refused-2": 1})


def test_a_record_failing_on_its_last_receive_is_dead_lettered_with_its_reason(
    triage: MockedFunction,
) -> None:
    intake_dead_letters(triage)
    event = sample_event()
    event["Records"] = [event["Records"][-1]]  # the poison record
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"  # IntakeQueue's maxReceiveCount

    assert triage.invoke(event) == {"batchItemFailures": []}

    [letter] = intake_dead_letters(triage)
    assert letter[REASON].startswith("not a valid intake message: ")
    assert letter[RECEIVE_COUNT] == "5"
    assert letter[SOURCE_MESSAGE_ID] == event["Records"][0]["messageId"]
    assert letter["riskradar.dlq.source-queue"] == event["Records"][0]["eventSourceARN"]
