"""Strategist API: themes, verdicts, merges, interventions, audit (routes in template.yaml).

Thin by design: API Gateway's JWT authorizer has verified the token before this runs; here the
claims become a Principal, the request a typed command, riskradar.strategist does the work, and
its errors map once to responses: 403 (role or business not allowed), 404, 409, 422.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from riskradar.adapters.s3 import DigestStore, ThemeSnapshotStore
from riskradar.adapters.strategist import StrategistStore
from riskradar.config import StrategistSettings
from riskradar.digest import content_security_policy
from riskradar.http import DIGEST_MEDIA_TYPES, error_response, json_response, negotiate
from riskradar.intake.validation import FieldError, RequestRejected, decode_json_body, field_errors
from riskradar.observability import keep_sdk_wire_logs_quiet
from riskradar.strategist.access import AccessDenied, Principal
from riskradar.strategist.digests import DigestPublisher
from riskradar.strategist.models import InterventionRequest, MergeRequest, ThemeStatus, VerdictRequest
from riskradar.strategist.service import Conflict, NotFound, StrategistService, ThemeFilters

logger = Logger()
keep_sdk_wire_logs_quiet()
metrics = Metrics()
app = APIGatewayHttpResolver()

settings = StrategistSettings.from_env()
#: Strategist requests are small; anything bigger is a mistake or an attack.
MAX_BODY_BYTES = 16 * 1024
MAX_AUDIT_PAGE = 200
# The embedding dimension only matters to readers of centroids, which this API never loads.
_SNAPSHOT_DIMENSION = 384
_s3 = boto3.client("s3")
snapshots = ThemeSnapshotStore(_s3, settings.artifacts_bucket, dimension=_SNAPSHOT_DIMENSION)
records = StrategistStore(
    boto3.client("dynamodb"),
    curation_table=settings.curation_table,
    interventions_table=settings.interventions_table,
    audit_table=settings.audit_table,
)
service = StrategistService(snapshots=snapshots, records=records, clock=lambda: datetime.now(UTC))
digests = DigestStore(_s3, settings.artifacts_bucket)
publisher = DigestPublisher(records=records, store=digests, clock=lambda: datetime.now(UTC))
Command = TypeVar("Command", bound=BaseModel)


def principal() -> Principal:
    claims = app.current_event.request_context.authorizer.jwt_claim
    return Principal.from_claims(
        claims, roles_claim=settings.roles_claim, businesses_claim=settings.businesses_claim
    )


def command(model: type[Command]) -> Command:
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8", "surrogatepass")
    payload = decode_json_body(body, event.headers.get("content-type"), max_bytes=MAX_BODY_BYTES)
    if not isinstance(payload, dict):
        raise _invalid([FieldError("(body)", "must be a JSON object")])
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise _invalid(field_errors(error)) from None


def request_id() -> str:
    return app.current_event.request_context.request_id


def query(name: str) -> str | None:
    value = app.current_event.get_query_string_value(name)
    return value.strip() if value is not None and value.strip() else None


def _invalid(details: list[FieldError]) -> RequestRejected:
    return RequestRejected(
        HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "the request is not valid", details
    )


def dumped(value: BaseModel | list[Any]) -> Any:
    if isinstance(value, list):
        return [item.model_dump(mode="json") for item in value]
    return value.model_dump(mode="json")


# ---------------------------------------------------------------------------------- themes


@app.get("/v1/themes")
def list_themes() -> Response[Any]:
    status = query("status")
    emerging = query("emerging")
    problems = []
    if status is not None and status not in {s.value for s in ThemeStatus}:
        problems.append(FieldError("status", f"must be one of {', '.join(s.value for s in ThemeStatus)}"))
    if emerging is not None and emerging not in ("true", "false"):
        problems.append(FieldError("emerging", "must be true or false"))
    if problems:
        raise _invalid(problems)
    filters = ThemeFilters(
        business=query("business"),
        status=ThemeStatus(status) if status else None,
        emerging=None if emerging is None else emerging == "true",
    )
    themes = service.list_themes(principal(), filters)
    return json_response(HTTPStatus.OK, {"themes": dumped(themes), "count": len(themes)})


@app.get("/v1/themes/<theme_id>")
def get_theme(theme_id: str) -> Response[Any]:
    return json_response(HTTPStatus.OK, dumped(service.theme(principal(), theme_id)))


@app.post("/v1/themes/<theme_id>/verdict")
def post_verdict(theme_id: str) -> Response[Any]:
    record = service.record_verdict(principal(), theme_id, command(VerdictRequest), request_id=request_id())
    metrics.add_metric(name="VerdictsRecorded", unit=MetricUnit.Count, value=1)
    return json_response(HTTPStatus.OK, dumped(record))


@app.post("/v1/themes/<theme_id>/merge")
def post_merge(theme_id: str) -> Response[Any]:
    record = service.merge(principal(), theme_id, command(MergeRequest), request_id=request_id())
    metrics.add_metric(name="ThemesMerged", unit=MetricUnit.Count, value=1)
    return json_response(HTTPStatus.OK, dumped(record))


# ---------------------------------------------------------------------------------- interventions


@app.post("/v1/interventions")
def post_intervention() -> Response[Any]:
    request = command(InterventionRequest)
    if request.business not in settings.allowed_businesses:
        allowed = ", ".join(sorted(settings.allowed_businesses))
        raise _invalid([FieldError("business", f"must be one of: {allowed}")])
    intervention = service.create_intervention(principal(), request, request_id=request_id())
    metrics.add_metric(name="InterventionsRecorded", unit=MetricUnit.Count, value=1)
    return json_response(
        HTTPStatus.CREATED,
        dumped(intervention),
        {"Location": f"/v1/interventions/{intervention.intervention_id}"},
    )


@app.get("/v1/interventions")
def list_interventions() -> Response[Any]:
    found = service.interventions(principal(), theme_id=query("theme_id"), business=query("business"))
    return json_response(HTTPStatus.OK, {"interventions": dumped(found), "count": len(found)})


@app.get("/v1/interventions/<intervention_id>")
def get_intervention(intervention_id: str) -> Response[Any]:
    return json_response(HTTPStatus.OK, dumped(service.intervention(principal(), intervention_id)))


@app.get("/v1/interventions/<intervention_id>/effect")
def get_intervention_effect(intervention_id: str) -> Response[Any]:
    return json_response(HTTPStatus.OK, dumped(service.effect(principal(), intervention_id)))


# ---------------------------------------------------------------------------------- digests


@app.get("/v1/digests/latest")
def get_latest_digest() -> Response[Any]:
    principal().require_reader()
    kind = negotiate(app.current_event.headers.get("accept"), DIGEST_MEDIA_TYPES, default="json")
    if kind is None:
        offered = ", ".join(DIGEST_MEDIA_TYPES)
        return error_response(
            HTTPStatus.NOT_ACCEPTABLE, "not_acceptable", f"the digest is served as {offered}"
        )
    reference = digests.latest()
    if reference is None:
        raise NotFound(
            "no digest has been published yet: it is written after each recluster run, or POST /v1/digests"
        )
    body = digests.read(reference, kind)
    if body is None:
        raise NotFound(
            f"the latest digest (of snapshot v{reference.snapshot_version}) has expired with its reports "
            "(ReportRetentionDays): one is written after the next recluster run that has reports, "
            "or POST /v1/digests"
        )
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Vary": "Accept"}
    if kind == "html":
        # A meta tag cannot set frame-ancestors; the header carries the page's whole policy.
        headers["Content-Security-Policy"] = content_security_policy() + "; frame-ancestors 'none'"
        headers["Referrer-Policy"] = "no-referrer"
    media_type = next(media for media, name in DIGEST_MEDIA_TYPES.items() if name == kind)
    charset = "" if kind == "json" else "; charset=utf-8"
    return Response(status_code=HTTPStatus.OK, content_type=media_type + charset, body=body, headers=headers)


@app.post("/v1/digests")
def post_digest() -> Response[Any]:
    principal().require_strategist([])
    digest, reference = publisher.publish_current(snapshots)
    metrics.add_metric(name="DigestsPublished", unit=MetricUnit.Count, value=1)
    return json_response(
        HTTPStatus.CREATED,
        {
            "snapshot_version": digest.snapshot_version,
            "generated_at": reference.generated_at,
            "keys": reference.keys,
        },
        {"Location": "/v1/digests/latest"},
    )


# ---------------------------------------------------------------------------------- audit


@app.get("/v1/audit")
def list_audit() -> Response[Any]:
    raw_limit = query("limit") or "50"
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if re.fullmatch(r"[0-9]{1,6}", raw_limit) is None or not 1 <= int(raw_limit) <= MAX_AUDIT_PAGE:
        raise _invalid([FieldError("limit", f"must be a whole number from 1 to {MAX_AUDIT_PAGE}")])
    entries, cursor = service.audit(
        principal(), limit=int(raw_limit), before=query("before"), target_id=query("target_id")
    )
    return json_response(HTTPStatus.OK, {"entries": dumped(entries), "next": cursor})


# ---------------------------------------------------------------------------------- errors


@app.exception_handler(RequestRejected)
def handle_rejected(error: RequestRejected) -> Response[Any]:
    return error_response(error.status, error.code, error.message, error.details)


@app.exception_handler(AccessDenied)
def handle_access_denied(error: AccessDenied) -> Response[Any]:
    metrics.add_metric(name="RequestsForbidden", unit=MetricUnit.Count, value=1)
    return error_response(HTTPStatus.FORBIDDEN, "forbidden", str(error))


@app.exception_handler(NotFound)
def handle_not_found(error: NotFound) -> Response[Any]:
    return error_response(HTTPStatus.NOT_FOUND, "not_found", str(error))


@app.exception_handler(Conflict)
def handle_conflict(error: Conflict) -> Response[Any]:
    return error_response(HTTPStatus.CONFLICT, "conflict", str(error))


@app.exception_handler([ClientError, BotoCoreError])
def handle_dependency_failure(error: Exception) -> Response[Any]:
    logger.exception("a dependency failed; nothing was changed")
    return error_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "unavailable",
        "the service is temporarily unavailable; retry",
        headers={"Retry-After": "1"},
    )


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "unexpected error; it has been logged"
    )


@app.not_found
def handle_unknown_route(error: Exception) -> Response[Any]:
    return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
