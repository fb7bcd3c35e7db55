"""The bad-request corpus (tests/data/bad_requests/) sent over real HTTP to the local stack.

Every invalid request must get the 4xx its case names (never a 5xx), with the error code and, for a
422, the fields; no error body may carry a stack trace or echo what the client sent; and nothing may
be enqueued or kept for what was refused: after the whole corpus the intake queue holds exactly the
reports the answers said were accepted (the valid neighbours in mixed batches), and the idempotency
table gained exactly their records. (Checked once at the end rather than per request: per request
it doubled the run time, and every message and record names its report id, so a stray one is still
traced to its request.)

The valid-but-nasty reports (markup, injection strings, emoji, RTL and bidi controls, zero-width
characters, 5,000-character texts, odd amounts and offsets) must be accepted, triaged, and stored
holding exactly what `riskradar.redaction` makes of their text.

Each test checks every case and fails once, listing every case that went wrong.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs published

from riskradar.local import LocalStack
from riskradar.models import ReporterRole, SubjectType
from riskradar.redaction import redact_pii
from tests.data.bad_requests.corpus import Case, invalid_cases, string_leaves, valid_nasty_cases
from tests.helpers import drain, stored_report

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("intake_queue")]

ROOT = Path(__file__).resolve().parents[2]
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")
#: What only a leaked exception would put in a response.
TRACE_MARKERS = ("Traceback", 'File "', "site-packages", ".py", "pydantic", "Error:", "sys.")
#: Words of the contract itself, which an error may name whatever the client sent.
CONTRACT_WORDS = frozenset(
    {"report_id", "business", "reporter", "subject", "category", "text", "amount", "locale", "created_at"}
    | {"id", "role", "type", "value", "currency", "reports", "shop", "live", "payments", "ads"}
    | {str(role) for role in ReporterRole}
    | {str(subject_type) for subject_type in SubjectType}
)
#: Shorter strings are too common to tell an echo from a coincidence ("USD", "en-GB").
MIN_ECHO_PROBE = 8


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def send(http: requests.Session, api_url: str, case: Case) -> requests.Response:
    body = case.body()
    data: Any = body
    if case.chunked and body is not None:
        data = (body[start : start + 64 * 1024] for start in range(0, len(body), 64 * 1024))
    return http.request(case.method, api_url + case.path, data=data, headers=case.headers, timeout=120)


def idempotency_report_ids(stack: LocalStack) -> Counter[str]:
    """The report id of every record in the idempotency table (a completed record's `data` is the
    enqueue result, which names it; any other record counts under its raw key)."""
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=stack.physical_id("IdempotencyTable"))
    )
    ids: Counter[str] = Counter()
    for page in pages:
        for item in page["Items"]:
            data = item.get("data", {}).get("S")
            ids[str(json.loads(data)["report_id"]) if data else f"(no result) {item['id']['S']}"] += 1
    return ids


# --------------------------------------------------------------------------------------- invalid


def test_every_invalid_request_is_a_clean_4xx_and_leaves_nothing_behind(
    stack: LocalStack, api_url: str, session: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = invalid_cases()
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    before = idempotency_report_ids(stack)
    accepted_by: dict[str, str] = {}
    for case in cases:
        response = send(session, api_url, case)
        statuses[response.status_code] += 1
        problems += [f"{case.id} ({case.file}): {problem}" for problem in check_response(case, response)]
        accepted_by.update(dict.fromkeys(accepted_report_ids(response), case.id))

    queued = Counter(str(message.get("report_id")) for message in drain(stack, "IntakeQueue"))
    problems += [
        f"enqueued {n} times {report_id}, accepted by {accepted_by.get(report_id, 'no answer')}"
        for report_id, n in sorted(queued.items())
        if n != 1 or report_id not in accepted_by
    ]
    problems += [
        f"accepted by {case_id} but not enqueued" for rid, case_id in accepted_by.items() if rid not in queued
    ]
    added = idempotency_report_ids(stack) - before
    problems += [
        f"idempotency record for {report_id}, accepted by {accepted_by.get(report_id, 'no answer')}"
        for report_id in sorted(added.elements())
        if added[report_id] != 1 or report_id not in accepted_by
    ]
    problems += [
        f"accepted by {case_id} but no idempotency record"
        for rid, case_id in accepted_by.items()
        if rid not in added
    ]

    summary = (
        f"bad-request corpus: {len(cases)} invalid requests; by category "
        + ", ".join(f"{name} {n}" for name, n in sorted(Counter(c.category for c in cases).items()))
        + "; answered "
        + ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items()))
    )
    with capsys.disabled():
        print("\n" + summary)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)  # 5xx included, by case
    assert not [status for status in statuses if status >= 500], summary
    assert len(cases) >= 300


def check_response(case: Case, response: requests.Response) -> list[str]:
    expect = case.expect
    problems: list[str] = []
    if response.status_code >= 500:
        return [f"{response.status_code} (a 5xx for bad input): {response.text[:300]}"]
    if response.status_code != expect["status"]:
        problems.append(f"status {response.status_code}, expected {expect['status']}: {response.text[:300]}")
    if not response.headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content-type {response.headers.get('content-type')!r}")
    try:
        body = response.json()
    except ValueError:
        return [*problems, f"the answer is not JSON: {response.text[:200]!r}"]
    if not isinstance(body, dict):
        return [*problems, "the answer is not a JSON object"]
    problems += leaks(case, response, body)
    if expect.get("answered_by") == "gateway":
        if set(body) != {"message"}:
            problems.append(f"expected API Gateway's own answer, got {body}")
        return problems
    if expect["status"] >= 400:
        problems += check_error(expect, body.get("error"))
    if "items" in expect:
        problems += check_items(expect["items"], body.get("items"))
    return problems


def check_error(expect: dict[str, Any], error: Any) -> list[str]:
    if not isinstance(error, dict):
        return [f"no error object: {error!r}"]
    problems = []
    if error.get("code") != expect["code"]:
        problems.append(f"error code {error.get('code')!r}, expected {expect['code']!r}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append("the error has no message")
    if expect["status"] == 422:
        problems += check_fields(expect, error.get("details"), "details")
    return problems


def check_items(expected: list[dict[str, Any]], items: Any) -> list[str]:
    if not isinstance(items, list) or len(items) != len(expected):
        return [f"expected {len(expected)} items, got {items!r:.300}"]
    problems = []
    for want, got in zip(expected, items, strict=True):
        if (got.get("index"), got.get("status")) != (want["index"], want["status"]):
            problems.append(f"item {want['index']}: {got.get('status')!r}, expected {want['status']!r}")
        if want["status"] == "accepted" and not got.get("report_id"):
            problems.append(f"item {want['index']}: accepted without a report_id")
        if "fields" in want or "fields_include" in want:
            problems += check_fields(want, got.get("errors"), f"item {want['index']}")
    return problems


def check_fields(expect: dict[str, Any], details: Any, where: str) -> list[str]:
    if not isinstance(details, list) or not details:
        return [f"{where}: no field errors"]
    named = {detail.get("field") for detail in details}
    problems = [f"{where}: {d.get('field')!r} has no reason" for d in details if not d.get("reason")]
    if "fields" in expect and named != set(expect["fields"]):
        problems.append(f"{where}: named {sorted(named, key=str)}, expected {sorted(expect['fields'])}")
    if "fields_include" in expect and not set(expect["fields_include"]) <= named:
        problems.append(
            f"{where}: named {sorted(named, key=str)}, expected at least {expect['fields_include']}"
        )
    return problems


def leaks(case: Case, response: requests.Response, body: dict[str, Any]) -> list[str]:
    """A stack trace, or something the client sent (beyond the contract's own words) in the answer."""
    shown = response.text + json.dumps(body, ensure_ascii=False)
    problems = [
        f"the answer shows {marker!r}: {response.text[:300]}" for marker in TRACE_MARKERS if marker in shown
    ]
    allowed = set(CONTRACT_WORDS) | {item.get("report_id") for item in body.get("items", [])}
    named = " ".join(str(detail.get("field")) for detail in _details(body))
    for probe in echo_probes(case):
        if probe in allowed or probe in named:
            continue
        if probe[:64] in shown:
            problems.append(f"the answer echoes the input {probe[:40]!r}")
    return problems


def _details(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from (body.get("error") or {}).get("details") or []
    for item in body.get("items", []):
        yield from item.get("errors", [])


def echo_probes(case: Case) -> set[str]:
    body = case.body() or b""
    try:
        strings = set(string_leaves(json.loads(body)))
    except (ValueError, RecursionError):  # not JSON (the point of many cases): what is quoted in it
        strings = set(re.findall(r'"([^"\\]+)"', body[:1_000_000].decode("utf-8", "replace")))
    return {s for s in strings if len(s.strip()) >= MIN_ECHO_PROBE}


def accepted_report_ids(response: requests.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    if "items" in body:
        return sorted(str(i["report_id"]) for i in body["items"] if i.get("status") == "accepted")
    return [str(body["report_id"])] if body.get("status") == "accepted" else []


# --------------------------------------------------------------------------- valid but nasty


@pytest.mark.slow  # triage runs: the embedding model is loaded
def test_valid_but_nasty_reports_are_stored_as_redacted_text(
    stack: LocalStack, api_url: str, session: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    for queue in ("IntakeDeadLetterQueue", *SIGNAL_QUEUES):
        drain(stack, queue)
    cases = valid_nasty_cases()
    problems: list[str] = []
    sent: dict[str, tuple[Case, dict[str, Any]]] = {}
    for case in cases:
        response = send(session, api_url, case)
        document = json.loads(case.body() or b"", parse_float=Decimal)
        reports = document.get("reports", [document])
        found = (
            [] if response.status_code == 202 else [f"status {response.status_code}: {response.text[:300]}"]
        )
        accepted = accepted_report_ids(response)
        if len(accepted) != len(reports):
            found.append(f"{len(accepted)} of {len(reports)} reports accepted: {response.text[:300]}")
        for report in reports:
            if len(report["text"].strip()) >= MIN_ECHO_PROBE and report["text"].strip()[:64] in response.text:
                found.append("the answer echoes the report text")
        if not found:  # all accepted; batch items are answered in order, so ids line up with reports
            answer = response.json()
            report_ids = [str(item["report_id"]) for item in answer.get("items", [answer])]
            sent.update({rid: (case, report) for rid, report in zip(report_ids, reports, strict=True)})
        problems += [f"{case.id}: {problem}" for problem in found]

    stack.run_until_idle(timeout_s=300)

    all_signals = [s for queue in SIGNAL_QUEUES for s in drain(stack, queue) if s["report_id"] in sent]
    signals = {signal["report_id"]: signal for signal in all_signals}
    repeated = Counter(signal["report_id"] for signal in all_signals) - Counter(signals.keys())
    problems += [f"{sent[rid][0].id}: {n + 1} signals for {rid}" for rid, n in repeated.items()]
    dead = [m for m in drain(stack, "IntakeDeadLetterQueue") if m.get("report_id") in sent]
    schema = Draft202012Validator(
        json.loads((ROOT / "schemas" / "signal.v1.json").read_text(encoding="utf-8"))
    )
    for report_id, (case, report) in sent.items():
        problems += [f"{case.id}: {p}" for p in check_stored(stack, report_id, case, report)]
        signal = signals.get(report_id)
        if signal is None:
            problems.append(f"{case.id}: no signal for {report_id}")
            continue
        message = {key: value for key, value in signal.items() if key != "_attributes"}
        problems += [
            f"{case.id}: signal breaks signal.v1.json: {e.message}" for e in schema.iter_errors(message)
        ]
        if (
            "stored_amount_value" in case.expect
            and (signal.get("amount") or {}).get("value") != case.expect["stored_amount_value"]
        ):
            problems.append(f"{case.id}: signal amount {signal.get('amount')}")
    problems += [f"dead-lettered: {m.get('report_id')}" for m in dead]

    with capsys.disabled():
        categories = Counter(case.category for case in cases)
        print(
            f"\nvalid-but-nasty corpus: {len(sent)} reports in {len(cases)} requests ("
            + ", ".join(f"{name} {n}" for name, n in sorted(categories.items()))
            + f"); stored {sum(1 for rid in sent if stored_report(stack, rid))}, problems {len(problems)}"
        )
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def check_stored(stack: LocalStack, report_id: str, case: Case, report: dict[str, Any]) -> list[str]:
    record = stored_report(stack, report_id)
    if record is None:
        return [f"{report_id} was not stored"]
    problems = []
    # Trimmed as the contract says, then exactly what the redaction module makes of it.
    expected_text = redact_pii(report["text"].strip()).text
    if record["text"] != expected_text:
        problems.append(f"stored text differs from the redacted text: {record['text'][:80]!r}")
    category = (report.get("category") or "").strip()
    if category and record.get("category") != redact_pii(category).text:
        problems.append(f"stored category {record.get('category')!r}")
    if "stored_amount_value" in case.expect and record.get("amount_value") != Decimal(
        case.expect["stored_amount_value"]
    ):
        problems.append(f"stored amount {record.get('amount_value')!r}")
    if "stored_created_at" in case.expect and record.get("created_at") != case.expect["stored_created_at"]:
        problems.append(f"stored created_at {record.get('created_at')!r}")
    stored = json.dumps(record, default=str, ensure_ascii=False)
    for raw_id in (report["reporter"]["id"], (report.get("subject") or {}).get("id")):
        if raw_id and raw_id in stored:
            problems.append(f"the record holds a raw identifier {raw_id[:20]!r}")
    return problems
