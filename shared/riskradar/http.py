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
    """The name of the offered media type the Accept header prefers (RFC 9110 §12.5.1). Each
    offered type takes the q-value of the most specific range that matches it (`text/html` over
    `text/*` over `*/*`), so q=0 refuses a type even where a wildcard would allow it. The highest
    q wins; among equals, a type named more specifically, then `default`, then the earliest
    offered. `default` when there is no header; None when nothing offered is acceptable."""
    if not accept or not accept.strip():
        return default
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.setdefault(media.lower(), quality)  # a range given twice: the first counts
    candidates: list[tuple[float, int, bool, int, str]] = []
    for position, (offered_type, name) in enumerate(offered.items()):
        family = offered_type.split("/", 1)[0]
        for media, specificity in ((offered_type, 2), (f"{family}/*", 1), ("*/*", 0)):
            if media in ranges:
                if ranges[media] > 0:
                    candidates.append((ranges[media], specificity, name == default, -position, name))
                break
    return max(candidates)[-1] if candidates else None
