"""The recluster handler against moto (`mock_aws`): S3 shards in, snapshot + alerts out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest

from riskradar.adapters.s3 import (
    SNAPSHOT_POINTER_KEY,
    EmbeddingShard,
    EmbeddingShardStore,
    JsonStateStore,
    ThemeSnapshotStore,
)
from riskradar.adapters.strategist import StrategistStore
from riskradar.digest import Digest
from riskradar.models import ThemeAlert
from riskradar.online_detection import OnlineState
from riskradar.strategist.models import AuditAction, AuditEntry, ThemeCuration, Verdict
from riskradar.theme_stats import ThemeStats
from riskradar.themes import normalize_rows
from tests.helpers import ROOT, MockedFunction, drain_url, mocked_function

DIMENSION = 384
STEADY = ("card never arrived in the post", "exchange rate on my transfer was wrong", "top up failed again")
SURGE = "someone called pretending to be support and asked for my card verification code"


@pytest.fixture(scope="module")
def recluster() -> Iterator[MockedFunction]:
    with mocked_function("ReclusterFunction", function_dir="recluster") as function:
        yield function


def write_history(function: MockedFunction, now: datetime) -> dict[str, str]:
    """Three steady themes over ten days, and one that appears only in the last day, in a surge.
    Returns the topic of every report id."""
    rng = np.random.default_rng(7)
    centres = normalize_rows(rng.normal(size=(len(STEADY) + 1, DIMENSION)))
    store = EmbeddingShardStore(boto3.client("s3"), function.stack.physical_id("ArtifactsBucket"))
    topic_of: dict[str, str] = {}
    for day in range(10, -1, -1):
        rows: list[tuple[str, str, int]] = [
            (text, f"steady{t}", t) for t, text in enumerate(STEADY) for _ in range(12)
        ]
        if day == 0:
            rows += [(SURGE, "surge", len(STEADY))] * 40
        moment = now - timedelta(days=day, hours=1)
        ids = tuple(f"d{day}-{i}" for i in range(len(rows)))
        vectors = normalize_rows(
            centres[[r[2] for r in rows]] + 0.03 * rng.normal(size=(len(rows), DIMENSION))
        )
        store.write(
            EmbeddingShard(
                day=moment.date(),
                report_ids=ids,
                theme_ids=("",) * len(rows),
                created_at=np.full(len(rows), moment.timestamp()),
                vectors=vectors,
                texts=tuple(r[0] for r in rows),
            )
        )
        topic_of.update({report_id: row[1] for report_id, row in zip(ids, rows, strict=True)})
    return topic_of


def write_online_alert(function: MockedFunction, report_ids: list[str], at: datetime) -> str:
    """The online detector's state in S3 (where NoveltyFunction keeps it), holding one provisional
    theme alerted on at `at` with these reports; returns its provisional id."""
    state = OnlineState.fresh("all", 1_000)
    centroid = normalize_rows(np.ones((1, DIMENSION)))[0].astype(np.float32)
    provisional_id = state.provisional.name(centroid, "online-alert-1", members=report_ids, at=at)
    key = os.environ["NOVELTY_STATE_KEY"]  # the function's template environment
    store = JsonStateStore(boto3.client("s3"), function.stack.physical_id("ArtifactsBucket"), key)
    stored = store.load()
    store.save(state.to_document(), replacing=stored.etag if stored else None)
    return provisional_id


def summary_time(manifest: dict[str, Any]) -> str:
    """The run's time, as the manifest records it."""
    return str(manifest["created_at"])


def scheduled_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "recluster_scheduled.json").read_text())
    return event


