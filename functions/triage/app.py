"""Triage: SQS-triggered. Embeds each batch of queued reports, assigns themes, scores, routes signals.

Thin by design: parse each record (Powertools Parser), hand the valid reports to
riskradar.triage as one batch, and report the records that failed (Powertools BatchProcessor), so
one bad record never fails or re-runs the whole batch. A record that keeps failing is moved by
IntakeQueue's redrive policy to its dead-letter queue after 5 receives; its reason is logged here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from riskradar.adapters.dynamodb import ReportStore, SubjectReporterCounter, ThemeActivityCounter
from riskradar.adapters.s3 import EmbeddingShardStore, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.config import TriageSettings
from riskradar.embedding import SentenceEmbedder, resolve_model_path
from riskradar.models import QueuedReport
from riskradar.observability import keep_sdk_wire_logs_quiet
from riskradar.scoring import Priority, ScoringPolicy
from riskradar.triage import ShardAnnouncer, SignalRouter, TriageService, TriageStatus

logger = Logger()
keep_sdk_wire_logs_quiet()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
#: IntakeQueue's maxReceiveCount: on this receive a failing record goes to the dead-letter queue next.
LAST_RECEIVE = 5

settings = TriageSettings.from_env()
_sqs = boto3.client("sqs")
_dynamodb = boto3.resource("dynamodb")
_s3 = boto3.client("s3")
# The model itself loads lazily, on the first batch, and stays loaded for the container's life.
embedder = SentenceEmbedder(resolve_model_path(settings.embedding_model_path))
service = TriageService(
    embedder=embedder,
    reports=ReportStore(_dynamodb, settings.reports_table),
    subjects=SubjectReporterCounter(_dynamodb, settings.subject_reporters_table),
    activity=ThemeActivityCounter(_dynamodb, settings.theme_activity_table),
    shards=EmbeddingShardStore(_s3, settings.artifacts_bucket),
    snapshots=ThemeSnapshotStore(_s3, settings.artifacts_bucket, dimension=embedder.dimension),
    signals=SignalRouter(
        {
            Priority.CRITICAL: SqsQueue(_sqs, settings.signal_queue_critical_url),
            Priority.HIGH: SqsQueue(_sqs, settings.signal_queue_high_url),
            Priority.NORMAL: SqsQueue(_sqs, settings.signal_queue_normal_url),
        }
    ),
    shard_notices=ShardAnnouncer(SqsQueue(_sqs, settings.novelty_queue_url)),
    scoring=ScoringPolicy.from_json(settings.scoring_config),
    subject_window=timedelta(days=settings.subject_window_days),
    clock=lambda: datetime.now(UTC),
)


class RecordNotTriaged(Exception):
    """Raised for a record so that BatchProcessor reports it as a batch item failure."""


@tracer.capture_method
def triage_records(records: list[SQSRecord]) -> dict[str, str]:
    """Triage the batch; return the failure reason of each record (by message id) that failed."""
    failures: dict[str, str] = {}
    reports: dict[str, QueuedReport] = {}
    for record in records:
        try:
            reports[record.message_id] = parse(event=record.json_body, model=QueuedReport)
        except (ValidationError, ValueError) as error:
            failures[record.message_id] = f"not a valid intake message: {_summary(error)}"
    if reports:
        result = service.triage(list(reports.values()))
        for message_id, report in reports.items():
            outcome = result.outcomes[report.report_id]
            if outcome.status is TriageStatus.FAILED:
                failures[message_id] = outcome.reason or "triage failed"
        for priority, count in result.by_priority().items():
            metrics.add_metric(name=f"Signals{priority.title()}", unit=MetricUnit.Count, value=count)
        metrics.add_metric(
            name="ReportsAlreadyTriaged",
            unit=MetricUnit.Count,
            value=result.count(TriageStatus.ALREADY_TRIAGED),
        )
    for record in records:
        if record.message_id in failures:
            last = int(record.attributes.approximate_receive_count) >= LAST_RECEIVE
            logger.warning(
                "record not triaged"
                + ("; it goes to the dead-letter queue" if last else "; it will be retried"),
                extra={
                    "message_id": record.message_id,
                    "receive_count": record.attributes.approximate_receive_count,
                    "reason": failures[record.message_id],
                },
            )
    return failures


def _summary(error: Exception) -> str:
    if isinstance(error, ValidationError):
        # Field paths and error types only: the input could be anything, and must not reach the logs.
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['type']}" for e in error.errors()
        )
    return type(error).__name__


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    failures = triage_records([SQSRecord(record) for record in event["Records"]])

    def fail_if_not_triaged(record: SQSRecord) -> None:
        if record.message_id in failures:
            raise RecordNotTriaged(failures[record.message_id])

    return process_partial_response(
        event=event, record_handler=fail_if_not_triaged, processor=processor, context=context
    )
