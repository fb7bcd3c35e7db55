"""Reports → triage → recluster (fired as its schedule would) → triage assigns to the new themes."""

from __future__ import annotations

import csv
import hashlib
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from riskradar.adapters.s3 import EmbeddingShardStore, ThemeSnapshotStore, compacted_sequence
from riskradar.local import LocalStack
from tests.helpers import drain

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")
TOPICS = ("lost_or_stolen_card", "card_arrival", "exchange_rate", "top_up_failed")


def banking77(per_topic: int) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    with (ROOT / "data" / "banking77" / "train.csv").open(encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if row["category"] in texts and len(texts[row["category"]]) < per_topic:
                texts[row["category"]].append(row["text"])
    return texts


def report(text: str, *, minutes_ago: int, number: int | None = None) -> dict[str, Any]:
    # A report id from its content (and `number`, else its time): the recluster job orders its
    # window by report id, so random ids would make every run cluster the same reports in a
    # different order (another result).
    digest = hashlib.sha256(f"{text}|{minutes_ago if number is None else number}".encode()).hexdigest()[:16]
    return {
        "report_id": f"rc-{digest}",
        "business": "payments",
        "reporter": {"id": f"user-{uuid.uuid4().hex[:8]}", "role": "user"},
        "text": text,
        "created_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
    }


def post(api_url: str, reports: list[dict[str, Any]]) -> None:
    for start in range(0, len(reports), 100):
        response = requests.post(
            f"{api_url}/v1/reports/batch", json={"reports": reports[start : start + 100]}, timeout=60
        )
        assert response.status_code == 202, response.text


def signals(stack: LocalStack) -> list[dict[str, Any]]:
    return [s for queue in SIGNAL_QUEUES for s in drain(stack, queue)]


def test_recluster_publishes_themes_that_triage_then_assigns_to(isolated_stack: LocalStack) -> None:
    # Theme counts and purity depend on everything in the window: this test's reports only.
    stack, api_url = isolated_stack, isolated_stack.api_url
    for queue in ("IntakeQueue", *SIGNAL_QUEUES, "AlertsQueue"):
        drain(stack, queue)
    topics = banking77(per_topic=60)
    # Spread over the last three days: the days that are over arrive as several shards each.
    history = [
        report(text, minutes_ago=30 + 90 * i, number=30 + i)
        for texts in topics.values()
        for i, text in enumerate(texts[:50])
    ]
    post(api_url, history)
    stack.run_until_idle(timeout_s=300)
    signals(stack)

    summary = stack.fire_schedule("ReclusterFunction")

    snapshots = ThemeSnapshotStore(stack.client("s3"), stack.physical_id("ArtifactsBucket"), dimension=384)
    snapshot = snapshots.current()
    assert summary["snapshot_version"] == snapshot.version >= 1
    assert len(snapshot.themes) >= len(TOPICS) - 1
    assert all(theme.keywords and theme.examples for theme in snapshot.themes)
    members = snapshots.current_members()
    assert sum(len(ids) for ids in members.values()) + summary["left_out"] == summary["reports"]

    # The run compacted the days that are over into one object each (on moto server, over HTTP).
    shards = EmbeddingShardStore(stack.client("s3"), stack.physical_id("ArtifactsBucket"))
    assert summary["compacted_days"], summary
    for day in summary["compacted_days"]:
        keys = shards.keys_for_day(date.fromisoformat(day))
        assert sum(compacted_sequence(key) is not None for key in keys) == 1, keys

    # A second run over the same window (read from the compacted days) keeps every theme id, and
    # records the themes as continued.
    again = stack.fire_schedule("ReclusterFunction")
    rerun = snapshots.current()
    assert again["snapshot_version"] == snapshot.version + 1
    assert (again["reports"], again["compacted_days"]) == (summary["reports"], [])
    assert {t.theme_id for t in rerun.themes} == {t.theme_id for t in snapshot.themes}
    assert all(t.lineage is not None and t.lineage.event == "continued" for t in rerun.themes)

    # New reports of the topics, not seen by the recluster run, go to the topics' themes.
    fresh = [report(text, minutes_ago=1) for texts in topics.values() for text in texts[50:]]
    topic_of = {
        r["report_id"]: topic
        for r, topic in zip(fresh, [t for t in TOPICS for _ in topics[t][50:]], strict=True)
    }
    post(api_url, fresh)
    stack.run_until_idle(timeout_s=300)
    themed = [s for s in signals(stack) if s["report_id"] in topic_of]
    assert len(themed) == len(fresh)
    assigned = [s for s in themed if s["theme_id"] is not None]
    assert len(assigned) >= 0.7 * len(fresh)
    # Themes are pure: each theme's fresh reports come mostly from one topic, and every topic has
    # a theme of its own (a topic may legitimately split, e.g. "lost" vs "stolen" cards).
    topics_by_theme: dict[str, Counter[str]] = {}
    for signal in assigned:
        topics_by_theme.setdefault(signal["theme_id"], Counter())[topic_of[signal["report_id"]]] += 1
    for theme_id, counts in topics_by_theme.items():
        assert counts.most_common(1)[0][1] >= 0.8 * sum(counts.values()), (theme_id, counts)
    dominant = {counts.most_common(1)[0][0] for counts in topics_by_theme.values()}
    assert dominant == set(TOPICS)
