"""The local stack's fault injection (riskradar.local.faults) against a real moto server.

Clients are built inside `function_scope`, as a handler builds them at import; calls are made inside
`FaultInjector.invocation`, as the runtime runs a handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from riskradar.local.faults import (
    FaultInjector,
    FaultPlan,
    FunctionFaults,
    FunctionTimedOut,
    InjectedCrash,
    function_scope,
    install_client_hooks,
)
from riskradar.local.moto_server import MotoServer, fake_session

FUNCTION = "SomeFunction"


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    install_client_hooks()
    moto = MotoServer()
    yield moto
    moto.reset()
    moto.stop()


@pytest.fixture
def table(server: MotoServer, request: pytest.FixtureRequest) -> str:
    name = f"faults-{request.node.name[:40]}"
    fake_session("us-east-1").client("dynamodb", endpoint_url=server.endpoint_url).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def function_client(server: MotoServer, service: str = "dynamodb", **config: Any) -> Any:
    """A client built as a handler builds one (inside the function's scope)."""
    with function_scope(FUNCTION):
        return fake_session("us-east-1").client(
            service, endpoint_url=server.endpoint_url, config=Config(**config) if config else None
        )


def stored_ids(server: MotoServer, table: str) -> set[str]:
    client = fake_session("us-east-1").client("dynamodb", endpoint_url=server.endpoint_url)
    return {item["id"]["S"] for item in client.scan(TableName=table)["Items"]}


def put(client: Any, table: str, item_id: str) -> dict[str, Any]:
    response: dict[str, Any] = client.put_item(TableName=table, Item={"id": {"S": item_id}})
    return response


def test_a_plan_refuses_shares_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="throttle"):
        FunctionFaults(throttle=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        FunctionFaults(crash_before=0.6, crash_after=0.6)
    with pytest.raises(ValueError, match="redeliver"):
        FaultPlan(redeliver=-0.1)


def test_throttled_attempts_are_retried_by_botocore_and_counted(server: MotoServer, table: str) -> None:
    client = function_client(server, retries={"mode": "standard", "max_attempts": 3})
    injector = FaultInjector(FaultPlan(seed=3, functions={FUNCTION: FunctionFaults(throttle=0.4)}))
    responses: list[dict[str, Any]] = []
    with injector.invocation(FUNCTION):
        for n in range(12):
            try:
                responses.append(put(client, table, f"item-{n}"))
            except ClientError as error:
                responses.append(error.response)
    succeeded = sum(1 for response in responses if "Error" not in response)
    attempts = sum(response["ResponseMetadata"]["RetryAttempts"] + 1 for response in responses)

    assert {r["Error"]["Code"] for r in responses if "Error" in r} <= {"ThrottlingException"}

    assert injector.ledger.throttled_attempts > 0
    # Every attempt that did not succeed was one the injector throttled, and none reached moto.
    assert injector.ledger.throttled_attempts == attempts - succeeded
    assert len(stored_ids(server, table)) == succeeded


def test_exhausted_throttling_reaches_the_caller_and_nothing_is_written(
    server: MotoServer, table: str
) -> None:
    client = function_client(server)
    injector = FaultInjector(FaultPlan(functions={FUNCTION: FunctionFaults(throttle_exhausted=1.0)}))
    with injector.invocation(FUNCTION), pytest.raises(ClientError) as raised:
        put(client, table, "never")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert injector.ledger.throttles_exhausted == 1
    assert stored_ids(server, table) == set()


def test_a_timeout_stops_the_invocation_after_its_kth_call(server: MotoServer, table: str) -> None:
    client = function_client(server)
    plan = FaultPlan(functions={FUNCTION: FunctionFaults(timeout=1.0)}, timeout_after_calls=(3, 3))
    injector = FaultInjector(plan)
    reached: list[int | str] = []

    def handler() -> None:
        for n in range(10):
            try:
                put(client, table, f"call-{n}")
            except Exception:  # handler code that catches everything cannot stop a timeout
                reached.append("caught")
            reached.append(n)

    with pytest.raises(FunctionTimedOut), injector.invocation(FUNCTION):
        handler()
    assert reached == [0, 1, 2]
    assert stored_ids(server, table) == {"call-0", "call-1", "call-2"}
    assert injector.ledger.timeouts == 1


def test_a_crash_before_runs_nothing_and_a_crash_after_runs_everything(
    server: MotoServer, table: str
) -> None:
    client = function_client(server)
    before = FaultInjector(FaultPlan(functions={FUNCTION: FunctionFaults(crash_before=1.0)}))
    with pytest.raises(InjectedCrash, match="before"), before.invocation(FUNCTION):
        put(client, table, "before")
    after = FaultInjector(FaultPlan(functions={FUNCTION: FunctionFaults(crash_after=1.0)}))
    with pytest.raises(InjectedCrash, match="after"), after.invocation(FUNCTION):
        put(client, table, "after")
    assert stored_ids(server, table) == {"after"}
    assert (before.ledger.crashes_before, after.ledger.crashes_after) == (1, 1)


def test_faults_touch_only_the_targeted_functions_clients_and_only_while_enabled(
    server: MotoServer, table: str
) -> None:
    harness = fake_session("us-east-1").client("dynamodb", endpoint_url=server.endpoint_url)
    client = function_client(server)
    injector = FaultInjector(FaultPlan(functions={FUNCTION: FunctionFaults(throttle_exhausted=1.0)}))
    with injector.invocation(FUNCTION):
        put(harness, table, "harness")  # not built by a function: never throttled
    with injector.invocation("OtherFunction"):
        put(client, table, "other-function")  # no faults planned for that function
    injector.enabled = False
    with injector.invocation(FUNCTION):
        put(client, table, "disabled")
    assert stored_ids(server, table) == {"harness", "other-function", "disabled"}
    assert injector.ledger.throttles_exhausted == 0


def test_s3_and_sqs_throttling_use_their_own_error_codes(server: MotoServer) -> None:
    s3 = function_client(server, "s3", retries={"max_attempts": 1})
    sqs = function_client(server, "sqs", retries={"max_attempts": 1})
    injector = FaultInjector(FaultPlan(functions={FUNCTION: FunctionFaults(throttle=1.0)}))
    with injector.invocation(FUNCTION):
        with pytest.raises(ClientError) as s3_error:
            s3.list_buckets()
        with pytest.raises(ClientError) as sqs_error:
            sqs.list_queues()
    assert s3_error.value.response["Error"]["Code"] == "SlowDown"
    assert sqs_error.value.response["Error"]["Code"] == "ThrottlingException"


def test_poison_goes_only_to_poisoned_queues() -> None:
    injector = FaultInjector(FaultPlan(seed=1, poison=1.0))
    injector.poison_queues(frozenset({"poisoned"}))
    assert injector.poison_for("other") is None
    bodies = {injector.poison_for("poisoned") for _ in range(20)}
    assert None not in bodies
    assert len(bodies) > 1
