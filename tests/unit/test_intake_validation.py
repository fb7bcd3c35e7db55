"""Request decoding, report validation and error mapping of the intake contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from riskradar.intake.validation import (
    MAX_FIELD_ERRORS,
    UNSHOWN_FIELD_NAME,
    IntakePolicy,
    ReportInvalid,
    RequestRejected,
    batch_items,
    decode_json_body,
    validate_report,
)
from riskradar.models import Amount, ReporterRole, ReportIn

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = IntakePolicy(allowed_businesses=frozenset({"shop", "live", "payments", "ads"}))


def a_report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "business": "shop",
        "reporter": {"id": "u-1", "role": "user"},
        "text": "Seller took my money and never shipped.",
    }
    report.update(overrides)
    return report


def reasons(error: ReportInvalid) -> dict[str, str]:
    return {e.field: e.reason for e in error.errors}


def invalid(payload: Any) -> dict[str, str]:
    with pytest.raises(ReportInvalid) as caught:
        validate_report(payload, POLICY, now=NOW)
    return reasons(caught.value)


# ---------------------------------------------------------------- body decoding


def test_decodes_json_with_exact_decimals() -> None:
    body = json.dumps({"amount": {"value": 0.1}}).encode()
    assert decode_json_body(body, "application/json; charset=utf-8") == {"amount": {"value": Decimal("0.1")}}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{}", None, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (b"{}", "text/plain", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (
            b"{}",
            "application/json; charset=latin-1",
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (b'{"text": "a"', "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (b"", "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (b"  \n", "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (b'{"v": NaN}', "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (b'{"v": -Infinity}', "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (b'{"text": "\xff\xfe"}', "application/json", HTTPStatus.BAD_REQUEST, "invalid_encoding"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (b'{"v": ' + b"9" * 5000 + b"}", "application/json", HTTPStatus.BAD_REQUEST, "malformed_json"),
        (
            b" " * (256 * 1024 + 1),
            "application/json",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
        ),
    ],
)
def test_refuses_undecodable_bodies(
    body: bytes, content_type: str | None, status: HTTPStatus, code: str
) -> None:
    with pytest.raises(RequestRejected) as caught:
        decode_json_body(body, content_type)
    assert caught.value.status == status
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("number", "message_part"),
    [
        # Decimal() raises InvalidOperation (not ValueError) on these: it used to escape as a 500.
        (b"1e999999999999999999999", "out of range"),
        (b"-1E-999999999999999999999", "out of range"),
        (b"9" * 5000, "too many digits"),
    ],
)
def test_unrepresentable_numbers_are_400_without_internals(number: bytes, message_part: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        decode_json_body(b'{"amount": {"value": ' + number + b"}}", "application/json")
    assert (caught.value.status, caught.value.code) == (HTTPStatus.BAD_REQUEST, "malformed_json")
    assert message_part in caught.value.message
    assert "sys." not in caught.value.message
    assert "99999" not in caught.value.message


def test_accepts_vendor_json_media_type() -> None:
    assert decode_json_body(b"[1]", "application/vnd.riskradar+json") == [1]


def test_malformed_json_message_says_where() -> None:
    with pytest.raises(RequestRejected) as caught:
        decode_json_body(b'{"text": }', "application/json")
    assert "line 1 column 10" in caught.value.message


# ---------------------------------------------------------------- report validation


def test_valid_report_is_normalised() -> None:
    report = validate_report(
        a_report(text="  hello  ", created_at="2026-11-25T13:00:00+01:00"), POLICY, now=NOW
    )
    assert isinstance(report, ReportIn)
    assert report.text == "hello"
    assert report.created_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert report.reporter.role is ReporterRole.USER


@pytest.mark.parametrize(
    "written",
    [
        "2026-11-25 12:00:00+00",  # PostgreSQL's timestamptz
        "2026-11-25T17:00:00+05",
        "2026-11-25T07:00:00.000-05",
        "2026-11-25T17:00:00+0500",
        "2026-11-25T17:00:00+05:00",
    ],
)
def test_created_at_takes_every_iso_8601_offset(written: str) -> None:
    report = validate_report(a_report(created_at=written), POLICY, now=NOW)
    assert report.created_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_created_at_defaults_to_now_and_is_not_client_set() -> None:
    before = datetime.now(UTC)
    report = validate_report(a_report(), POLICY, now=NOW)
    after = datetime.now(UTC)
    assert "created_at" not in report.model_fields_set
    assert before <= report.created_at <= after


@pytest.mark.parametrize(
    ("overrides", "field", "reason_part"),
    [
        ({"business": "casino"}, "business", "must be one of: ads, live, payments, shop"),
        ({"reporter": {"id": "u", "role": "admin"}}, "reporter.role", "'user', 'seller' or 'creator'"),
        ({"reporter": {"id": "  ", "role": "user"}}, "reporter.id", "at least 1 character"),
        ({"subject": {"type": "planet", "id": "x"}}, "subject.type", "Input should be"),
        ({"text": "   \n "}, "text", "at least 1 character"),
        ({"text": "x" * 5001}, "text", "at most 5000 characters"),
        ({"text": "bad \x00 byte"}, "text", "control character (U+0000)"),
        ({"text": "bell \x07"}, "text", "control character (U+0007)"),
        ({"text": "not a character \uffff"}, "text", "noncharacter (U+FFFF)"),
        ({"category": "\ufffe"}, "category", "noncharacter (U+FFFE)"),
        ({"text": "lone \ud800 surrogate"}, "text", "valid string"),
        ({"amount": {"value": -1, "currency": "USD"}}, "amount.value", "greater than or equal to 0"),
        ({"amount": {"value": Decimal("1E+999"), "currency": "USD"}}, "amount.value", "less than or equal"),
        ({"amount": {"value": 5, "currency": "usd"}}, "amount.currency", "ISO 4217"),
        ({"amount": {"value": 5, "currency": "ABC"}}, "amount.currency", "ISO 4217"),
        ({"amount": {"value": "five", "currency": "USD"}}, "amount.value", "valid decimal"),
        ({"created_at": "2026-11-25T12:06:00Z"}, "created_at", "5 minutes in the future"),
        ({"created_at": "2026-11-25T12:00:00"}, "created_at", "time zone"),
        ({"created_at": "yesterday"}, "created_at", "ISO 8601"),
        ({"created_at": "2024-02-30T12:00:00Z"}, "created_at", "valid datetime"),
        # A valid datetime that has no UTC equivalent: astimezone() raised OverflowError (a 500).
        ({"created_at": "0001-01-01T00:00:00+14:00"}, "created_at", "out of range"),
        # Unix times: pydantic reads them as datetimes, the contract asks for ISO 8601.
        ({"created_at": 0}, "created_at", "ISO 8601"),
        ({"created_at": 1700000000}, "created_at", "ISO 8601"),
        ({"created_at": "1700000000"}, "created_at", "ISO 8601"),
        ({"created_at": Decimal("1.7E+9")}, "created_at", "ISO 8601"),
        ({"created_at": True}, "created_at", "ISO 8601"),
        ({"text": "\u200b\u200c\u200d\u2060\ufeff"}, "text", "visible text"),
        ({"text": " \u200e\u202e\u2066 "}, "text", "visible text"),
        ({"report_id": "has space"}, "report_id", "should match pattern"),
        ({"report_id": "x" * 129}, "report_id", "should match pattern"),
        ({"locale": "english please"}, "locale", "should match pattern"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"reporter": {"id": "u", "role": "user", "email": "a@b.c"}}, "reporter.email", "unknown field"),
    ],
)
def test_invalid_field_is_named_with_reason(overrides: dict[str, Any], field: str, reason_part: str) -> None:
    errors = invalid(a_report(**overrides))
    assert field in errors, errors
    assert reason_part in errors[field]


def test_missing_fields_are_each_reported() -> None:
    errors = invalid({"text": "hi"})
    assert errors == {"business": "is required", "reporter": "is required"}


def test_non_object_report_is_refused() -> None:
    assert invalid(["not", "an", "object"]) == {"(body)": "must be a JSON object"}


def test_errors_never_echo_the_input() -> None:
    secret = "4111 1111 1111 1111 belongs to jane@example.com"
    with pytest.raises(ReportInvalid) as caught:
        validate_report(a_report(text=secret + "\x00"), POLICY, now=NOW)
    assert "jane@example.com" not in str(caught.value)
    assert "4111" not in str(caught.value)


def test_nasty_but_valid_text_is_accepted_verbatim() -> None:
    nasty = "<script>alert(1)</script> ' OR 1=1; -- 🙂 مرحبا \u202eRTL"
    assert validate_report(a_report(text=nasty), POLICY, now=NOW).text == nasty


def test_text_with_invisible_characters_around_visible_ones_is_kept() -> None:
    text = "\u200bzero\u200dwidth\u2066 \u202eRTL\u2069"
    assert validate_report(a_report(text=text), POLICY, now=NOW).text == text


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("1500.00", "1500.00"),  # as the reporter wrote it, trailing zeros and all
        ("129.9", "129.9"),
        ("0.123456", "0.123456"),
        ("1E+3", "1000"),  # would reach the signal as "1E+3", outside signal.v1.json's pattern
        ("0.30000000000000004", "0.3"),  # binary-float noise from a client
        ("0.1234567890123456789012345678901234567890", "0.123457"),  # > 38 digits: DynamoDB refuses
        ("1.000000000000000000000000000000000000000000", "1"),  # zeros alone overflow 38 digits
        ("1E-200", "0"),  # below DynamoDB's smallest number
        ("0.0000005", "0"),  # half-even
        ("0.0000015", "0.000002"),
        ("-0.0", "0.0"),
        ("999999999.9999999", "1000000000"),
    ],
)
def test_amounts_are_plain_decimals_dynamodb_can_store(sent: str, kept: str) -> None:
    report = validate_report(a_report(amount={"value": Decimal(sent), "currency": "EUR"}), POLICY, now=NOW)
    assert report.amount is not None
    assert str(report.amount.value) == kept
    # What failed in triage: boto3 refuses (Inexact / Rounded / Underflow) what DynamoDB cannot hold.
    assert TypeSerializer().serialize(report.amount.value) == {"N": kept}
    assert Amount.model_validate_json(report.amount.model_dump_json()) == report.amount


@pytest.mark.parametrize(
    "key",
    ["jane.doe@example.com", "x" * 65, "has space", "nul\x00", "4111111111111111", "", "a.b"],
)
def test_unknown_keys_that_are_not_field_names_are_not_echoed(key: str) -> None:
    errors = invalid(a_report(**{key: 1}))
    assert errors == {UNSHOWN_FIELD_NAME: "unknown field"}
    nested = invalid(a_report(reporter={"id": "u", "role": "user", key: 1}))
    assert nested == {f"reporter.{UNSHOWN_FIELD_NAME}": "unknown field"}


@pytest.mark.parametrize("key", ["colour", "Text", "__proto__", "$where", "report-id", "x" * 64])
def test_unknown_keys_that_look_like_field_names_are_named(key: str) -> None:
    assert invalid(a_report(**{key: 1})) == {key: "unknown field"}


def test_field_errors_are_capped_per_report() -> None:
    with pytest.raises(ReportInvalid) as caught:
        validate_report(
            a_report(**{f"k{n}": n for n in range(1000)}), POLICY, now=NOW, field_prefix="reports[2]"
        )
    errors = caught.value.errors
    assert len(errors) == MAX_FIELD_ERRORS
    assert errors[-1].field == "reports[2]"
    assert errors[-1].reason == f"{1000 - MAX_FIELD_ERRORS + 1} more errors are not listed"
    assert all(error.reason == "unknown field" for error in errors[:-1])


def test_field_prefix_names_the_batch_item() -> None:
    with pytest.raises(ReportInvalid) as caught:
        validate_report(a_report(text=""), POLICY, now=NOW, field_prefix="reports[3]")
    assert list(reasons(caught.value)) == ["reports[3].text"]


# ---------------------------------------------------------------- batch envelope


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "(body)"),
        ({}, "reports"),
        ({"reports": {}}, "reports"),
        ({"reports": []}, "reports"),
        ({"reports": [a_report()] * 101}, "reports"),
        ({"reports": [a_report()], "extra": 1}, "extra"),
        ({"reports": [a_report()], "jane@example.com": 1}, UNSHOWN_FIELD_NAME),
    ],
)
def test_batch_envelope_errors(payload: Any, field: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        batch_items(payload, POLICY)
    assert caught.value.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert [d.field for d in caught.value.details] == [field]


def test_batch_items_are_returned_raw_for_per_item_validation() -> None:
    items = [a_report(), {"junk": True}]
    assert batch_items({"reports": items}, POLICY) == items
