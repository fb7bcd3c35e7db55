"""Intake → queue → triage → signal queues, end to end on the local stack with the real model."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import requests

from riskradar.adapters.s3 import EmbeddingShardStore, ThemeSnapshotStore
from riskradar.local import LocalStack
from riskradar.themes import ThemeInfo, ThemeSnapshot, normalize_rows
from tests.helpers import drain, stored_report

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SIGNAL_SCHEMA = json.loads((ROOT / "schemas" / "signal.v1.json").read_text())
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")
CARD_THEFT = [
    "Someone stole my card and made payments I did not authorise.",
    "My wallet was stolen yesterday and there are purchases on my card I never made.",
    "There are card payments in another country, my card must have been stolen.",
    "I lost my card and now I see transactions I don't recognise.",
]
NOT_SHIPPED = [
    "Paid the seller two weeks ago and the parcel never arrived.",
    "Seller took my money and never shipped the phone.",
    "Order marked as sent but nothing was delivered and the seller ignores me.",
]


def a_report(text: str, *, reporter: str, seller: str = "seller-9", **overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "report_id": f"tri-{uuid.uuid4()}",
        "business": "shop",
        "reporter": {"id": reporter, "role": "user"},
        "subject": {"type": "seller", "id": seller},
        "text": text,
        "created_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }
    report.update(overrides)
    return report


@pytest.fixture
def quiet_queues(stack: LocalStack) -> None:
    for logical_id in ("IntakeQueue", "IntakeDeadLetterQueue", *SIGNAL_QUEUES):
        drain(stack, logical_id)


def post_batch(api_url: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
    response = requests.post(f"{api_url}/v1/reports/batch", json={"reports": reports}, timeout=30)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def signals_by_queue(stack: LocalStack) -> dict[str, list[dict[str, Any]]]:
    return {queue: drain(stack, queue) for queue in SIGNAL_QUEUES}


@pytest.mark.usefixtures("quiet_queues")
def test_reports_become_signals_once_and_poison_goes_to_the_dlq(stack: LocalStack, api_url: str) -> None:
    reports = [a_report(t, reporter=f"user-{i}") for i, t in enumerate(CARD_THEFT + NOT_SHIPPED)]
    post_batch(api_url, reports)
    sqs = stack.client("sqs")
    intake_url = stack.physical_id("IntakeQueue")
    sqs.send_message(QueueUrl=intake_url, MessageBody="not json at all")
    sqs.send_message(
        QueueUrl=intake_url, MessageBody=json.dumps({"schema_version": "1", "report_id": "half"})
    )

    stack.run_until_idle(timeout_s=180)

    signals = signals_by_queue(stack)
    all_signals = [s for queue in signals.values() for s in queue]
    assert Counter(s["report_id"] for s in all_signals) == Counter(r["report_id"] for r in reports)
    for queue, queued in signals.items():
        for signal in queued:
            jsonschema.validate({k: v for k, v in signal.items() if k != "_attributes"}, SIGNAL_SCHEMA)
            assert queue.lower().startswith(f"signal{signal['priority']}")
            assert signal["reasons"], "every signal explains its score"
    for report in reports:
        record = stored_report(stack, report["report_id"])
        assert record is not None
        assert record["text"] == report["text"]
        signal = next(s for s in all_signals if s["report_id"] == report["report_id"])
        assert record["theme_id"] == (signal["theme_id"] or "novelty")
        assert 0 <= int(record["score"]) <= 100
    # Seven distinct reporters against seller-9 by the end of the batch.
    assert any(r["factor"] == "distinct_reporters" for s in all_signals for r in s["reasons"])

    dead = drain(stack, "IntakeDeadLetterQueue")
    assert len(dead) == 2
    assert stored_report(stack, "half") is None

    shards = EmbeddingShardStore(stack.client("s3"), stack.physical_id("ArtifactsBucket"))
    today = datetime.now(UTC).date()
    shard_ids = [
        rid
        for key in shards.keys_for_days([today, today - timedelta(days=1)])
        for rid in shards.read(key).report_ids
    ]
    assert set(r["report_id"] for r in reports) <= set(shard_ids)


@pytest.mark.usefixtures("quiet_queues")
def test_redelivered_reports_produce_no_second_signal_or_record(stack: LocalStack, api_url: str) -> None:
    reports = [a_report(t, reporter=f"dup-{i}") for i, t in enumerate(NOT_SHIPPED)]
    post_batch(api_url, reports)
    queued = drain(stack, "IntakeQueue")
    sqs = stack.client("sqs")
    intake_url = stack.physical_id("IntakeQueue")
    for message in queued + queued:  # every message delivered twice, as SQS may
        body = {k: v for k, v in message.items() if k != "_attributes"}
        sqs.send_message(QueueUrl=intake_url, MessageBody=json.dumps(body))
    stack.run_until_idle(timeout_s=120)
    first = [s["report_id"] for queue in signals_by_queue(stack).values() for s in queue]
    assert sorted(first) == sorted(r["report_id"] for r in reports)

    for message in queued:  # and once more, later
        body = {k: v for k, v in message.items() if k != "_attributes"}
        sqs.send_message(QueueUrl=intake_url, MessageBody=json.dumps(body))
    stack.run_until_idle(timeout_s=120)
    assert [s for queue in signals_by_queue(stack).values() for s in queue] == []


@pytest.mark.usefixtures("quiet_queues")
def test_reports_join_a_published_fraud_theme_and_score_higher(stack: LocalStack, api_url: str) -> None:
    embedder = stack.function("TriageFunction").module.embedder
    centroid = normalize_rows(embedder.encode(CARD_THEFT).mean(axis=0, keepdims=True))
    snapshots = ThemeSnapshotStore(
        stack.client("s3"), stack.physical_id("ArtifactsBucket"), dimension=centroid.shape[1]
    )
    theme = ThemeInfo(theme_id="thm-cards", label="stolen card payments", threshold=0.5, verdict=None)
    version = int(datetime.now(UTC).timestamp())
    snapshots.publish(ThemeSnapshot(version, datetime.now(UTC), (theme,), centroid))

    text = "My card was stolen and someone paid with it online."
    post_batch(api_url, [a_report(text, reporter="before-verdict", seller="seller-x1")])
    stack.run_until_idle(timeout_s=120)
    [before] = [s for queue in signals_by_queue(stack).values() for s in queue]
    assert before["theme_id"] == "thm-cards"
    assert before["theme_label"] == "stolen card payments"

    fraud = theme.model_copy(update={"verdict": "fraud"})
    snapshots.publish(ThemeSnapshot(version + 1, datetime.now(UTC), (fraud,), centroid))
    post_batch(api_url, [a_report(text, reporter="after-verdict", seller="seller-x2")])
    stack.run_until_idle(timeout_s=120)
    [after] = [s for queue in signals_by_queue(stack).values() for s in queue]
    assert after["theme_id"] == "thm-cards"
    assert after["score"] > before["score"]
    assert any(r["factor"] == "theme_verdict" and r["points"] > 0 for r in after["reasons"])
    assert np.isclose(np.linalg.norm(centroid), 1.0)
