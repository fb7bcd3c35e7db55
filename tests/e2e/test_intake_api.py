"""The intake API end to end: real HTTP to the local stack, real handler, real (moto) SQS/DynamoDB/SSM."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from riskradar.local import LocalStack
from riskradar.local.defaults import LOCAL_ID_HASH_KEY
from riskradar.pseudonymize import IdHasher
from tests.helpers import drain

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("intake_queue")]


def a_report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "report_id": f"e2e-{uuid.uuid4()}",
        "business": "shop",
        "reporter": {"id": "user-42", "role": "user"},
        "subject": {"type": "seller", "id": "seller-7"},
        "text": "Seller took $120 and never shipped. Contact me at jane.doe@example.com or +1 415 555 0134.",
        "amount": {"value": 120, "currency": "USD"},
        "created_at": "2026-11-20T10:00:00Z",
    }
    report.update(overrides)
    return report


def post(api_url: str, path: str, body: Any, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        api_url + path, data=data, headers={"content-type": "application/json", **headers}, timeout=30
    )


def assert_clean_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert "Traceback" not in response.text
    return dict(error)


def test_single_report_is_redacted_pseudonymised_and_enqueued_once(api_url: str, stack: LocalStack) -> None:
    report = a_report()
    response = post(api_url, "/v1/reports", report)
    assert response.status_code == 202, response.text
    assert response.json() == {"report_id": report["report_id"], "status": "accepted"}

    [queued] = drain(stack, "IntakeQueue")
    assert queued["report_id"] == report["report_id"]
    assert "jane.doe@example.com" not in json.dumps(queued)
    assert "555 0134" not in json.dumps(queued)
    assert "[EMAIL]" in queued["text"]
    assert "[PHONE]" in queued["text"]
    assert queued["redactions"] == {"email": 1, "phone": 1}
    hasher = IdHasher(LOCAL_ID_HASH_KEY.encode())
    assert queued["reporter"] == {"id_hash": hasher.reporter("user-42"), "role": "user"}
    assert queued["subject"] == {"type": "seller", "id_hash": hasher.subject("seller", "seller-7")}
    assert "user-42" not in json.dumps(queued)
    assert queued["_attributes"]["business"]["StringValue"] == "shop"


def test_report_without_id_gets_a_generated_one(api_url: str, stack: LocalStack) -> None:
    report = a_report()
    del report["report_id"]
    response = post(api_url, "/v1/reports", report)
    assert response.status_code == 202
    generated = response.json()["report_id"]
    assert uuid.UUID(generated)
    assert [q["report_id"] for q in drain(stack, "IntakeQueue")] == [generated]


def test_same_report_twice_is_one_message(api_url: str, stack: LocalStack) -> None:
    report = a_report()
    first = post(api_url, "/v1/reports", report)
    second = post(api_url, "/v1/reports", report)
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    assert (second.status_code, second.json()["status"]) == (202, "duplicate")
    assert [q["report_id"] for q in drain(stack, "IntakeQueue")] == [report["report_id"]]


def test_reused_report_id_with_other_content_is_a_conflict(api_url: str, stack: LocalStack) -> None:
    report = a_report()
    assert post(api_url, "/v1/reports", report).status_code == 202
    error = assert_clean_error(post(api_url, "/v1/reports", report | {"text": "other"}), 409, "conflict")
    assert error["report_id"] == report["report_id"]
    assert len(drain(stack, "IntakeQueue")) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"business": "shop", ', {}, 400, "malformed_json"),
        (b'{"text": "\xc3\x28"}', {}, 400, "invalid_encoding"),
        (b"{}", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"x" * (256 * 1024 + 10), {}, 413, "payload_too_large"),
        (b"[1, 2]", {}, 422, "validation_error"),
    ],
)
def test_bad_requests_get_specific_4xx(
    api_url: str, stack: LocalStack, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    assert_clean_error(post(api_url, "/v1/reports", body, **headers), status, code)
    assert drain(stack, "IntakeQueue") == []


def test_validation_errors_name_each_field(api_url: str, stack: LocalStack) -> None:
    report = a_report(business="casino", reporter={"id": "u", "role": "admin"}, text=" ", unknown=1)
    error = assert_clean_error(post(api_url, "/v1/reports", report), 422, "validation_error")
    fields = {detail["field"]: detail["reason"] for detail in error["details"]}
    assert set(fields) == {"business", "reporter.role", "text", "unknown"}
    assert fields["business"] == "must be one of: ads, live, payments, shop"
    assert fields["unknown"] == "unknown field"
    assert drain(stack, "IntakeQueue") == []


def test_batch_accepts_valid_items_and_lists_invalid_ones(api_url: str, stack: LocalStack) -> None:
    good = [a_report(), a_report()]
    bad = a_report(amount={"value": -5, "currency": "usd"})
    response = post(api_url, "/v1/reports/batch", {"reports": [good[0], bad, good[1], good[0]]})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    statuses = [(item["index"], item["status"]) for item in body["items"]]
    assert statuses == [(0, "accepted"), (1, "rejected"), (2, "accepted"), (3, "duplicate")]
    assert {e["field"] for e in body["items"][1]["errors"]} == {
        "reports[1].amount.value",
        "reports[1].amount.currency",
    }
    assert sorted(q["report_id"] for q in drain(stack, "IntakeQueue")) == sorted(r["report_id"] for r in good)


def test_batch_of_only_invalid_items_is_422(api_url: str, stack: LocalStack) -> None:
    response = post(api_url, "/v1/reports/batch", {"reports": [{"text": "x"}, a_report(business="nope")]})
    assert response.status_code == 422
    assert [item["status"] for item in response.json()["items"]] == ["rejected", "rejected"]
    assert drain(stack, "IntakeQueue") == []


@pytest.mark.parametrize("count", [0, 101])
def test_batch_size_limits(api_url: str, count: int) -> None:
    error = assert_clean_error(
        post(api_url, "/v1/reports/batch", {"reports": [a_report()] * count}), 422, "validation_error"
    )
    assert error["details"][0]["field"] == "reports"


def test_unknown_route_is_404(api_url: str) -> None:
    assert requests.get(api_url + "/v1/nothing-here", timeout=10).status_code == 404


def test_every_accepted_report_is_on_the_queue_exactly_once(api_url: str, stack: LocalStack) -> None:
    reports = [a_report(text=f"Report number {n}: item never arrived.") for n in range(230)]
    accepted: list[str] = []
    for start in range(0, len(reports), 100):
        body = post(api_url, "/v1/reports/batch", {"reports": reports[start : start + 100]}).json()
        accepted += [item["report_id"] for item in body["items"] if item["status"] == "accepted"]
    # A client retrying a whole batch after a timeout: nothing new may be enqueued.
    retry = post(api_url, "/v1/reports/batch", {"reports": reports[:100]}).json()
    assert retry["duplicates"] == 100

    queued = [q["report_id"] for q in drain(stack, "IntakeQueue")]
    assert len(accepted) == len(reports)
    assert sorted(queued) == sorted(accepted)
