"""The intake handler against moto (`mock_aws`), driven by the sample events in events/.

The resources come from template.yaml (deployed into moto), and the handler module is imported
with the environment the template gives IntakeFunction, as Lambda would.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import base as parameters_base

from riskradar.local.faults import FaultInjector, FaultPlan, FunctionFaults, function_scope
from tests.helpers import ROOT, MockedFunction, drain_url, mocked_function

EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


class Intake:
    def __init__(self, function: MockedFunction) -> None:
        self.function = function
        self.queue_url = function.stack.physical_id("IntakeQueue")
        self.idempotency_table = function.stack.physical_id("IdempotencyTable")
        self.sqs = boto3.client("sqs")

    def invoke(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.function.invoke(event)
        return int(response["statusCode"]), json.loads(response["body"])

    def drain(self) -> list[dict[str, Any]]:
        return drain_url(self.sqs, self.queue_url)


@pytest.fixture(scope="module")
def intake() -> Iterator[Intake]:
    with mocked_function("IntakeFunction", function_dir="intake") as function:
        yield Intake(function)


@pytest.fixture(autouse=True)
def empty_queue(intake: Intake) -> Iterator[None]:
    intake.drain()
    yield
    intake.drain()


def with_body(event: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["body"] = json.dumps(body)
    return changed


def test_sample_single_report_event_is_accepted_and_enqueued(intake: Intake) -> None:
    status, body = intake.invoke(load_event("intake_post_report.json"))
    assert (status, body) == (202, {"report_id": "evt-0001", "status": "accepted"})
    [queued] = intake.drain()
    assert queued["schema_version"] == "1"
    assert queued["text"].endswith("to [EMAIL] via a link.")
    assert queued["amount"] == {"value": "240", "currency": "USD"}
    assert queued["created_at"] == "2026-11-24T09:30:00Z"


def test_sample_batch_event_accepts_valid_items_and_names_invalid_fields(intake: Intake) -> None:
    status, body = intake.invoke(load_event("intake_post_report_batch.json"))
    assert status == 202
    assert [item["status"] for item in body["items"]] == ["accepted", "accepted", "rejected"]
    fields = {error["field"] for error in body["items"][2]["errors"]}
    assert fields == {"reports[2].business", "reports[2].reporter.role", "reports[2].text"}
    queued = intake.drain()
    assert sorted(q["report_id"] for q in queued) == ["evt-0101", "evt-0102"]
    live = next(q for q in queued if q["report_id"] == "evt-0101")
    assert "[PHONE]" in live["text"]
    assert "7946" not in live["text"]


def test_redelivered_event_is_a_duplicate(intake: Intake) -> None:
    event = with_body(load_event("intake_post_report.json"), {**_sample_report(), "report_id": "evt-dup-1"})
    assert intake.invoke(event)[1]["status"] == "accepted"
    assert intake.invoke(event)[1]["status"] == "duplicate"
    assert len(intake.drain()) == 1


def test_base64_body_with_invalid_utf8_is_400(intake: Intake) -> None:
    event = load_event("intake_post_report.json")
    event["body"] = base64.b64encode(b'{"text": "\xff"}').decode()
    event["isBase64Encoded"] = True
    status, body = intake.invoke(event)
    assert status == 400
    assert body["error"]["code"] == "invalid_encoding"


def test_base64_json_body_is_decoded(intake: Intake) -> None:
    report = {**_sample_report(), "report_id": "evt-b64-1"}
    event = load_event("intake_post_report.json")
    event["body"] = base64.b64encode(json.dumps(report).encode()).decode()
    event["isBase64Encoded"] = True
    assert intake.invoke(event) == (202, {"report_id": "evt-b64-1", "status": "accepted"})


def test_queue_outage_is_503_and_leaves_nothing_half_written(intake: Intake) -> None:
    """If SQS fails, the idempotency record is released: the client's retry is accepted, not a duplicate."""
    event = with_body(
        load_event("intake_post_report.json"), {**_sample_report(), "report_id": "evt-outage-1"}
    )
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=intake.queue_url, AttributeNames=["All"])["Attributes"]
    queue_name = intake.queue_url.rsplit("/", 1)[1]
    sqs.delete_queue(QueueUrl=intake.queue_url)
    try:
        status, body = intake.invoke(event)
        assert status == 503
        assert body["error"]["code"] == "unavailable"
        assert "Traceback" not in json.dumps(body)
        records = boto3.client("dynamodb").scan(TableName=intake.idempotency_table)["Items"]
        assert not [r for r in records if "evt-outage-1" in json.dumps(r)]
    finally:
        sqs.create_queue(
            QueueName=queue_name,
            Attributes={k: v for k, v in attributes.items() if k in ("VisibilityTimeout", "RedrivePolicy")},
        )
    assert intake.invoke(event) == (202, {"report_id": "evt-outage-1", "status": "accepted"})
    assert [q["report_id"] for q in intake.drain()] == ["evt-outage-1"]


