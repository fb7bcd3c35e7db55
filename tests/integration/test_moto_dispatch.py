"""moto's request dispatch as the local stack patches it (riskradar.local.moto_server): the backend
for a host is looked up once, not on every request, and requests still reach the right service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from moto import backends

from riskradar.local.moto_server import MotoServer, fake_session


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    running = MotoServer()
    yield running
    running.reset()
    running.stop()


def test_each_host_is_resolved_once_and_each_service_still_answers(
    server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = 0
    list_modules = backends.list_of_moto_modules

    def counting_list() -> Iterable[str]:
        nonlocal listed
        listed += 1
        return list_modules()

    # The moto server answers in this process: its lookups are counted here.
    monkeypatch.setattr(backends, "list_of_moto_modules", counting_list)
    session = fake_session("eu-west-3")  # a region no other test in this process has used
    sqs = session.client("sqs", endpoint_url=server.endpoint_url)
    s3 = session.client("s3", endpoint_url=server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="dispatch")["QueueUrl"]
    s3.create_bucket(Bucket="dispatch", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    for n in range(20):
        sqs.send_message(QueueUrl=queue_url, MessageBody=str(n))
        s3.put_object(Bucket="dispatch", Key=f"k{n}", Body=b"x")

    assert (
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "20"
    )
    assert s3.list_objects_v2(Bucket="dispatch")["KeyCount"] == 20
    # 44 requests to two hosts (unpatched moto lists its modules on every request).
    assert listed <= 2
