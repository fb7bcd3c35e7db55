"""The novelty handler against moto (`mock_aws`): shard notices in, detector state and online alerts out."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from riskradar.adapters.s3 import EmbeddingShard, EmbeddingShardStore
from riskradar.models import ShardNotice, ThemeAlert
from riskradar.online_detection import PROVISIONAL_PREFIX
from tests.helpers import ROOT, MockedFunction, drain_url, mocked_function
from tests.novelty_stream import NEW_TOPIC_TEXTS, Stream

STATE_KEY = "novelty/state.json"


@pytest.fixture(scope="module")
def novelty() -> Iterator[MockedFunction]:
    with mocked_function("NoveltyFunction", function_dir="novelty") as function:
        yield function


@pytest.fixture(scope="module")
def stream() -> Stream:
    return Stream(seed=11)


def bucket(function: MockedFunction) -> str:
    return function.stack.physical_id("ArtifactsBucket")


def sample_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "novelty_queue_batch.json").read_text())
    return event


def event_for(notices: Sequence[ShardNotice], *, receive_count: int = 1) -> dict[str, Any]:
    """An SQS FIFO event of `notices`, shaped as the sample event's records."""
    template = sample_event()["Records"][0]
    records = []
    for index, notice in enumerate(notices):
        record = copy.deepcopy(template)
        record["messageId"] = f"msg-{notice.shard_key.rsplit('/', 1)[-1]}"
        record["body"] = notice.model_dump_json()
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        record["attributes"]["SequenceNumber"] = str(10**19 + index)
        records.append(record)
    return {"Records": records}


def writer(function: MockedFunction, key: str | None = None) -> Any:
    """Writes a shard to the artifacts bucket (at `key`, when the test needs a given one)."""
    s3 = boto3.client("s3")
    name = bucket(function)
    store = EmbeddingShardStore(s3, name)

    def write(shard: EmbeddingShard) -> str:
        written = store.write(shard)
        if key is None:
            return written
        s3.copy_object(Bucket=name, Key=key, CopySource={"Bucket": name, "Key": written})
        s3.delete_object(Bucket=name, Key=written)
        return key

    return write


