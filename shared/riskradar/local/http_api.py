"""API Gateway HTTP API (payload format 2.0) in front of in-process functions.

moto's CloudFormation cannot create AWS::ApiGatewayV2::*, so the routes are read from the
`HttpApi` events of the template's functions and served here with API Gateway's behaviour:
route selection, JWT authorizers, the 2.0 event, body encoding, the 10 MiB limit and the
response mapping.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from riskradar.local.jwt_authorizer import Authorized, JwtAuthorizers, Rejected, RouteAuthorization
from riskradar.local.logs import logger
from riskradar.local.runtime import LocalFunction
from riskradar.local.template import HttpApiEvent

#: API Gateway's payload limit for HTTP APIs.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
_TEXT_MEDIA_TYPES = frozenset({"application/json", "application/xml", "application/x-www-form-urlencoded"})
#: Headers of the function's response that only make sense per connection; the server sets its own.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_PATH_VARIABLE = re.compile(r"^\{([^{}+]+)(\+?)\}$")


class MalformedLambdaResponse(ValueError):
    """The function's response is not a valid payload format 2.0 response."""


@dataclass(frozen=True)
class Route:
    """A route of the HTTP API, e.g. `POST /v1/reports`, `ANY /files/{proxy+}` or `$default`."""

    function_logical_id: str
    method: str | None
    path: str | None
    api_logical_id: str
    #: The JWT authorizer that guards the route; None for an open route.
    authorization: RouteAuthorization | None = None
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _parameter_names: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_event(cls, event: HttpApiEvent, authorization: RouteAuthorization | None = None) -> Route:
        """The route of `event`; `authorization` must be given when the event names an authorizer."""
        if event.payload_format_version != "2.0":
            raise ValueError(
                f"{event.function_logical_id}.{event.event_name}: payload format "
                f"{event.payload_format_version} is not supported locally (only 2.0)"
            )
        if (event.authorizer is None) != (authorization is None):
            raise ValueError(
                f"{event.function_logical_id}.{event.event_name}: the route's authorizer is "
                f"{event.authorizer}, but it was given {authorization}"
            )
        if event.path is None:
            return cls(event.function_logical_id, None, None, event.api_logical_id, authorization)
        pattern, names = _compile_path(event.path)
        return cls(
            event.function_logical_id,
            event.method or "ANY",
            event.path,
            event.api_logical_id,
            authorization,
            pattern,
            names,
        )

    @property
    def route_key(self) -> str:
        return "$default" if self.path is None else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route serves the request, else None."""
        if self._pattern is None:
            return {}
        if self.method not in ("ANY", method):
            return None
        found = self._pattern.fullmatch(path)
        if found is None:
            return None
        return dict(zip(self._parameter_names, found.groups(), strict=True))

    def precedence(self) -> tuple[int, tuple[int, ...], int]:
        """Sort key, most specific first: literal segments beat {variables}, which beat a greedy
        {proxy+}; an exact method beats ANY; `$default` comes last."""
        if self.path is None:
            return (1, (), 1)
        segments = tuple(_segment_rank(segment) for segment in self.path.strip("/").split("/"))
        return (0, segments, 1 if self.method == "ANY" else 0)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    #: The request target as sent: path plus optional ?query, still percent-encoded.
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes


class HttpApi:
    """Routes requests to functions the way API Gateway's HTTP API does."""

    def __init__(
        self,
        routes: Iterable[Route],
        functions: Mapping[str, LocalFunction],
        *,
        account_id: str,
        authorizers: JwtAuthorizers | None = None,
    ) -> None:
        """`authorizers` hold the keys of the issuers that the routes' JWT authorizers trust."""
        self.routes = sorted(routes, key=Route.precedence)
        self._functions = functions
        self._account_id = account_id
        self._authorizers = authorizers or JwtAuthorizers({})
        for route in self.routes:
            issuer = route.authorization.authorizer.issuer if route.authorization else None
            if issuer is not None and not self._authorizers.trusts(issuer):
                # Every token would be refused; a configuration mistake, not a client's.
                raise ValueError(f"{route.route_key}: no keys for the issuer {issuer} of its authorizer")
        _warn_about_duplicate_routes(self.routes)

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = _api_gateway_request_id()
        if len(request.body) > MAX_REQUEST_BYTES:
            return error_response(413, "Request Entity Too Large", request_id)
        raw_path, _, _ = request.target.partition("?")
        # HTTP APIs hand the function (and match routes on) the percent-decoded path.
        path = unquote(raw_path)
        method = request.method.upper()
        for route in self.routes:
            path_parameters = route.match(method, path)
            if path_parameters is None:
                continue
            authorizer_context: dict[str, Any] | None = None
            if route.authorization is not None:
                verdict = self._authorize(route, route.authorization, request)
                if isinstance(verdict, Rejected):
                    return rejection_response(verdict, request_id)
                authorizer_context = verdict.context
            event = build_event(
                route, request, path, path_parameters, request_id, self._account_id, authorizer_context
            )
            return self._invoke(route, event, request_id)
        return error_response(404, "Not Found", request_id)

    def _authorize(
        self, route: Route, authorization: RouteAuthorization, request: HttpRequest
    ) -> Authorized | Rejected:
        headers, _ = _event_headers(request)
        _, _, raw_query = request.target.partition("?")
        verdict = self._authorizers.authorize(authorization, headers, _query_parameters(raw_query))
        if isinstance(verdict, Rejected):
            logger.info(
                "%s: %d from authorizer %s: %s",
                route.route_key,
                verdict.status,
                authorization.authorizer.name,
                verdict.reason,
            )
        return verdict

    def _invoke(self, route: Route, event: dict[str, Any], request_id: str) -> HttpResponse:
        function = self._functions[route.function_logical_id]
        try:
            result = function.invoke(event)
        except Exception:
            # As API Gateway: the client learns nothing; the traceback goes to the log.
            logger.exception("%s failed on %s", route.function_logical_id, route.route_key)
            return error_response(500, "Internal Server Error", request_id)
        try:
            return response_from_lambda(result, request_id)
        except MalformedLambdaResponse as problem:
            logger.error(
                "%s returned a malformed response on %s: %s",
                route.function_logical_id,
                route.route_key,
                problem,
            )
            return error_response(500, "Internal Server Error", request_id)


