"""Reports over HTTP → triage → NoveltyQueue (FIFO) → NoveltyFunction → an online alert on AlertsQueue
for a burst of a brand-new topic, between scheduled reclusters (none runs here)."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from riskradar.local import LocalStack
from riskradar.models import ThemeAlert
from riskradar.novelty import NoveltyConfig
from riskradar.online_detection import PROVISIONAL_PREFIX
from tests.helpers import drain

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")
#: Everyday banking questions: the background the detector learns. It judges a region only once
#: `min_history_reports` (1,000) reports came before the window, so the new topic starts after those.
BACKGROUND_INTENTS = (
    "card_arrival",
    "transfer_fee_charged",
    "cash_withdrawal_charge",
    "top_up_failed",
    "pending_transfer",
    "declined_card_payment",
    "change_pin",
    "balance_not_updated_after_bank_transfer",
    "card_payment_fee_charged",
)
BACKGROUND_PER_INTENT = 120
LEARNING_REPORTS = NoveltyConfig().min_history_reports + 40
#: A scam none of the background is about.
NEW_TOPIC = (
    "A courier called and said I must pay a customs fee in gift cards before they deliver my parcel.",
    "The delivery man wants customs charges paid with gift card codes or he returns my package.",
    "Got a text from a courier asking for an import duty payment using gift cards.",
    "Someone claiming to be from the courier asked me to buy gift cards to release my parcel from customs.",
    "Courier says my package is held at customs until I send gift card numbers.",
    "I was told to pay the customs fee for my delivery with iTunes gift cards.",
    "A fake courier demanded gift cards to cover customs duty on my order.",
    "The parcel company asked for customs payment in Google Play gift cards, is this a scam?",
    "Courier on the phone wants me to read out gift card codes to pay customs for my parcel.",
    "My package is stuck at customs and the courier only accepts gift cards as payment.",
    "Received a call: pay customs with gift cards or the courier sends the parcel back.",
    "Delivery driver insisted on gift card payment for a customs charge before handing over my box.",
    "Courier texted that customs needs a fee paid by gift card before my parcel can be delivered.",
    "They want me to pay my parcel's customs duty by sending photos of gift cards to the courier.",
    "The courier refuses to deliver unless I pay customs with Amazon gift cards.",
    "A man saying he is the courier asked for gift card codes to clear my package through customs.",
)


def background_texts() -> list[str]:
    texts: dict[str, list[str]] = {intent: [] for intent in BACKGROUND_INTENTS}
    with (ROOT / "data" / "banking77" / "train.csv").open(encoding="utf-8") as source:
        for row in csv.DictReader(source):
            bucket = texts.get(row["category"])
            if bucket is not None and len(bucket) < BACKGROUND_PER_INTENT:
                bucket.append(row["text"])
    # Interleaved, as reports of different kinds arrive.
    return [texts[intent][i] for i in range(BACKGROUND_PER_INTENT) for intent in BACKGROUND_INTENTS]


class Reporter:
    """Posts reports with increasing creation times, as they would be filed.

    They are dated before the recluster window (30 days): the stack is shared by the session, and
    the recluster test clusters the window it finds. The detector minds only their order."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.clock = datetime.now(UTC) - timedelta(days=45)

    def post(self, texts: list[str]) -> list[str]:
        reports = []
        for text in texts:
            self.clock += timedelta(seconds=10)
            reports.append(
                {
                    "report_id": f"on-{uuid.uuid4()}",
                    "business": "payments",
                    "reporter": {"id": f"user-{uuid.uuid4().hex[:8]}", "role": "user"},
                    "text": text,
                    "created_at": self.clock.isoformat(),
                }
            )
        for start in range(0, len(reports), 100):
            response = requests.post(
                f"{self.api_url}/v1/reports/batch", json={"reports": reports[start : start + 100]}, timeout=60
            )
            assert response.status_code == 202, response.text
        return [report["report_id"] for report in reports]


def online_alerts(stack: LocalStack) -> list[ThemeAlert]:
    return [
        ThemeAlert.model_validate({k: v for k, v in body.items() if k != "_attributes"})
        for body in drain(stack, "AlertsQueue")
        if body.get("source") == "online"
    ]


def detector_position(stack: LocalStack) -> int:
    bucket = stack.physical_id("ArtifactsBucket")
    body = stack.client("s3").get_object(Bucket=bucket, Key="novelty/state.json")["Body"].read()
    return int(json.loads(body)["detector"]["position"])


def test_a_burst_of_a_brand_new_topic_is_alerted_online(stack: LocalStack, api_url: str) -> None:
    for queue in ("IntakeQueue", *SIGNAL_QUEUES, "AlertsQueue"):
        drain(stack, queue)
    reporter = Reporter(api_url)
    background = background_texts()

    posted = reporter.post(background[:LEARNING_REPORTS])
    stack.run_until_idle(timeout_s=600)
    for queue in SIGNAL_QUEUES:
        drain(stack, queue)
    online_alerts(stack)  # whatever the background raised is not what this test is about
    position = detector_position(stack)

    # Then reports arrive in small batches, a fifth of them about the new scam.
    new_topic_sent = 0
    found: list[ThemeAlert] = []
    rest = iter(background[LEARNING_REPORTS:])
    for new_text_index in range(0, len(NEW_TOPIC), 4):
        texts = [next(rest) for _ in range(16)] + list(NEW_TOPIC[new_text_index : new_text_index + 4])
        posted += reporter.post(texts)
        new_topic_sent += 4
        stack.run_until_idle(timeout_s=300)
        found = [
            alert
            for alert in online_alerts(stack)
            if alert.theme_id.startswith(PROVISIONAL_PREFIX) and set(alert.examples) <= set(NEW_TOPIC)
        ]
        if found:
            break

    # Within the 16 reports of the new topic (among 64 others), with no recluster in between.
    assert found, "no online alert for the new topic"
    alert = found[0]
    assert alert.observed >= 5
    assert alert.observed > alert.expected
    assert {"customs", "gift", "courier", "gift cards", "gift card"} & set(alert.keywords)
    # Every report triaged since the background was observed once.
    assert detector_position(stack) == position + (len(posted) - LEARNING_REPORTS)
    assert stack.queue_depth("NoveltyQueue") == stack.queue_depth("NoveltyDeadLetterQueue") == 0