def deny(intake: Intake, operation: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Invoke with `operation` (e.g. dynamodb:PutItem) refused, as a missing permission would be."""
    parameters_base.DEFAULT_PROVIDERS.clear()  # a cold container: the SSM key is fetched anew
    plan = FaultPlan(functions={"IntakeFunction": FunctionFaults(denied=frozenset({operation}))})
    with function_scope("IntakeFunction"), FaultInjector(plan).invocation("IntakeFunction"):
        return intake.invoke(event)


@pytest.mark.parametrize("operation", ["dynamodb:PutItem", "ssm:GetParameter"])
def test_an_idempotency_table_or_key_outage_is_503_with_retry_after_and_nothing_queued(
    intake: Intake, operation: str
) -> None:
    report_id = f"evt-{operation.replace(':', '-')}"
    event = with_body(load_event("intake_post_report.json"), {**_sample_report(), "report_id": report_id})
    status, body = deny(intake, operation, event)
    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert intake.drain() == []
    assert intake.invoke(event) == (202, {"report_id": report_id, "status": "accepted"})
    assert [q["report_id"] for q in intake.drain()] == [report_id]


def test_a_report_queued_whose_idempotency_record_could_not_be_completed_is_accepted(intake: Intake) -> None:
    """The message is on the queue; only the record saying so stayed "in progress"."""
    event = with_body(load_event("intake_post_report.json"), {**_sample_report(), "report_id": "evt-half"})
    assert deny(intake, "dynamodb:UpdateItem", event) == (
        202,
        {"report_id": "evt-half", "status": "accepted"},
    )
    assert [q["report_id"] for q in intake.drain()] == ["evt-half"]


def test_a_batch_counts_each_outcome_under_its_own_name(intake: Intake) -> None:
    """A conflict is not bad input: it is counted as a conflict, not as rejected."""
    first = {**_sample_report(), "report_id": "evt-counted-1"}
    assert intake.invoke(with_body(load_event("intake_post_report.json"), first))[0] == 202
    reused = {**first, "text": "Another complaint under the same id."}
    fresh = {**_sample_report(), "report_id": "evt-counted-2"}
    invalid = {**_sample_report(), "report_id": "evt-counted-3", "business": "casino"}
    event = with_body(
        load_event("intake_post_report_batch.json"), {"reports": [reused, fresh, invalid, first]}
    )

    status, body = intake.invoke(event)

    assert status == 202
    counts = {
        name: body[name]
        for name in ("accepted", "duplicates", "rejected", "conflicts", "in_progress", "failed")
    }
    assert counts == {
        "accepted": 1,
        "duplicates": 1,
        "rejected": 1,
        "conflicts": 1,
        "in_progress": 0,
        "failed": 0,
    }
    assert [item["status"] for item in body["items"]] == ["conflict", "accepted", "rejected", "duplicate"]


def test_batch_with_no_valid_report_is_422_with_the_error_object(intake: Intake) -> None:
    bad = {**_sample_report(), "report_id": "evt-bad-1", "text": " ", "business": "casino"}
    event = with_body(load_event("intake_post_report_batch.json"), {"reports": [bad, "not a report"]})
    status, body = intake.invoke(event)
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert {d["field"] for d in body["error"]["details"]} == {
        "reports[0].text",
        "reports[0].business",
        "reports[1]",
    }
    assert [item["status"] for item in body["items"]] == ["rejected", "rejected"]
    assert intake.drain() == []


def test_batch_reusing_an_id_for_other_content_is_409_with_the_error_object(intake: Intake) -> None:
    first = {**_sample_report(), "report_id": "evt-conflict-1"}
    assert intake.invoke(with_body(load_event("intake_post_report.json"), first))[0] == 202
    changed = {**first, "text": "A different report under the same id."}
    status, body = intake.invoke(
        with_body(load_event("intake_post_report_batch.json"), {"reports": [changed]})
    )
    assert status == 409
    assert body["error"]["code"] == "conflict"
    assert body["items"] == [
        {
            "index": 0,
            "status": "conflict",
            "report_id": "evt-conflict-1",
            # Named like a validation error of a batch item, so clients read every error one way.
            "errors": [
                {"field": "reports[0].report_id", "reason": "was already used for a different report"}
            ],
        }
    ]
    assert len(intake.drain()) == 1


def test_batch_during_a_queue_outage_is_503_with_retry_after(intake: Intake) -> None:
    report = {**_sample_report(), "report_id": "evt-outage-batch-1"}
    event = with_body(load_event("intake_post_report_batch.json"), {"reports": [report]})
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=intake.queue_url, AttributeNames=["All"])["Attributes"]
    queue_name = intake.queue_url.rsplit("/", 1)[1]
    sqs.delete_queue(QueueUrl=intake.queue_url)
    try:
        response = intake.function.invoke(event)
    finally:
        sqs.create_queue(
            QueueName=queue_name,
            Attributes={k: v for k, v in attributes.items() if k in ("VisibilityTimeout", "RedrivePolicy")},
        )
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    body = json.loads(response["body"])
    assert body["error"]["code"] == "unavailable"
    assert body["items"] == [
        {
            "index": 0,
            "status": "failed",
            "errors": [
                {
                    "field": "reports[0]",
                    "reason": "could not be accepted right now; nothing was kept, retry it",
                }
            ],
        }
    ]
    assert intake.invoke(event)[1]["accepted"] == 1


def _sample_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(load_event("intake_post_report.json")["body"])
    return report
