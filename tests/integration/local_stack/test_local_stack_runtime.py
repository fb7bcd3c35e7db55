"""The in-process Lambda runtime: per-function environment, modules, layers and context."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from riskradar.local import LocalFunction, LocalStack
from riskradar.local.faults import FunctionTimedOut
from riskradar.local.runtime import INVOCATION_LOCK, FunctionConfiguration, LambdaMarshalError
from tests.integration.local_stack.probe_stack import PROBE_SECRET, Probe


def api_environment(stack: LocalStack) -> dict[str, Any]:
    response = stack.invoke_http("GET", "/env")
    assert response["statusCode"] == 200
    result: dict[str, Any] = json.loads(response["body"])
    return result


def test_each_function_sees_only_its_own_environment(stack: LocalStack, probe: Probe) -> None:
    api = api_environment(stack)
    ticker = stack.fire_schedule("TickerFunction")
    probe.send({"id": "env-check"})
    stack.run_until_idle(timeout_s=10)
    (batch,) = probe.batches_with({"env-check"})
    worker = next(
        item
        for item in stack.client("dynamodb").scan(TableName=stack.physical_id("EffectsTable"))["Items"]
        if item["pk"]["S"].startswith("batch#") and [v["S"] for v in item["ids"]["L"]] == batch
    )

    assert (api["role"], api["role_at_import"], api["api_only"]) == ("api", "api", "yes")
    assert (ticker["role"], ticker["api_only"]) == ("ticker", None)
    assert (worker["role"]["S"], worker["role_at_import"]["S"], worker["api_only"]["S"]) == (
        "worker",
        "worker",
        "-",
    )
    assert "PROBE_ROLE" not in os.environ
    assert "AWS_ENDPOINT_URL" not in os.environ or os.environ["AWS_ENDPOINT_URL"] != stack.endpoint_url


def test_each_function_imports_its_own_app_module(stack: LocalStack) -> None:
    api = api_environment(stack)
    ticker = stack.fire_schedule("TickerFunction")

    assert api["module_file"].endswith("probe_app/functions/api/app.py")
    assert ticker["module_file"].endswith("probe_app/functions/ticker/app.py")
    assert "app" not in sys.modules or "probe_app" not in str(getattr(sys.modules["app"], "__file__", ""))


def test_template_values_secrets_and_layers_reach_the_function(stack: LocalStack) -> None:
    api = api_environment(stack)

    assert api["colors"] == "red,green"  # a CommaDelimitedList default, through !Join
    assert api["secret"] == PROBE_SECRET  # read from SSM at import time
    assert api["layer"] == "hello from ProbeLayer"
    assert api["endpoint"] == stack.endpoint_url


def test_the_context_is_shaped_like_lambdas(stack: LocalStack) -> None:
    api = api_environment(stack)
    function_name = stack.physical_id("ApiFunction")

    assert api["function_name"] == function_name
    assert api["invoked_function_arn"].endswith(f":function:{function_name}")
    assert api["memory_limit_in_mb"] == "256"  # a string, as the Python runtime gives it
    assert 0 < api["remaining_ms"] <= 10_000
    assert api["aws_request_id"]


def test_invoke_calls_a_function_directly(stack: LocalStack) -> None:
    event = {"version": "0", "id": "direct", "detail-type": "Scheduled Event", "source": "aws.events"}
    result = stack.invoke("TickerFunction", {**event, "resources": ["arn:direct"], "detail": {}})

    assert result["tick_id"] == "direct"
    assert result["rule"] == "arn:direct"


def local_function(folder: Path, logical_id: str, *, timeout_s: int) -> LocalFunction:
    """The function whose handler is `app.lambda_handler` in `folder`."""
    name = logical_id.removesuffix("Function").lower()
    return LocalFunction(
        FunctionConfiguration(
            logical_id=logical_id,
            name=name,
            arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            handler="app.lambda_handler",
            runtime="python3.12",
            memory_mb=128,
            timeout_s=timeout_s,
            search_path=(folder,),
            environment={},
        )
    )


def test_the_timeout_clock_starts_when_the_handler_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Waiting for the invocation lock (another function running: a busy stack) stands for waiting
    for a free execution environment: it must not eat the function's time, nor count as a timeout."""
    (tmp_path / "app.py").write_text(
        "def lambda_handler(event, context):\n    return context.get_remaining_time_in_millis()\n"
    )
    function = local_function(tmp_path, "ClockFunction", timeout_s=1)
    lock_held = threading.Event()
    release = threading.Event()

    def busy_stack() -> None:  # another invocation holding the lock for longer than the timeout
        with INVOCATION_LOCK:
            lock_held.set()
            release.wait(timeout=10)

    other = threading.Thread(target=busy_stack)
    other.start()
    lock_held.wait(timeout=10)
    threading.Timer(1.5, release.set).start()
    with caplog.at_level(logging.WARNING, logger="riskradar-local"):
        remaining_ms = function.invoke({})
    other.join()

    assert remaining_ms > 0
    assert not [r for r in caplog.records if "past its" in r.getMessage()]


def test_a_handler_that_runs_past_its_timeout_fails_as_lambda_would(tmp_path: Path) -> None:
    """Lambda stops it and reports an error: an SQS batch comes back, the API answers 500. Here
    the handler runs to its end, and then the invocation fails."""
    (tmp_path / "app.py").write_text(
        "import time\n\ndef lambda_handler(event, context):\n    time.sleep(1.2)\n    return 'done'\n"
    )
    function = local_function(tmp_path, "SlowFunction", timeout_s=1)
    with pytest.raises(FunctionTimedOut, match="past its 1 s timeout"):
        function.invoke({})


def test_a_response_over_lambdas_6_mb_fails_as_on_aws(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "def lambda_handler(event, context):\n    return {'body': 'x' * event['size']}\n"
    )
    function = local_function(tmp_path, "BigFunction", timeout_s=10)
    assert len(function.invoke({"size": 6_000_000})["body"]) == 6_000_000
    with pytest.raises(LambdaMarshalError, match="over Lambda's 6,291,456"):
        function.invoke({"size": 6_300_000})
