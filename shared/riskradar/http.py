"""HTTP helpers shared by the API handlers: JSON responses and the one error shape.

Every error body is `{"error": {"code", "message", "details"?}}`; `details` lists
`{"field", "reason"}` for validation errors. Never a stack trace, never the rejected input.
"""

from __future__ import annotations

from collections.abc import Mapping
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


#: What a client may ask a digest as (Accept), by the format name the digest store uses.
DIGEST_MEDIA_TYPES = {"application/json": "json", "text/html": "html", "text/markdown": "markdown"}


def negotiate(accept: str | None, offered: Mapping[str, str], default: str) -> str | None:
    """The name of the offered media type that the Accept header prefers: the highest q-value,
    then the most specific range (`text/html` over `text/*` over `*/*`), then the earliest.
    `default` when there is no header or only `*/*` matches; None when nothing offered is acceptable."""
    if not accept or not accept.strip():
        return default
    ranges: list[tuple[str, float, int]] = []
    for order, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((media.lower(), quality, order))
    chosen: str | None = None
    best: tuple[float, int, int] | None = None
    for offered_type, name in offered.items():
        family = offered_type.split("/", 1)[0]
        for media, quality, order in ranges:
            specificity = {offered_type: 2, f"{family}/*": 1, "*/*": 0}.get(media)
            if specificity is None:
                continue
            key = (quality, specificity, -order)
            if best is None or key > best:
                best, chosen = key, (name if specificity else default)
    return chosen
