"""Recluster: scheduled (EventBridge) and on demand. Clusters the recent window into themes.

Thin by design: build the service from the environment, run it, report what it published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from riskradar.adapters.s3 import DigestStore, EmbeddingShardStore, JsonStateStore, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.adapters.strategist import StrategistStore
from riskradar.config import ReclusterSettings
from riskradar.embedding import MINILM_DIMENSION
from riskradar.observability import keep_sdk_wire_logs_quiet
from riskradar.online_detection import ProvisionalThemeReader
from riskradar.recluster import ReclusterService
from riskradar.strategist.digests import DigestPublisher

logger = Logger()
keep_sdk_wire_logs_quiet()
tracer = Tracer()
metrics = Metrics()

settings = ReclusterSettings.from_env()
_s3 = boto3.client("s3")
_strategist_records = StrategistStore.reader(
    boto3.client("dynamodb"),
    curation_table=settings.curation_table,
    interventions_table=settings.interventions_table,
)
service = ReclusterService(
    shards=EmbeddingShardStore(_s3, settings.artifacts_bucket),
    snapshots=ThemeSnapshotStore(_s3, settings.artifacts_bucket, dimension=MINILM_DIMENSION),
    alerts=SqsQueue(boto3.client("sqs"), settings.alerts_queue_url),
    window_days=settings.recluster_window_days,
    clock=lambda: datetime.now(UTC),
    curation=_strategist_records,
    digests=DigestPublisher(
        records=_strategist_records,
        store=DigestStore(_s3, settings.artifacts_bucket),
        clock=lambda: datetime.now(UTC),
    ),
    provisional=(
        ProvisionalThemeReader(JsonStateStore(_s3, settings.artifacts_bucket, settings.novelty_state_key))
        if settings.novelty_state_key
        else None
    ),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    logger.info("recluster started", extra={"trigger": event.detail_type or "on demand"})
    result = service.run(time_left_ms=context.get_remaining_time_in_millis)
    metrics.add_metric(name="ThemesPublished", unit=MetricUnit.Count, value=result.themes)
    metrics.add_metric(name="EmergingThemes", unit=MetricUnit.Count, value=len(result.emerging))
    metrics.add_metric(name="ReportsClustered", unit=MetricUnit.Count, value=result.reports)
    metrics.add_metric(
        name="ShardDaysCompacted", unit=MetricUnit.Count, value=len(result.compaction.compacted)
    )
    if result.compaction.failed:
        metrics.add_metric(
            name="ShardDaysNotCompacted", unit=MetricUnit.Count, value=len(result.compaction.failed)
        )
    if result.compaction.undeleted:
        metrics.add_metric(
            name="SupersededShardsNotDeleted", unit=MetricUnit.Count, value=len(result.compaction.undeleted)
        )
    summary = {
        "snapshot_version": result.version,
        "reports": result.reports,
        "themes": result.themes,
        "left_out": result.left_out,
        "emerging": list(result.emerging),
        "alerts": [alert.alert_id for alert in result.alerts],
        "digest": dict(result.digest.keys) if result.digest else None,
        "compacted_days": [day.day.isoformat() for day in result.compaction.compacted],
        "compaction_failed": [day.isoformat() for day in result.compaction.failed],
        "compaction_undeleted": [day.isoformat() for day in result.compaction.undeleted],
    }
    if result.digest is None:
        metrics.add_metric(name="DigestsNotPublished", unit=MetricUnit.Count, value=1)
    logger.info("recluster published", extra=summary)
    return summary
