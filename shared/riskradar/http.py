"""HTTP helpers shared by the API handlers: JSON responses and the one error shape.

Every error body is `{"error": {"code", "message", "details"?}}`; `details` lists
`{"field", "reason"}` for validation errors. Never a stack trace, never the rejected input.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from riskradar.intake.validation import FieldError


def json_response(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def error_response(
    status: HTTPStatus,
    code: str,
    message: str,
    details: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = [detail.as_dict() for detail in details]
    return json_response(status, {"error": error}, headers)
