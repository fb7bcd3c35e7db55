"""Novelty: SQS-triggered (NoveltyQueue, FIFO). Online new-theme detection between reclusters.

Thin by design: open a batch over the detector's state (riskradar.online_detection), observe each
record's embedding shard in order (Powertools SqsFifoPartialProcessor: the first record that fails
fails every later one too, so the detector never sees shards out of order), then commit — alerts
first, state last — and report the records that must come back. A record that fails on its last
receive (NoveltyQueue's maxReceiveCount, read from the queue) is set aside instead, so the records
behind it go on, and is put on the FIFO dead-letter queue with its reason once the batch committed
(riskradar.dead_letters); if that send fails it is reported failed and SQS's redrive moves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from riskradar.adapters.s3 import EmbeddingShardStore, JsonStateStore, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.config import NoveltySettings
from riskradar.dead_letters import DeadLetterRouter, FailedRecord
from riskradar.embedding import MINILM_DIMENSION
from riskradar.models import ShardNotice
from riskradar.observability import keep_sdk_wire_logs_quiet
from riskradar.online_detection import DetectionBatch, NoticeOutcome, OnlineDetectionService

logger = Logger()
keep_sdk_wire_logs_quiet()
tracer = Tracer()
metrics = Metrics()
processor = SqsFifoPartialProcessor()

settings = NoveltySettings.from_env()
_s3 = boto3.client("s3")
_sqs = boto3.client("sqs")
# The service keeps the state it saved last between warm invocations (see riskradar.online_detection).
service = OnlineDetectionService(
    state_store=JsonStateStore(_s3, settings.artifacts_bucket, settings.novelty_state_key),
    shards=EmbeddingShardStore(_s3, settings.artifacts_bucket),
    alerts=SqsQueue(_sqs, settings.alerts_queue_url),
    snapshots=ThemeSnapshotStore(_s3, settings.artifacts_bucket, dimension=MINILM_DIMENSION),
    feed=settings.novelty_feed,
    remember_reports=settings.novelty_remember_reports,
    clock=lambda: datetime.now(UTC),
)
dead_letters = DeadLetterRouter(
    SqsQueue(_sqs, settings.novelty_queue_url),
    SqsQueue(_sqs, settings.novelty_dead_letter_queue_url),
    fifo=True,
)


@tracer.capture_method
def observe_records(
    event: dict[str, Any], context: LambdaContext, batch: DetectionBatch
) -> tuple[PartialItemFailureResponse, list[tuple[FailedRecord, str]]]:
    """Observe the records in order; return the partial batch response and the records set aside
    for the dead-letter queue (failed on their last receive), with their reasons."""
    lags: list[float] = []
    set_aside: list[tuple[FailedRecord, str]] = []

    def observe(record: SQSRecord) -> None:
        try:
            notice = parse(event=record.json_body, model=ShardNotice)
            outcome = batch.observe(notice)
        except Exception as error:
            failed = FailedRecord.from_sqs_record(record)
            reason = _summary(error)
            last = dead_letters.is_last_receive(failed)
            logger.warning(
                "record not observed; "
                + (
                    "it goes to the dead-letter queue"
                    if last
                    else "it and every later record will be retried"
                ),
                extra={
                    "message_id": record.message_id,
                    "receive_count": failed.receive_count,
                    "reason": reason,
                },
            )
            if last:
                set_aside.append((failed, reason))
                return
            raise
        lags.append((datetime.now(UTC) - notice.written_at).total_seconds())
        if outcome is NoticeOutcome.ALREADY_OBSERVED:
            logger.info("shard already observed; skipped", extra={"shard_key": notice.shard_key})

    response = process_partial_response(
        event=event, record_handler=observe, processor=processor, context=context
    )
    if lags:
        # How far the detector runs behind triage: the oldest notice of the batch.
        metrics.add_metric(name="NoveltyLagSeconds", unit=MetricUnit.Seconds, value=max(lags))
    return response, set_aside


def _summary(error: Exception) -> str:
    if isinstance(error, ValidationError):
        # Field paths and error types only, never the input.
        return "not a shard notice: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['type']}" for e in error.errors()
        )
    return f"{type(error).__name__}: {error}"


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    with service.batch() as batch:
        if batch.reset_reason:
            logger.warning("novelty detector state reset", extra={"reason": batch.reset_reason})
            metrics.add_metric(name="NoveltyStateResets", unit=MetricUnit.Count, value=1)
        response, set_aside = observe_records(event, context, batch)
        result = batch.commit()
    # Only now: had the commit failed, every record (these too) would be delivered again.
    for failed, reason in set_aside:
        if dead_letters.dead_letter(failed, reason):
            metrics.add_metric(name="RecordsDeadLettered", unit=MetricUnit.Count, value=1)
        else:
            response["batchItemFailures"].append({"itemIdentifier": failed.message_id})
    metrics.add_metric(name="ShardsObserved", unit=MetricUnit.Count, value=result.shards_observed)
    metrics.add_metric(name="ShardsAlreadyObserved", unit=MetricUnit.Count, value=result.shards_skipped)
    metrics.add_metric(name="ReportsObserved", unit=MetricUnit.Count, value=result.reports_observed)
    metrics.add_metric(name="OnlineAlerts", unit=MetricUnit.Count, value=len(result.alerts))
    for alert in result.alerts:
        logger.info(
            "online theme alert",
            extra={
                "alert_id": alert.alert_id,
                "theme_id": alert.theme_id,
                "theme_label": alert.theme_label,
                "observed": alert.observed,
                "expected": alert.expected,
                "surprise": alert.surprise,
            },
        )
    return response
