"""moto's DynamoDB items as the local stack patches them (riskradar.local.moto_server): built in
linear time, and still refused past the item size limit, against a real moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.dynamo_type import DynamoType

from riskradar.local.moto_server import MotoServer, fake_session

TABLE = "moto-items"


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    server = MotoServer()
    resource = fake_session("us-east-1").resource("dynamodb", endpoint_url=server.endpoint_url)
    created = resource.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield created
    server.reset()
    server.stop()


def wide_item(item_id: str, attributes: int) -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id}
    for n in range(attributes):
        item[f"a{n}"] = {"nested": [n, str(n)], "amount": Decimal(n)}
    return item


def test_an_item_is_measured_once_not_once_per_attribute(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    measured = 0
    size = DynamoType.size

    def counting_size(self: DynamoType) -> int:
        nonlocal measured
        measured += 1
        return size(self)

    # The moto server answers in this process, so its calls are counted here.
    monkeypatch.setattr(DynamoType, "size", counting_size)
    table.put_item(Item=wide_item("wide", 200))

    # Each attribute is a map of a 2-list and a number: ~6 DynamoType.size calls to measure it.
    # Re-measuring every attribute on each new one (moto's own check) would take ~200 x 200 / 2 x 6.
    assert measured < 200 * 10


def test_a_stored_item_reads_back_as_written(table: Any) -> None:
    item = wide_item("round-trip", 30) | {"text": "é" * 100, "flag": True, "tags": {"a", "b"}}
    table.put_item(Item=item)

    assert table.get_item(Key={"id": "round-trip"})["Item"] == item


def test_an_item_over_the_size_limit_is_refused_with_dynamodbs_error(table: Any) -> None:
    with pytest.raises(ClientError) as refused:
        table.put_item(Item={"id": "too-big", "blob": "x" * 410_000})

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "maximum allowed size" in refused.value.response["Error"]["Message"]
    assert "Item" not in table.get_item(Key={"id": "too-big"})


def test_an_item_just_under_the_limit_is_stored(table: Any) -> None:
    table.put_item(Item={"id": "large", "blob": "x" * 390_000})

    assert len(table.get_item(Key={"id": "large"})["Item"]["blob"]) == 390_000


def test_a_batch_write_over_the_limit_is_refused_whole(table: Any) -> None:
    client = table.meta.client
    with pytest.raises(ClientError) as refused:
        client.batch_write_item(
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": {"id": "batch-ok"}}},
                    {"PutRequest": {"Item": {"id": "batch-big", "blob": "x" * 410_000}}},
                ]
            }
        )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in table.get_item(Key={"id": "batch-big"})
