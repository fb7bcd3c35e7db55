"""The committed signal schema is the model's schema, and it accepts and refuses what the model does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs published
from pydantic import ValidationError

from riskradar.models import (
    Amount,
    Priority,
    ReporterRole,
    Signal,
    SignalReason,
    SubjectType,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "signal.v1.json"
REGENERATE = (
    ".venv/bin/python -c 'import json; from riskradar.models import signal_json_schema; "
    "print(json.dumps(signal_json_schema(), indent=2, ensure_ascii=False))' > schemas/signal.v1.json"
)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def validator(committed: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(committed, format_checker=Draft202012Validator.FORMAT_CHECKER)


def full_signal() -> Signal:
    return Signal(
        report_id="r-1",
        business="shop",
        priority=Priority.HIGH,
        score=62,
        reasons=[
            SignalReason(factor="theme_verdict", points=30, detail='Theme "x" is confirmed fraud'),
            SignalReason(
                factor="distinct_reporters",
                points=13,
                detail="3 distinct reporters against this seller in the last 7 days",
            ),
        ],
        theme_id="t-42",
        theme_label="Fake support asking for codes",
        subject_type=SubjectType.SELLER,
        subject_hash="0f" * 16,
        reporter_role=ReporterRole.USER,
        amount=Amount(value=Decimal("129.90"), currency="EUR"),
        created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        triaged_at=datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC),
    )


def minimal_message() -> dict[str, Any]:
    return {
        "report_id": "r-2",
        "business": "payments",
        "priority": "normal",
        "score": 20,
        "reasons": [],
        "reporter_role": "seller",
        "created_at": "2024-05-01T12:00:00Z",
        "triaged_at": "2024-05-01T12:00:01+02:00",
    }


def test_a_signal_the_model_emits_validates(validator: Draft202012Validator) -> None:
    message = json.loads(full_signal().model_dump_json())
    assert list(validator.iter_errors(message)) == []
    assert message["schema_version"] == "1"


def test_a_minimal_message_validates_and_parses(validator: Draft202012Validator) -> None:
    message = minimal_message()
    assert list(validator.iter_errors(message)) == []
    signal = Signal.model_validate_json(json.dumps(message))
    assert signal.schema_version == "1"
    assert signal.triaged_at == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)  # normalised to UTC


def _without(key: str) -> dict[str, Any]:
    message = minimal_message()
    del message[key]
    return message


INVALID = {
    "missing report_id": _without("report_id"),
    "missing triaged_at": _without("triaged_at"),
    "unknown priority": {**minimal_message(), "priority": "urgent"},
    "score above 100": {**minimal_message(), "score": 101},
    "negative score": {**minimal_message(), "score": -1},
    "score as a string": {**minimal_message(), "score": "50"},
    "extra field": {**minimal_message(), "text": "the report text must never travel in a signal"},
    "extra field in a reason": {
        **minimal_message(),
        "reasons": [{"factor": "x", "points": 1, "detail": "d", "weight": 2}],
    },
    "reason without detail": {**minimal_message(), "reasons": [{"factor": "x", "points": 1}]},
    "fractional points": {**minimal_message(), "reasons": [{"factor": "x", "points": 1.5, "detail": "d"}]},
    "other schema version": {**minimal_message(), "schema_version": "2"},
    "unknown reporter role": {**minimal_message(), "reporter_role": "admin"},
}


@pytest.mark.parametrize("message", INVALID.values(), ids=INVALID.keys())
def test_invalid_messages_are_refused_by_schema_and_model_alike(
    validator: Draft202012Validator, message: dict[str, Any]
) -> None:
    assert list(validator.iter_errors(message)) != []
    with pytest.raises(ValidationError):
        Signal.model_validate_json(json.dumps(message))


def test_the_model_refuses_a_time_without_a_time_zone() -> None:
    # JSON Schema's date-time format cannot be relied on to check this (format is an annotation
    # unless a checker is installed), so the model does.
    with pytest.raises(ValidationError, match="time zone"):
        Signal.model_validate({**minimal_message(), "created_at": "2024-05-01T12:00:00"})
