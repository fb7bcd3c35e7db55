"""Triage: SQS-triggered. Embeds each batch of queued reports, assigns themes, scores, routes signals.

Thin by design: parse each record (Powertools Parser), hand the valid reports to
riskradar.triage as one batch, and report the records that failed (Powertools BatchProcessor), so
one bad record never fails or re-runs the whole batch. A failed record comes back after
riskradar.triage.RETRY_DELAY (its visibility is shortened: a pending signal is resent inside SQS's
deduplication interval). On its last receive (IntakeQueue's maxReceiveCount, read from the queue)
a failing record is put on the intake dead-letter queue here, with its reason
(riskradar.dead_letters); a record whose signal outcome is unknown, or whose report id another
report holds, goes there at once.
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
from botocore.config import Config
from pydantic import ValidationError

from riskradar.adapters.dynamodb import ReportStore, SubjectReporterCounter, ThemeActivityCounter
from riskradar.adapters.s3 import EmbeddingShardStore, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.config import TriageSettings
from riskradar.dead_letters import RESEND_SIGNAL, DeadLetterRouter, FailedRecord
from riskradar.embedding import SentenceEmbedder, resolve_model_path
from riskradar.models import QueuedReport
from riskradar.observability import keep_sdk_wire_logs_quiet
from riskradar.scoring import Priority, ScoringPolicy
from riskradar.triage import RETRY_DELAY, ShardAnnouncer, SignalRouter, TriageService, TriageStatus

logger = Logger()
keep_sdk_wire_logs_quiet()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

settings = TriageSettings.from_env()
# Each batch writes ~100 nested records and sends ~100 signals: botocore's client-side walk of every
# parameter against the service model took 9 % of a batch's time in a profile
# (benchmarks/triage_throughput.py --profile). The services validate every request themselves and
# answer a bad one with a 400, which the adapters already read as a refusal.
_sdk_config = Config(parameter_validation=False)
_sqs = boto3.client("sqs", config=_sdk_config)
_dynamodb = boto3.resource("dynamodb", config=_sdk_config)
_s3 = boto3.client("s3", config=_sdk_config)
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
    record_retention=timedelta(days=settings.report_retention_days),
    clock=lambda: datetime.now(UTC),
)
dead_letters = DeadLetterRouter(
    SqsQueue(_sqs, settings.intake_queue_url),
    SqsQueue(_sqs, settings.intake_dead_letter_queue_url),
    fifo=False,
)


class RecordNotTriaged(Exception):
    """Raised for a record so that BatchProcessor reports it as a batch item failure."""


@tracer.capture_method
def triage_records(records: list[SQSRecord]) -> dict[str, str]:
    """Triage the batch; return the failure reason of each record (by message id) to be retried."""
    failures: dict[str, str] = {}
    #: Records no retry can fix: dead-lettered now.
    hopeless: dict[str, str] = {}
    reports: dict[str, QueuedReport] = {}
    for record in records:
        try:
            reports[record.message_id] = parse(event=record.json_body, model=QueuedReport)
        except (ValidationError, ValueError) as error:
            failures[record.message_id] = f"not a valid intake message: {_summary(error)}"
    if reports:
        resend = {
            reports[record.message_id].report_id
            for record in records
            if record.message_id in reports and RESEND_SIGNAL in record.message_attributes
        }
        try:
            result = service.triage(list(reports.values()), resend_unknown=resend)
        except Exception as error:
            logger.exception("the batch was not triaged")
            failures.update(dict.fromkeys(reports, f"batch not triaged: {_summary(error)}"))
        else:
            for message_id, report in reports.items():
                outcome = result.outcomes[report.report_id]
                if outcome.status is TriageStatus.FAILED:
                    failures[message_id] = outcome.reason or "triage failed"
                elif outcome.status in (TriageStatus.SIGNAL_OUTCOME_UNKNOWN, TriageStatus.REPORT_ID_REUSED):
                    hopeless[message_id] = outcome.reason or str(outcome.status)
            for priority, count in result.by_priority().items():
                metrics.add_metric(name=f"Signals{priority.title()}", unit=MetricUnit.Count, value=count)
            metrics.add_metric(
                name="ReportsAlreadyTriaged",
                unit=MetricUnit.Count,
                value=result.count(TriageStatus.ALREADY_TRIAGED),
            )
    return dispose_of_failures(records, failures, hopeless)


def dispose_of_failures(
    records: list[SQSRecord], failures: dict[str, str], hopeless: dict[str, str]
) -> dict[str, str]:
    """Dead-letter the hopeless records and those failing on their last receive (with their
    reasons); have the others retried soon. Returns the records to report as failed."""
    retry: dict[str, str] = {}
    retried: list[FailedRecord] = []
    for record in records:
        reason = hopeless.get(record.message_id) or failures.get(record.message_id)
        if reason is None:
            continue
        failed = FailedRecord.from_sqs_record(record)
        context = {"message_id": record.message_id, "receive_count": failed.receive_count, "reason": reason}
        now = record.message_id in hopeless or dead_letters.is_last_receive(failed)
        if now and dead_letters.dead_letter(failed, reason):
            logger.warning("record not triaged; it is in the dead-letter queue", extra=context)
            metrics.add_metric(name="RecordsDeadLettered", unit=MetricUnit.Count, value=1)
            continue
        logger.warning("record not triaged; it will be retried", extra=context)
        retry[record.message_id] = reason
        retried.append(failed)
    dead_letters.retry_after(retried, seconds=int(RETRY_DELAY.total_seconds()))
    return retry


def _summary(error: Exception) -> str:
    if isinstance(error, ValidationError):
        # Field paths and error types only: the input could be anything, and must not reach the logs.
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['type']}" for e in error.errors()
        )
    if isinstance(error, ValueError):
        return type(error).__name__  # e.g. JSON that does not decode: its message quotes the input
    # Dependencies' errors (botocore, S3, SQS) name the call and the service's answer, not report content.
    return f"{type(error).__name__}: {error}"[:500]


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
