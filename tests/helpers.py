"""Small helpers shared by test modules (observing AWS state, never replacing our own code)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from riskradar.local import LocalStack
from riskradar.local.defaults import LOCAL_ID_HASH_KEY, TEMPLATE
from riskradar.local.faults import function_scope, install_client_hooks
from riskradar.local.runtime import LambdaContext
from riskradar.local.sam import DeployedStack, deploy
from riskradar.local.template import SamTemplate

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: Path) -> ModuleType:
    """A script that is not in a package (benchmarks/, tools/), loaded as its command runs it,
    under its file name (dataclasses look their module up in sys.modules while a class is built)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def drain(stack: LocalStack, logical_id: str) -> list[dict[str, Any]]:
    """Receive and delete every message on a queue; return the parsed bodies in arrival order."""
    sqs = stack.client("sqs")
    url = stack.physical_id(logical_id)
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(_parsed(m["Body"]) | {"_attributes": m.get("MessageAttributes", {})} for m in messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def stored_report(stack: LocalStack, report_id: str) -> dict[str, Any] | None:
    """The reports-table record triage wrote for `report_id`, or None."""
    table = stack.session.resource("dynamodb", endpoint_url=stack.endpoint_url).Table(
        stack.physical_id("ReportsTable")
    )
    item: dict[str, Any] | None = table.get_item(Key={"report_id": report_id}).get("Item")
    return item


@dataclass
class MockedFunction:
    """A handler module imported with its template environment, over resources in `mock_aws`."""

    module: ModuleType
    stack: DeployedStack

    def invoke(self, event: dict[str, Any], *, timeout_s: int = 30) -> Any:
        name = self.module.__name__
        context = LambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            memory_limit_in_mb="1024",
            timeout_s=timeout_s,
        )
        return self.module.lambda_handler(event, context)


@contextlib.contextmanager
def mocked_function(logical_id: str, *, function_dir: str) -> Iterator[MockedFunction]:
    """Deploy template.yaml into `mock_aws` and import one function's handler with its environment.

    The handler module gets a unique name, so each function's `app.py` stays apart. Its clients
    carry the local stack's fault hooks (riskradar.local.faults), idle unless a test injects faults
    with `FaultInjector.invocation(logical_id)` around an invoke.
    """
    with mock_aws(), pytest.MonkeyPatch.context() as env:
        template = SamTemplate.load(TEMPLATE)
        parameters = template.parameter_values()
        boto3.client("ssm").put_parameter(
            Name=parameters["IdHashKeyParameterName"], Value=LOCAL_ID_HASH_KEY, Type="SecureString"
        )
        stack = deploy(
            template,
            parameters,
            stack_name=f"riskradar-it-{function_dir}",
            region="us-east-1",
            cloudformation=boto3.client("cloudformation"),
            s3=boto3.client("s3"),
        )
        configuration = boto3.client("lambda").get_function_configuration(
            FunctionName=stack.physical_id(logical_id)
        )
        for name, value in configuration["Environment"]["Variables"].items():
            env.setenv(name, str(value))
        path = ROOT / "functions" / function_dir / "app.py"
        spec = importlib.util.spec_from_file_location(f"{function_dir}_app_under_test", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        install_client_hooks()
        with function_scope(logical_id):
            spec.loader.exec_module(module)
        yield MockedFunction(module, stack)


def drain_url(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Like `drain`, for a queue URL and client (e.g. inside `mock_aws`)."""
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [_parsed(m["Body"]) for m in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _parsed(body: str) -> dict[str, Any]:
    """A message body as JSON, or {"_raw": body} for what is not a JSON object (poison messages)."""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return {"_raw": body}
    return parsed if isinstance(parsed, dict) else {"_raw": body}
