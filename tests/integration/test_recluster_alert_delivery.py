"""An emerging theme's alert is never lost to a failed send (recluster handler on moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from riskradar.adapters.s3 import ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.models import ThemeAlert
from tests.helpers import MockedFunction, drain_url, mocked_function
from tests.integration.test_recluster_handler import DIMENSION, scheduled_event, write_history


@pytest.fixture(scope="module")
def recluster() -> Iterator[MockedFunction]:
    with mocked_function("ReclusterFunction", function_dir="recluster") as function:
        yield function


class RefusingQueue(SqsQueue):
    """The alerts queue while SQS refuses every send (an outage, or throttling past the retries)."""

    def send(self, body: str, **options: Any) -> str:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendMessage"
        )


def test_a_run_that_cannot_send_its_alert_publishes_nothing_and_the_next_run_sends_it(
    recluster: MockedFunction,
) -> None:
    topic_of = write_history(recluster, datetime.now(UTC))
    snapshots = ThemeSnapshotStore(
        boto3.client("s3"), recluster.stack.physical_id("ArtifactsBucket"), dimension=DIMENSION
    )
    service = recluster.module.service
    queue = service.alerts
    service.alerts = RefusingQueue(boto3.client("sqs"), queue.url)
    try:
        with pytest.raises(ClientError, match="ThrottlingException"):
            recluster.invoke(scheduled_event(), timeout_s=900)
    finally:
        service.alerts = queue
    # The themes it found are not recorded as emerging: the next run still sees them as new.
    assert snapshots.current().version == 0

    summary = recluster.invoke(scheduled_event(), timeout_s=900)

    assert summary["snapshot_version"] == 1
    snapshot = snapshots.current()
    members = snapshots.current_members()
    surge = [t for t in snapshot.themes if {topic_of[r] for r in members[t.theme_id]} == {"surge"}]
    assert len(surge) == 1
    assert surge[0].emerging
    alerts = [
        ThemeAlert.model_validate(body)
        for body in drain_url(boto3.client("sqs"), recluster.stack.physical_id("AlertsQueue"))
    ]
    assert [alert.theme_id for alert in alerts] == [surge[0].theme_id]
