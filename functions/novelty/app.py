"""Novelty: SQS-triggered (NoveltyQueue, FIFO). Online new-theme detection between reclusters.

Thin by design: open a batch over the detector's state (riskradar.online_detection), observe each
record's embedding shard in order (Powertools SqsFifoPartialProcessor: the first record that fails
fails every later one too, so the detector never sees shards out of order), then commit — alerts
first, state last — and report the records that must come back. A record that keeps failing goes,
with the records held behind it, to the FIFO dead-letter queue after 5 receives.
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
from riskradar.embedding import MINILM_DIMENSION
from riskradar.models import ShardNotice
from riskradar.online_detection import DetectionBatch, NoticeOutcome, OnlineDetectionService

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = SqsFifoPartialProcessor()
#: NoveltyQueue's maxReceiveCount: on this receive a failing record goes to the dead-letter queue next.
LAST_RECEIVE = 5

settings = NoveltySettings.from_env()
_s3 = boto3.client("s3")
# The service keeps the state it saved last between warm invocations (see riskradar.online_detection).
service = OnlineDetectionService(
    state_store=JsonStateStore(_s3, settings.artifacts_bucket, settings.novelty_state_key),
    shards=EmbeddingShardStore(_s3, settings.artifacts_bucket),
    alerts=SqsQueue(boto3.client("sqs"), settings.alerts_queue_url),
    snapshots=ThemeSnapshotStore(_s3, settings.artifacts_bucket, dimension=MINILM_DIMENSION),
    feed=settings.novelty_feed,
    remember_reports=settings.novelty_remember_reports,
    clock=lambda: datetime.now(UTC),
)


@tracer.capture_method
def observe_records(
    event: dict[str, Any], context: LambdaContext, batch: DetectionBatch
) -> PartialItemFailureResponse:
    lags: list[float] = []

    def observe(record: SQSRecord) -> None:
        try:
            notice = parse(event=record.json_body, model=ShardNotice)
            outcome = batch.observe(notice)
        except Exception as error:
            last = int(record.attributes.approximate_receive_count) >= LAST_RECEIVE
            logger.warning(
                "record not observed; it and every later record of the batch"
                + (" go to the dead-letter queue" if last else " will be retried"),
                extra={
                    "message_id": record.message_id,
                    "receive_count": record.attributes.approximate_receive_count,
                    "reason": _summary(error),
                },
            )
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
    return response


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
        response = observe_records(event, context, batch)
        result = batch.commit()
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