def test_scheduled_run_publishes_a_snapshot_and_alerts_on_the_surge(recluster: MockedFunction) -> None:
    now = datetime.now(UTC)
    topic_of = write_history(recluster, now)
    s3 = boto3.client("s3")
    bucket = recluster.stack.physical_id("ArtifactsBucket")
    # Between runs the online detector alerted on the surge: 12 of its reports and a steady one.
    surge_ids = [report_id for report_id, topic in topic_of.items() if topic == "surge"]
    steady_id = next(report_id for report_id, topic in topic_of.items() if topic == "steady0")
    alerted_at = now - timedelta(minutes=40)
    provisional_id = write_online_alert(recluster, [*surge_ids[:12], steady_id], alerted_at)

    summary = recluster.invoke(scheduled_event(), timeout_s=900)

    assert summary["snapshot_version"] == 1
    assert summary["reports"] == len(topic_of)
    snapshots = ThemeSnapshotStore(s3, bucket, dimension=DIMENSION)
    snapshot = snapshots.current()
    assert len(snapshot.themes) == len(STEADY) + 1
    members = snapshots.current_members()
    by_theme = {theme.theme_id: {topic_of[r] for r in members[theme.theme_id]} for theme in snapshot.themes}
    assert all(len(topics) == 1 for topics in by_theme.values()), by_theme
    surge_theme = next(t for t in snapshot.themes if by_theme[t.theme_id] == {"surge"})
    assert surge_theme.emerging
    assert not any(t.emerging for t in snapshot.themes if t is not surge_theme)
    assert "verification" in surge_theme.keywords or "code" in surge_theme.keywords
    assert surge_theme.examples[0] == SURGE

    alerts = [
        ThemeAlert.model_validate(body)
        for body in drain_url(boto3.client("sqs"), recluster.stack.physical_id("AlertsQueue"))
    ]
    assert [alert.theme_id for alert in alerts] == [surge_theme.theme_id]
    assert alerts[0].observed >= 40 > alerts[0].expected
    # The online alert's provisional id is tied to the theme it became, in the snapshot and the alert.
    assert [
        (p.provisional_id, p.first_alerted_at, p.shared_reports) for p in surge_theme.online_precursors
    ] == [(provisional_id, alerted_at, 12)]
    assert not any(t.online_precursors for t in snapshot.themes if t is not surge_theme)
    assert alerts[0].provisional_theme_ids == [provisional_id]

    # The pointer is written last: it names a manifest whose objects all exist.
    pointer = json.loads(s3.get_object(Bucket=bucket, Key=SNAPSHOT_POINTER_KEY)["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=pointer["manifest_key"])["Body"].read())
    for key in (manifest["centroids_key"], manifest["members_key"], *manifest["documents"].values()):
        s3.head_object(Bucket=bucket, Key=key)

    # The run's digest is out, the emerging surge first.
    assert summary["digest"] is not None
    digest = Digest.model_validate_json(
        s3.get_object(Bucket=bucket, Key=summary["digest"]["json"])["Body"].read()
    )
    assert digest.snapshot_version == 1
    assert digest.themes[0].theme_id == surge_theme.theme_id
    assert [c.provisional_id for c in digest.themes[0].caught_online_as] == [provisional_id]
    html = s3.get_object(Bucket=bucket, Key=summary["digest"]["html"])["Body"].read().decode()
    assert html.startswith("<!DOCTYPE html>") or html.lower().startswith("<!doctype html>")
    assert f"Caught online first, as <code>{provisional_id}</code>, 40 minutes ago" in html

    # Per-theme activity is published with the snapshot: the surge is all on the last day.
    raw = snapshots.current_document("stats")
    assert raw is not None
    stats = ThemeStats.model_validate_json(raw)
    assert stats.snapshot_version == 1
    surge = stats.theme(surge_theme.theme_id)
    assert surge is not None
    assert surge.reports == 40
    # All 40 on the surge's day (an hour before the run: yesterday when the run is just after midnight).
    surge_day = stats.days.index((now - timedelta(hours=1)).date())
    assert surge.daily(len(stats.days))[surge_day] == 40
    assert sum(stats.volume_daily()) == len(topic_of)
    # Shards written without report facts count as unknown business and role.
    assert stats.businesses == ("unknown",)
    detail = surge_theme.emerging_detail
    assert detail is not None
    assert detail.recent_reports >= 40
    assert detail.since == datetime.fromisoformat(summary_time(manifest))


def test_a_rerun_keeps_theme_ids_and_does_not_alert_again(recluster: MockedFunction) -> None:
    s3 = boto3.client("s3")
    snapshots = ThemeSnapshotStore(s3, recluster.stack.physical_id("ArtifactsBucket"), dimension=DIMENSION)
    before = {theme.theme_id for theme in snapshots.current().themes}

    summary = recluster.invoke(scheduled_event(), timeout_s=900)

    assert summary["snapshot_version"] == 2
    after = snapshots.current()
    assert {theme.theme_id for theme in after.themes} == before
    # Still emerging: the detail keeps the time of first detection (run 1), not this run's.
    emerging = [theme for theme in after.themes if theme.emerging]
    assert len(emerging) == 1
    assert emerging[0].emerging_detail is not None
    assert emerging[0].emerging_detail.since < after.created_at
    assert all(theme.lineage is None or theme.lineage.event == "continued" for theme in after.themes)
    assert drain_url(boto3.client("sqs"), recluster.stack.physical_id("AlertsQueue")) == []
    # The online alert the surge was caught as stays with it, once.
    assert [
        [p.provisional_id for p in theme.online_precursors]
        for theme in after.themes
        if theme.online_precursors
    ] == [[p.provisional_id for p in emerging[0].online_precursors]]
    assert len(emerging[0].online_precursors) == 1


def test_a_strategists_verdict_and_name_reach_the_next_snapshot(recluster: MockedFunction) -> None:
    s3 = boto3.client("s3")
    snapshots = ThemeSnapshotStore(s3, recluster.stack.physical_id("ArtifactsBucket"), dimension=DIMENSION)
    judged = next(theme for theme in snapshots.current().themes if not theme.emerging)
    store = StrategistStore(
        boto3.client("dynamodb"),
        curation_table=recluster.stack.physical_id("ThemeCurationTable"),
        interventions_table=recluster.stack.physical_id("InterventionsTable"),
        audit_table=recluster.stack.physical_id("AuditTable"),
    )
    now = datetime.now(UTC)
    record = ThemeCuration(
        theme_id=judged.theme_id,
        verdict=Verdict.FRAUD,
        name="Cards that never arrive",
        updated_by="alice",
        updated_at=now,
    )
    store.save_curation(
        [record],
        AuditEntry(
            audit_id="a1",
            at=now,
            actor="alice",
            action=AuditAction.VERDICT,
            target_type="theme",
            target_id=judged.theme_id,
        ),
    )

    recluster.invoke(scheduled_event(), timeout_s=900)

    after = snapshots.current().theme(judged.theme_id)
    assert after is not None
    assert after.verdict == "fraud"
    assert after.label == "Cards that never arrive"
    assert after.named_by_strategist


def test_a_strategists_merge_makes_one_theme_under_the_targets_id(recluster: MockedFunction) -> None:
    s3 = boto3.client("s3")
    snapshots = ThemeSnapshotStore(s3, recluster.stack.physical_id("ArtifactsBucket"), dimension=DIMENSION)
    before = snapshots.current()
    members = snapshots.current_members()
    source, target = [theme.theme_id for theme in before.themes if not theme.emerging][:2]
    store = StrategistStore(
        boto3.client("dynamodb"),
        curation_table=recluster.stack.physical_id("ThemeCurationTable"),
        interventions_table=recluster.stack.physical_id("InterventionsTable"),
        audit_table=recluster.stack.physical_id("AuditTable"),
    )
    now = datetime.now(UTC)
    current = {theme_id: store.curation(theme_id) for theme_id in (source, target)}
    records = [
        ThemeCuration(theme_id=source, merged_into=target, updated_by="alice", updated_at=now)
        if current[source] is None
        else current[source].model_copy(
            update={"merged_into": target, "revision": current[source].revision + 1}
        ),
        ThemeCuration(theme_id=target, absorbed=(source,), updated_by="alice", updated_at=now)
        if current[target] is None
        else current[target].model_copy(
            update={"absorbed": (source,), "revision": current[target].revision + 1}
        ),
    ]
    store.save_curation(
        records,
        AuditEntry(
            audit_id="m1",
            at=now,
            actor="alice",
            action=AuditAction.MERGE,
            target_type="theme",
            target_id=source,
        ),
    )

    recluster.invoke(scheduled_event(), timeout_s=900)

    after = snapshots.current()
    assert len(after.themes) == len(before.themes) - 1
    assert after.theme(source) is None
    assert after.theme(target) is not None
    merged_members = set(snapshots.current_members()[target])
    assert set(members[source]) | set(members[target]) <= merged_members
    # And it holds on the run after: the clustering keeps finding two groups, the merge keeps one.
    recluster.invoke(scheduled_event(), timeout_s=900)
    again = snapshots.current()
    assert again.theme(source) is None
    assert set(members[source]) | set(members[target]) <= set(snapshots.current_members()[target])
