"""Decoding and validation of intake requests: every refusal is a typed error with an HTTP status.

Pure code: no AWS, no clock of its own (callers pass `now`). Error messages never echo the input
value, because a rejected report may carry the very PII that redaction would have removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError

from riskradar.models import ReportIn

#: SQS's message limit: a body larger than this could not travel as one message anyway.
MAX_BODY_BYTES = 256 * 1024
MAX_BATCH_SIZE = 100
#: Field errors listed per report. 256 KB of unknown keys would otherwise be answered with ~1 MB of
#: details (one per key): the answer to a bad request must not be several times its size.
MAX_FIELD_ERRORS = 50
_JSON_MEDIA_TYPES = ("application/json",)
#: An unknown key is named in an error only when it looks like a field name; anything else (an
#: e-mail address used as a key, 100 KB of text, control characters) is not echoed back.
_SHOWABLE_FIELD_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]{0,63}")
UNSHOWN_FIELD_NAME = "(unknown field)"


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class RequestRejected(Exception):
    """A request refused as a whole; mapped once to an HTTP response by the handler."""

    status: HTTPStatus
    code: str
    message: str
    details: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{int(self.status)} {self.code}: {self.message}"


@dataclass(frozen=True)
class IntakePolicy:
    allowed_businesses: frozenset[str]
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch_size: int = MAX_BATCH_SIZE


def decode_json_body(body: bytes, content_type: str | None, *, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """Return the parsed JSON document, or raise RequestRejected (413, 415 or 400)."""
    _require_json_media_type(content_type)
    if len(body) > max_bytes:
        raise RequestRejected(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
            f"request body is {len(body)} bytes; the limit is {max_bytes} bytes",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestRejected(
            HTTPStatus.BAD_REQUEST,
            "invalid_encoding",
            f"request body is not valid UTF-8 (byte {error.start})",
        ) from None
    if not text.strip():
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "malformed_json", "request body is empty")
    try:
        # Decimal keeps amounts exact and turns 1e999 into a finite number the model can bound;
        # NaN / Infinity are not JSON, so they are refused here rather than stored.
        return json.loads(
            text, parse_float=_json_decimal, parse_int=_json_int, parse_constant=_refuse_non_json_constant
        )
    except json.JSONDecodeError as error:
        raise RequestRejected(
            HTTPStatus.BAD_REQUEST,
            "malformed_json",
            f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    except (_NonJsonConstantError, _UnusableNumberError) as error:
        raise RequestRejected(HTTPStatus.BAD_REQUEST, "malformed_json", str(error)) from None
    except RecursionError:
        raise RequestRejected(
            HTTPStatus.BAD_REQUEST, "malformed_json", "request body is nested too deeply"
        ) from None
    except ValueError:  # no other is known; never show its message, it could quote the input
        raise RequestRejected(
            HTTPStatus.BAD_REQUEST, "malformed_json", "request body is not usable JSON"
        ) from None


class _NonJsonConstantError(ValueError):
    pass


class _UnusableNumberError(ValueError):
    pass


def _refuse_non_json_constant(name: str) -> Any:
    raise _NonJsonConstantError(f"request body is not valid JSON: {name} is not a JSON value")


def _json_decimal(literal: str) -> Decimal:
    try:
        return Decimal(literal)
    except InvalidOperation:  # an exponent beyond what Decimal can hold, e.g. 1e999999999999999999
        raise _UnusableNumberError("request body holds a number out of range") from None


def _json_int(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:  # beyond Python's 4300-digit limit for int() on text
        raise _UnusableNumberError("request body holds a number with too many digits") from None


def _require_json_media_type(content_type: str | None) -> None:
    if not content_type:
        raise RequestRejected(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "missing Content-Type; send application/json",
        )
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type not in _JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise RequestRejected(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            f"Content-Type {media_type!r} is not supported; send application/json",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestRejected(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "only the utf-8 charset is supported",
            )


class ReportInvalid(Exception):
    """One report failed validation; `errors` name each field and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


def validate_report(payload: Any, policy: IntakePolicy, *, now: datetime, field_prefix: str = "") -> ReportIn:
    if not isinstance(payload, dict):
        raise ReportInvalid([FieldError(field_prefix or "(body)", "must be a JSON object")])
    try:
        return ReportIn.model_validate(
            payload, context={"allowed_businesses": policy.allowed_businesses, "now": now}
        )
    except ValidationError as error:
        raise ReportInvalid(field_errors(error, prefix=field_prefix)) from None


def batch_items(payload: Any, policy: IntakePolicy) -> list[Any]:
    """The raw items of a batch request `{"reports": [...]}`; each is validated on its own later."""
    if not isinstance(payload, dict):
        raise _envelope_error("(body)", "must be a JSON object with a 'reports' array")
    unknown = sorted(set(payload) - {"reports"})
    if unknown:
        raise _envelope_error(_shown_name(unknown[0]), "unknown field; a batch body has only 'reports'")
    items = payload.get("reports")
    if not isinstance(items, list):
        raise _envelope_error("reports", "is required and must be an array of reports")
    if not 1 <= len(items) <= policy.max_batch_size:
        raise _envelope_error(
            "reports", f"must hold between 1 and {policy.max_batch_size} reports (got {len(items)})"
        )
    return items


def _envelope_error(field_name: str, reason: str) -> RequestRejected:
    return RequestRejected(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "validation_error",
        "the batch request is not valid",
        [FieldError(field_name, reason)],
    )


_FRIENDLY_REASONS = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
}


def field_errors(error: ValidationError, *, prefix: str = "") -> list[FieldError]:
    details = error.errors(include_url=False, include_input=False)
    errors = [FieldError(_field_path(prefix, detail["loc"]), _reason(detail)) for detail in details]
    if len(errors) > MAX_FIELD_ERRORS:
        hidden = len(errors) - (MAX_FIELD_ERRORS - 1)
        errors = errors[: MAX_FIELD_ERRORS - 1]
        errors.append(FieldError(prefix or "(body)", f"{hidden} more errors are not listed"))
    return errors


def _reason(detail: Any) -> str:
    friendly = _FRIENDLY_REASONS.get(detail["type"])
    if friendly:
        return friendly
    message = str(detail["msg"])
    return message.removeprefix("Value error, ")


def _field_path(prefix: str, loc: Sequence[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _shown_name(part)
            path = f"{path}.{name}" if path else name
    return path or "(body)"


def _shown_name(key: str) -> str:
    """A client's key as it may appear in an error: itself if it looks like a field name."""
    return key if _SHOWABLE_FIELD_NAME.fullmatch(key) else UNSHOWN_FIELD_NAME
