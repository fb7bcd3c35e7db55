"""Intake API: POST /v1/reports and POST /v1/reports/batch.

Thin by design: decode the request, hand it to riskradar.intake, map the outcome to a response.

No Powertools Tracer here on purpose: the X-Ray SDK adds ~180 ms to this function's cold start
(measured by benchmarks/intake_cold_import.py), and the function's `Tracing: Active` already records
its invocation and init segments. The triage and recluster images, where seconds are spent, trace.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from riskradar.adapters.sqs import SqsQueue
from riskradar.config import IntakeSettings
from riskradar.intake.enqueue import IdempotencyStoreUnavailable, ReportEnqueuer, idempotency_config
from riskradar.intake.service import IntakeService, ItemOutcome, ItemStatus, tally
from riskradar.intake.validation import (
    IntakePolicy,
    ReportInvalid,
    RequestRejected,
    batch_items,
    decode_json_body,
)
from riskradar.observability import keep_sdk_wire_logs_quiet
from riskradar.pseudonymize import IdHasher

logger = Logger()
keep_sdk_wire_logs_quiet()
metrics = Metrics()
app = APIGatewayHttpResolver()

settings = IntakeSettings.from_env()
policy = IntakePolicy(allowed_businesses=settings.allowed_businesses)
idempotency = idempotency_config(settings.report_dedup_window_seconds)
enqueuer = ReportEnqueuer(
    SqsQueue(boto3.client("sqs"), settings.intake_queue_url),
    DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
    idempotency,
)
#: The HMAC key is cached by Powertools Parameters and re-read after this many seconds (rotation).
ID_HASH_KEY_MAX_AGE_SECONDS = 300


def intake_service() -> IntakeService:
    key = parameters.get_parameter(
        settings.id_hash_key_parameter, decrypt=True, max_age=ID_HASH_KEY_MAX_AGE_SECONDS
    )
    return IntakeService(policy, IdHasher(str(key).encode()), enqueuer, clock=lambda: datetime.now(UTC))


def request_json() -> Any:
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8", "surrogatepass")
    return decode_json_body(body, event.headers.get("content-type"), max_bytes=policy.max_body_bytes)


@app.post("/v1/reports")
def post_report() -> Response[dict[str, Any]]:
    outcome = intake_service().submit(request_json())
    record_metrics([outcome])
    if outcome.status in (ItemStatus.CONFLICT, ItemStatus.IN_PROGRESS):
        return error_response(HTTPStatus.CONFLICT, str(outcome.status), outcome.errors[0].reason, outcome)
    return json_response(HTTPStatus.ACCEPTED, {"report_id": outcome.report_id, "status": str(outcome.status)})


@app.post("/v1/reports/batch")
def post_report_batch() -> Response[dict[str, Any]]:
    outcomes = intake_service().submit_batch(batch_items(request_json(), policy))
    record_metrics(outcomes)
    counts = tally(outcomes)
    body: dict[str, Any] = {
        "accepted": counts[ItemStatus.ACCEPTED],
        "duplicates": counts[ItemStatus.DUPLICATE],
        "rejected": counts[ItemStatus.REJECTED],
        # Not taken, and not for bad input: a used id (conflicts), the same report being accepted
        # right now or a dependency failing (retry those: Retry-After).
        "conflicts": counts[ItemStatus.CONFLICT],
        "in_progress": counts[ItemStatus.IN_PROGRESS],
        "failed": counts[ItemStatus.FAILED],
        "items": [outcome.as_dict() for outcome in outcomes],
    }
    status = batch_status(outcomes)
    retry_some = counts[ItemStatus.IN_PROGRESS] + counts[ItemStatus.FAILED] > 0
    if status == HTTPStatus.ACCEPTED:
        return json_response(status, body, {"Retry-After": "1"} if retry_some else None)
    # Nothing was taken: answer with the `error` object every other 4xx/5xx carries, so a client
    # handles a refused batch the way it handles a refused report; the per-item list stays.
    code, message = _BATCH_REFUSALS[status]
    error: dict[str, Any] = {"code": code, "message": message}
    if status == HTTPStatus.UNPROCESSABLE_ENTITY:
        error["details"] = [detail.as_dict() for outcome in outcomes for detail in outcome.errors]
    retry = status == HTTPStatus.SERVICE_UNAVAILABLE or counts[ItemStatus.IN_PROGRESS] > 0
    return json_response(status, {"error": error, **body}, {"Retry-After": "1"} if retry else None)


_BATCH_REFUSALS = {
    HTTPStatus.UNPROCESSABLE_ENTITY: ("validation_error", "no report in the batch is valid"),
    HTTPStatus.CONFLICT: ("conflict", "no report in the batch was accepted; see items"),
    HTTPStatus.SERVICE_UNAVAILABLE: (
        "unavailable",
        "the service is temporarily unavailable; nothing was kept, retry",
    ),
}


def batch_status(outcomes: list[ItemOutcome]) -> HTTPStatus:
    counts = tally(outcomes)
    if counts[ItemStatus.ACCEPTED] or counts[ItemStatus.DUPLICATE]:
        return HTTPStatus.ACCEPTED
    if counts[ItemStatus.FAILED]:
        return HTTPStatus.SERVICE_UNAVAILABLE
    if counts[ItemStatus.REJECTED] == len(outcomes):
        return HTTPStatus.UNPROCESSABLE_ENTITY
    return HTTPStatus.CONFLICT


def record_metrics(outcomes: list[ItemOutcome]) -> None:
    for status, count in tally(outcomes).items():
        metrics.add_metric(
            name=f"Reports{str(status).title().replace('_', '')}", unit=MetricUnit.Count, value=count
        )
    redacted = sum(sum(outcome.redactions.values()) for outcome in outcomes)
    if redacted:
        metrics.add_metric(name="PiiSpansRedacted", unit=MetricUnit.Count, value=redacted)


def json_response(
    status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def error_response(
    status: HTTPStatus, code: str, message: str, outcome: ItemOutcome | None = None
) -> Response[Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if outcome is not None and outcome.report_id:
        error["report_id"] = outcome.report_id
    headers = {"Retry-After": "1"} if code == ItemStatus.IN_PROGRESS else None
    return json_response(status, {"error": error}, headers)


@app.exception_handler(RequestRejected)
def handle_rejected_request(error: RequestRejected) -> Response[Any]:
    response: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        response["details"] = [detail.as_dict() for detail in error.details]
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return json_response(error.status, {"error": response})


@app.exception_handler(ReportInvalid)
def handle_invalid_report(error: ReportInvalid) -> Response[Any]:
    record_metrics([ItemOutcome(0, ItemStatus.REJECTED)])
    body = {
        "error": {
            "code": "validation_error",
            "message": "the report is not valid",
            "details": [detail.as_dict() for detail in error.errors],
        }
    }
    return json_response(HTTPStatus.UNPROCESSABLE_ENTITY, body)


# Powertools wraps what DynamoDB (idempotency) and SSM (the HMAC key) refused in its own errors.
@app.exception_handler([ClientError, BotoCoreError, IdempotencyStoreUnavailable, GetParameterError])
def handle_dependency_failure(error: Exception) -> Response[Any]:
    logger.exception("a dependency failed; nothing was accepted")
    body = {"error": {"code": "unavailable", "message": "the service is temporarily unavailable; retry"}}
    return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": "1"})


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    body = {"error": {"code": "internal_error", "message": "unexpected error; it has been logged"}}
    return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)