def state(function: MockedFunction) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=bucket(function), Key=STATE_KEY)["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def state_etag(function: MockedFunction) -> str:
    return str(boto3.client("s3").head_object(Bucket=bucket(function), Key=STATE_KEY)["ETag"])


def position(function: MockedFunction) -> int:
    return int(state(function)["detector"]["position"])


def failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_the_sample_batch_is_observed_in_order_and_the_state_saved(
    novelty: MockedFunction, stream: Stream
) -> None:
    event = sample_event()
    keys = [json.loads(record["body"])["shard_key"] for record in event["Records"]]
    for key in keys:
        stream.shard(stream.background(100), write=writer(novelty, key))

    response = novelty.invoke(event)

    assert failures(response) == []
    saved = state(novelty)
    assert saved["feed"] == "all"
    assert saved["detector"]["position"] == 300
    assert saved["observed"]["shard_keys"] == keys


def test_a_redelivered_batch_is_not_observed_again_and_writes_nothing(novelty: MockedFunction) -> None:
    before = (position(novelty), state_etag(novelty))
    event = sample_event()
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"

    response = novelty.invoke(event)

    assert failures(response) == []
    assert (position(novelty), state_etag(novelty)) == before


def test_a_missing_shard_fails_with_every_later_record_and_the_earlier_ones_are_kept(
    novelty: MockedFunction, stream: Stream
) -> None:
    notices = [stream.shard(stream.background(50), write=writer(novelty)) for _ in range(3)]
    s3 = boto3.client("s3")
    missing = s3.get_object(Bucket=bucket(novelty), Key=notices[1].shard_key)["Body"].read()
    s3.delete_object(Bucket=bucket(novelty), Key=notices[1].shard_key)
    before = position(novelty)
    event = event_for(notices)

    response = novelty.invoke(event)

    # FIFO: the record after the failing one is not observed either, or it would be out of order.
    assert failures(response) == [record["messageId"] for record in event["Records"][1:]]
    assert position(novelty) == before + 50

    # The shard is back (say S3 was briefly unavailable): the two records are redelivered, in order.
    s3.put_object(Bucket=bucket(novelty), Key=notices[1].shard_key, Body=missing)
    retry = event_for(notices[1:], receive_count=2)
    assert failures(novelty.invoke(retry)) == []
    assert position(novelty) == before + 150
    assert state(novelty)["observed"]["shard_keys"][-3:] == [n.shard_key for n in notices]


def test_a_record_that_is_not_a_shard_notice_fails_it_and_everything_after_it(
    novelty: MockedFunction, stream: Stream
) -> None:
    good = stream.shard(stream.background(10), write=writer(novelty))
    event = event_for([good])
    poison = copy.deepcopy(event["Records"][0])
    poison["messageId"] = "not-a-notice"
    poison["body"] = json.dumps({"shard_key": "embeddings/x.npz"})
    event["Records"].insert(0, poison)
    before = position(novelty)

    with pytest.raises(BatchProcessingError):
        novelty.invoke(event)

    assert position(novelty) == before


def test_a_burst_of_a_brand_new_topic_raises_an_online_alert(novelty: MockedFunction, stream: Stream) -> None:
    sqs = boto3.client("sqs")
    alerts_url = novelty.stack.physical_id("AlertsQueue")
    drain_url(sqs, alerts_url)
    write = writer(novelty)
    # Background past the detector's `min_history_reports` (1,000), then the new topic among it;
    # batches of 5, as NoveltyQueue's event source delivers them.
    plan = [stream.background(50) for _ in range(22)]
    plan += [stream.background(40, extra=[stream.new_topic] * 5) for _ in range(5)]
    alerts: list[ThemeAlert] = []
    for start in range(0, len(plan), 5):
        notices = [stream.shard(topics, write=write) for topics in plan[start : start + 5]]
        assert failures(novelty.invoke(event_for(notices))) == []
        alerts += [ThemeAlert.model_validate(body) for body in drain_url(sqs, alerts_url)]

    new_theme = [alert for alert in alerts if alert.theme_id.startswith(PROVISIONAL_PREFIX)]
    assert new_theme, [alert.theme_id for alert in alerts]
    assert {alert.source for alert in alerts} == {"online"}
    assert set(new_theme[0].examples) <= set(NEW_TOPIC_TEXTS)
    assert new_theme[0].snapshot_version == 0  # no recluster has run in this stack
    assert len({alert.theme_id for alert in new_theme}) == 1


def test_the_state_holds_the_detector_and_what_it_remembers(novelty: MockedFunction) -> None:
    saved = state(novelty)
    fingerprints = np.frombuffer(base64.b64decode(saved["observed"]["report_fingerprints"]), dtype="<u8")
    assert len(fingerprints) == saved["detector"]["position"]  # every observed report, once
    assert sum(saved["observed"]["report_counts"]) == len(fingerprints)


def test_a_record_failing_on_its_last_receive_goes_to_the_fifo_dlq_and_the_later_ones_go_on(
    novelty: MockedFunction, stream: Stream
) -> None:
    sqs = boto3.client("sqs")
    dlq_url = novelty.stack.physical_id("NoveltyDeadLetterQueue")
    notices = [stream.shard(stream.background(20), write=writer(novelty)) for _ in range(3)]
    boto3.client("s3").delete_object(Bucket=bucket(novelty), Key=notices[1].shard_key)  # lost for good
    event = event_for(notices, receive_count=5)  # NoveltyQueue's maxReceiveCount
    event["Records"][1]["attributes"]["MessageGroupId"] = "embedding-shards"
    before = position(novelty)

    response = novelty.invoke(event)

    assert failures(response) == []
    assert position(novelty) == before + 40  # the shards before and after the lost one
    [letter] = sqs.receive_message(
        QueueUrl=dlq_url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    attributes = {name: value["StringValue"] for name, value in letter["MessageAttributes"].items()}
    assert ShardNotice.model_validate_json(letter["Body"]) == notices[1]
    assert attributes["riskradar.dlq.reason"].startswith("NoSuchKey")
    assert attributes["riskradar.dlq.source-message-id"] == event["Records"][1]["messageId"]
    assert attributes["riskradar.dlq.receive-count"] == "5"
    assert letter["Attributes"]["MessageGroupId"] == "embedding-shards"
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter["ReceiptHandle"])


def test_a_shard_of_other_vectors_is_refused_alone_and_its_batchmates_are_kept(
    novelty: MockedFunction, stream: Stream
) -> None:
    """Vectors the detector cannot take (another model's dimension) are refused before they touch
    it: the shard before is saved at once, the one after on redelivery, and on the last receive the
    bad one alone goes to the dead-letter queue with its reason."""
    sqs = boto3.client("sqs")
    dlq_url = novelty.stack.physical_id("NoveltyDeadLetterQueue")
    store = writer(novelty)

    def other_model(shard: EmbeddingShard) -> str:
        vectors = np.ascontiguousarray(shard.vectors[:, :16])
        return str(
            store(EmbeddingShard(shard.day, shard.report_ids, shard.theme_ids, shard.created_at, vectors))
        )

    good_before = stream.shard(stream.background(20), write=store)
    bad = stream.shard(stream.background(20), write=other_model)
    good_after = stream.shard(stream.background(20), write=store)
    before = position(novelty)
    event = event_for([good_before, bad, good_after])

    assert failures(novelty.invoke(event)) == [record["messageId"] for record in event["Records"][1:]]
    assert position(novelty) == before + 20

    last = event_for([bad, good_after], receive_count=5)
    assert failures(novelty.invoke(last)) == []
    assert position(novelty) == before + 40
    [letter] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert ShardNotice.model_validate_json(letter["Body"]) == bad
    assert "16" in letter["MessageAttributes"]["riskradar.dlq.reason"]["StringValue"]
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter["ReceiptHandle"])