def build_event(
    route: Route,
    request: HttpRequest,
    path: str,
    path_parameters: Mapping[str, str],
    request_id: str,
    account_id: str,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends to the function for this request.

    `authorizer` is what the route's authorizer passes on (`{"jwt": {"claims", "scopes"}}`).
    """
    _, _, raw_query = request.target.partition("?")
    headers, cookies = _event_headers(request)
    now = datetime.now(UTC)
    host = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": route.api_logical_id.lower(),
        **({"authorizer": dict(authorizer)} if authorizer is not None else {}),
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if request.body:
        body, is_base64 = encode_body(request.body, headers.get("content-type"))
        event["body"] = body
    else:
        is_base64 = False
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = is_base64
    return event


def encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """API Gateway passes a text body as a string only when it is valid UTF-8; anything else is
    base64 with isBase64Encoded=true."""
    if _is_text_media_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def response_from_lambda(result: Any, request_id: str) -> HttpResponse:
    """Map a function's result to the HTTP response, as payload format 2.0 defines it."""
    base_headers = [("apigw-requestid", request_id)]
    if not (isinstance(result, dict) and "statusCode" in result):
        # A result without statusCode is taken as the JSON body of a 200.
        body = result if isinstance(result, bytes) else json.dumps(result).encode("utf-8")
        return HttpResponse(200, [("content-type", "application/json"), *base_headers], body)
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedLambdaResponse(f"statusCode {status!r} is not an HTTP status")
    headers = list(base_headers)
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_value(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    headers = [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]
    return HttpResponse(status, headers, _response_body(result))


def error_response(status: int, message: str, request_id: str) -> HttpResponse:
    headers = [("content-type", "application/json"), ("apigw-requestid", request_id)]
    return HttpResponse(status, headers, json.dumps({"message": message}).encode("utf-8"))


def rejection_response(rejected: Rejected, request_id: str) -> HttpResponse:
    """An authorizer's 401 or 403, with the `www-authenticate` challenge API Gateway adds."""
    response = error_response(rejected.status, rejected.message, request_id)
    return HttpResponse(
        response.status, [*response.headers, ("www-authenticate", rejected.www_authenticate)], response.body
    )


def request_target(path: str, query: Mapping[str, str | Sequence[str]] | None) -> str:
    """`path` with `query` appended (percent-encoded), for in-process requests."""
    if not query:
        return path
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}{urlencode(query, doseq=True)}"


def response_as_dict(response: HttpResponse) -> dict[str, Any]:
    """An HTTP response in the shape of a payload 2.0 response, for in-process callers."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in response.headers:
        key = name.lower()
        if key == "set-cookie":
            cookies.append(value)
        else:
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    try:
        body, is_base64 = response.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(response.body).decode("ascii"), True
    return {
        "statusCode": response.status,
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _response_body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedLambdaResponse(f"body must be a string, not {type(body).__name__}")
    if not result.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise MalformedLambdaResponse(
            f"isBase64Encoded is true but the body is not base64: {error}"
        ) from None


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _event_headers(request: HttpRequest) -> tuple[dict[str, str], list[str]]:
    """Lower-cased headers, repeated ones comma-joined; the Cookie header becomes `cookies`."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    # Headers API Gateway adds on its way to the function.
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    _, _, port = headers.get("host", "").rpartition(":")
    if port.isdigit():
        headers.setdefault("x-forwarded-port", port)
    headers.setdefault("x-amzn-trace-id", f"Root=1-{secrets.token_hex(4)}-{secrets.token_hex(12)}")
    return headers, cookies


def _query_parameters(raw_query: str) -> dict[str, str]:
    """Decoded query parameters; a repeated name's values are comma-joined, as API Gateway does."""
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _is_text_media_type(content_type: str | None) -> bool:
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_MEDIA_TYPES
        or media_type.endswith("+json")
        or "javascript" in media_type
    )


def _compile_path(path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    parts: list[str] = []
    names: list[str] = []
    for segment in path.strip("/").split("/"):
        variable = _PATH_VARIABLE.match(segment)
        if variable is None:
            parts.append(re.escape(segment))
            continue
        names.append(variable[1])
        parts.append("(.+)" if variable[2] else "([^/]+)")
    return re.compile("/" + "/".join(parts)), tuple(names)


def _segment_rank(segment: str) -> int:
    variable = _PATH_VARIABLE.match(segment)
    if variable is None:
        return 0
    return 2 if variable[2] else 1


def _warn_about_duplicate_routes(routes: Sequence[Route]) -> None:
    seen: dict[str, str] = {}
    for route in routes:
        if route.route_key in seen:
            logger.warning(
                "route %s is declared by %s and %s; locally all HTTP APIs share one port: the first wins",
                route.route_key,
                seen[route.route_key],
                route.function_logical_id,
            )
        seen.setdefault(route.route_key, route.function_logical_id)


def _api_gateway_request_id() -> str:
    # API Gateway's ids look like "JKJaXmPLvHcESHA="; a random one of the same shape will do.
    return base64.b64encode(uuid.uuid4().bytes[:11]).decode("ascii")[:15] + "="
