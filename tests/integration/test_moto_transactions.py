"""moto's TransactWriteItems as the local stack patches it (riskradar.local.moto_server): a cancelled
transaction is undone item by item instead of by copying whole tables, and moto's answers stay the
same. Each case runs against a real moto server over HTTP, once with the patch and once with moto's
own code, and the two must agree on the error and on every item left in the tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend, Table

from riskradar.local.moto_server import MotoServer, fake_session

Transaction = list[dict[str, Any]]


@pytest.fixture
def client(moto_server: MotoServer) -> Iterator[Any]:
    dynamodb = fake_session("us-east-1").client("dynamodb", endpoint_url=moto_server.endpoint_url)
    dynamodb.create_table(
        TableName="plain",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="ranged",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield dynamodb
    for table in ("plain", "ranged"):
        dynamodb.delete_table(TableName=table)


def seed(client: Any) -> None:
    for item_id in ("kept", "updated", "deleted"):
        client.put_item(
            TableName="plain", Item={"id": {"S": item_id}, "n": {"N": "1"}, "tags": {"SS": ["a"]}}
        )
    for at in (1, 2):
        client.put_item(TableName="ranged", Item={"id": {"S": "r"}, "at": {"N": str(at)}, "v": {"S": "old"}})


def contents(client: Any) -> dict[str, list[dict[str, Any]]]:
    return {table: sorted(client.scan(TableName=table)["Items"], key=repr) for table in ("plain", "ranged")}


def put(item_id: str, condition: str | None = None, table: str = "plain", **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": table, "Item": {"id": {"S": item_id}, **extra}}
    if condition:
        request["ConditionExpression"] = condition
    return {"Put": request}


UPDATE_THEN_REFUSED: Transaction = [
    {
        "Update": {
            "TableName": "plain",
            "Key": {"id": {"S": "updated"}},
            "UpdateExpression": "ADD n :one, tags :b SET note = :note",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":b": {"SS": ["b"]}, ":note": {"S": "x"}},
        }
    },
    put("new"),
    {"Delete": {"TableName": "plain", "Key": {"id": {"S": "deleted"}}}},
    put("r", table="ranged", at={"N": "1"}, v={"S": "new"}),
    put("r", table="ranged", at={"N": "3"}, v={"S": "new"}),
    put("kept", "attribute_not_exists(id)", n={"N": "9"}),
]

CASES: dict[str, Transaction] = {
    "every action applied": UPDATE_THEN_REFUSED[:-1],
    "one refused condition undoes the actions before it": UPDATE_THEN_REFUSED,
    "a refused condition first, the rest still checked": [UPDATE_THEN_REFUSED[-1], *UPDATE_THEN_REFUSED[:-1]],
    "a failed condition check cancels": [
        put("new"),
        {
            "ConditionCheck": {
                "TableName": "plain",
                "Key": {"id": {"S": "kept"}},
                "ConditionExpression": "n > :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ],
    "an update that cannot apply cancels under its error's name": [
        put("new"),
        {
            "Update": {
                "TableName": "plain",
                "Key": {"id": {"S": "kept"}},
                "UpdateExpression": "ADD tags :n",
                "ExpressionAttributeValues": {":n": {"N": "1"}},
            }
        },
    ],
    "one item named twice is a validation error": [put("new"), put("twice"), put("twice")],
    "more than 100 actions are refused": [put(f"many-{n}") for n in range(101)],
    "an item without its key cancels": [
        put("new"),
        {"Put": {"TableName": "plain", "Item": {}}},
    ],
}


Outcome = tuple[Any, dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]


def outcome(client: Any, transaction: Transaction) -> Outcome:
    """(the answer, the tables before, the tables after)."""
    seed(client)
    before = contents(client)
    try:
        client.transact_write_items(TransactItems=transaction)
        answer: Any = "ok"
    except ClientError as error:
        answer = (error.response["Error"]["Code"], error.response.get("CancellationReasons"))
    after = contents(client)
    for table, items in after.items():  # empty the tables for the next run
        for item in items:
            client.delete_item(
                TableName=table, Key={name: item[name] for name in ("id", "at") if name in item}
            )
    return answer, before, after


@pytest.mark.parametrize("case", list(CASES))
def test_each_transaction_ends_as_with_motos_own_code(
    client: Any, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    patched = outcome(client, CASES[case])
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.moto_transact_write_items)

    motos = outcome(client, CASES[case])

    assert patched == motos
    answer, before, after = patched
    if case == "every action applied":
        assert answer == "ok"
        assert after != before
    else:
        assert answer != "ok"
        assert after == before  # nothing of a cancelled transaction is left


def test_a_table_is_never_copied_whatever_its_size(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(500):
        client.put_item(TableName="plain", Item={"id": {"S": f"old-{n}"}})

    def no_copy(self: Table, memo: Any) -> Table:
        raise AssertionError("the whole table was copied")

    # The moto server answers in this process: a copy of a table would raise there, and be a 500.
    monkeypatch.setattr(Table, "__deepcopy__", no_copy, raising=False)
    claims = [put(f"new-{n}", "attribute_not_exists(id)") for n in range(99)]
    client.transact_write_items(TransactItems=claims)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[*claims[:50], put("old-7", "attribute_not_exists(id)")])

    assert client.scan(TableName="plain", Select="COUNT")["Count"] == 599
