"""Daily shard compaction through the recluster handler against moto (`mock_aws`): a day that is over
is written as one compacted shard, later runs read it instead of its shards and see the same
window, and a shard arriving for a compacted day is read and folded in. The tests run in order on
one mocked stack (one bucket)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from riskradar.adapters.s3 import EmbeddingShard, EmbeddingShardStore, ReportFacts, ThemeSnapshotStore
from riskradar.recluster import (
    COMPACTION_DAYS_PER_RUN,
    COMPACTION_SETTLE,
    ReportWindow,
    read_days,
    window_from,
)
from riskradar.shard_compaction import RECOMPACT_AFTER, compacted_sequence
from tests.helpers import ROOT, MockedFunction, mocked_function

DIMENSION = 384
DAYS = 6  # of history, each written as several triage batches
TOPICS = 3
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def recluster() -> Iterator[MockedFunction]:
    with mocked_function("ReclusterFunction", function_dir="recluster") as function:
        yield function


def store(function: MockedFunction) -> EmbeddingShardStore:
    return EmbeddingShardStore(boto3.client("s3"), function.stack.physical_id("ArtifactsBucket"))


def write_batch(function: MockedFunction, name: str, moment: datetime, rows: int, seed: int) -> str:
    """One triage shard of `rows` reports `name`-0, `name`-1, … on three topics; its key."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(TOPICS, DIMENSION))
    topics = np.arange(rows) % TOPICS
    vectors = centres[topics] + 0.05 * rng.normal(size=(rows, DIMENSION))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = tuple(f"{name}-{i}" for i in range(rows))
    return store(function).write(
        EmbeddingShard(
            day=moment.date(),
            report_ids=ids,
            theme_ids=("",) * rows,
            created_at=np.full(rows, moment.timestamp()),
            vectors=vectors.astype(np.float32),
            texts=tuple(f"report about topic {t}" for t in topics),
            facts=ReportFacts(
                businesses=("shop",) * rows,
                reporter_roles=("user",) * rows,
                reporter_hashes=tuple(f"r{i}" for i in range(rows)),
                subject_types=("",) * rows,
                subject_hashes=("",) * rows,
                amounts_usd=np.full(rows, 10.0),
            ),
        )
    )


def scheduled() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "recluster_scheduled.json").read_text())
    return event


def run(function: MockedFunction) -> dict[str, Any]:
    summary: dict[str, Any] = function.invoke(scheduled(), timeout_s=900)
    return summary


def run_with(function: MockedFunction, store_class: type[EmbeddingShardStore]) -> dict[str, Any]:
    """One run whose shard store is `store_class` (a store that fails somewhere, as S3 could)."""
    service = function.module.service
    shards = service.shards
    service.shards = store_class(boto3.client("s3"), function.stack.physical_id("ArtifactsBucket"))
    try:
        return run(function)
    finally:
        service.shards = shards


def window_now(function: MockedFunction) -> tuple[ReportWindow, list[str]]:
    """The recluster window as a run now would read it, and the keys it read."""
    shards = store(function)
    reads: list[str] = []

    class Recording(EmbeddingShardStore):
        def read(self, key: str) -> EmbeddingShard:
            reads.append(key)
            return shards.read(key)

    recording = Recording(boto3.client("s3"), function.stack.physical_id("ArtifactsBucket"))
    now = datetime.now(UTC)
    start = now - timedelta(days=30)
    return window_from(read_days(recording, start=start, end=now), start=start, end=now), reads


def keys_of(function: MockedFunction, day: date) -> list[str]:
    return store(function).keys_for_day(day)


def same_window(a: ReportWindow, b: ReportWindow) -> None:
    assert a.report_ids == b.report_ids
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.times, b.times)
    assert a.texts == b.texts
    assert a.facts.businesses == b.facts.businesses
    assert a.facts.reporter_hashes == b.facts.reporter_hashes
    np.testing.assert_array_equal(a.facts.amounts_usd, b.facts.amounts_usd)


def history_days() -> list[date]:
    return sorted({(NOW - timedelta(days=d, hours=2)).date() for d in range(DAYS + 1)})


def closed_days() -> list[date]:
    closed_before = (datetime.now(UTC) - COMPACTION_SETTLE).date()
    return [day for day in history_days() if day < closed_before]


def late_batches(function: MockedFunction, day: date, count: int, *, name: str) -> list[str]:
    """`count` shards of one new report each, created on `day` and written now (redriven batches)."""
    moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    return [write_batch(function, f"{name}{i}", moment, rows=1, seed=1000 + i) for i in range(count)]


def test_days_that_are_over_become_one_compacted_shard_each(recluster: MockedFunction) -> None:
    for d in range(DAYS + 1):
        moment = NOW - timedelta(days=d, hours=2)
        for batch in range(3):
            write_batch(recluster, f"d{d}b{batch}", moment, rows=30, seed=100 * d + batch)
        if d == 3:  # a redelivered batch: the same reports written twice
            write_batch(recluster, f"d{d}b0", moment, rows=30, seed=300)
    before, reads_before = window_now(recluster)
    assert len(before) == (DAYS + 1) * 3 * 30
    assert len(reads_before) == (DAYS + 1) * 3 + 1

    # A first deployment onto existing history catches up a few days a run, oldest first.
    compacted: list[str] = []
    first = run(recluster)
    runs = [first]
    while runs[-1]["compacted_days"]:
        assert len(runs[-1]["compacted_days"]) <= COMPACTION_DAYS_PER_RUN
        compacted += runs[-1]["compacted_days"]
        runs.append(run(recluster))
    assert len(runs) == -(-len(closed_days()) // COMPACTION_DAYS_PER_RUN) + 1

    assert {summary["reports"] for summary in runs} == {len(before)}
    assert compacted == [d.isoformat() for d in closed_days()]
    assert first["compaction_failed"] == []
    for day in closed_days():
        keys = keys_of(recluster, day)
        assert [compacted_sequence(key) for key in keys].count(1) == 1
        assert store(recluster).read(next(k for k in keys if compacted_sequence(k))).sealed
        assert sum(compacted_sequence(key) is None for key in keys) == (4 if day == history_days()[-4] else 3)
    after, reads_after = window_now(recluster)
    same_window(after, before)
    # One object for each day that is over, the shards of the rest.
    open_days = len(history_days()) - len(closed_days())
    assert len(reads_after) == len(closed_days()) + 3 * open_days


def test_a_rerun_reads_the_compacted_days_and_compacts_nothing_more(recluster: MockedFunction) -> None:
    snapshots = ThemeSnapshotStore(
        boto3.client("s3"), recluster.stack.physical_id("ArtifactsBucket"), dimension=DIMENSION
    )
    themes_before = {theme.theme_id for theme in snapshots.current().themes}

    second = run(recluster)

    assert second["reports"] == (DAYS + 1) * 3 * 30
    assert second["compacted_days"] == []
    assert {theme.theme_id for theme in snapshots.current().themes} == themes_before


def test_shards_arriving_for_a_compacted_day_are_read_then_folded_in(recluster: MockedFunction) -> None:
    # Versioned, as template.yaml makes the bucket (moto's CloudFormation leaves that out).
    boto3.client("s3").put_bucket_versioning(
        Bucket=recluster.stack.physical_id("ArtifactsBucket"), VersioningConfiguration={"Status": "Enabled"}
    )
    late_day = closed_days()[0]
    days_ago = next(d for d in range(DAYS + 1) if (NOW - timedelta(days=d, hours=2)).date() == late_day)
    moment = datetime.combine(late_day, datetime.min.time(), UTC) + timedelta(hours=12)
    # Redriven batches: new reports, and a later copy of one the compacted shard holds.
    late_keys = [
        write_batch(recluster, f"d{days_ago}b1", moment, rows=1, seed=6),
        *late_batches(recluster, late_day, 2, name="late"),
    ]
    later_copy = store(recluster).read(late_keys[0]).vectors[0]
    window, reads = window_now(recluster)
    assert set(late_keys) <= set(reads)
    assert len(window) == (DAYS + 1) * 3 * 30 + 2
    np.testing.assert_array_equal(window.vectors[window.report_ids.index(f"d{days_ago}b1-0")], later_copy)

    # A few late shards are read as they are: the day is not rewritten for each.
    assert run(recluster)["compacted_days"] == []
    late_keys += late_batches(recluster, late_day, RECOMPACT_AFTER - len(late_keys), name="later")
    window, _ = window_now(recluster)

    again = run(recluster)

    assert again["reports"] == len(window)
    assert again["compacted_days"] == [late_day.isoformat()]
    # The new compacted shard replaces the old one, which is deleted.
    sequences = sorted(s for s in map(compacted_sequence, keys_of(recluster, late_day)) if s is not None)
    assert sequences == [2]
    # ... once: deleting a key again would leave a delete marker each time in the versioned bucket.
    versions = boto3.client("s3").list_object_versions(
        Bucket=recluster.stack.physical_id("ArtifactsBucket"), Prefix=f"embeddings/dt={late_day.isoformat()}/"
    )
    markers = Counter(marker["Key"] for marker in versions.get("DeleteMarkers", []))
    assert list(markers.values()) == [1], markers
    now, reads = window_now(recluster)
    same_window(now, window)
    assert not set(late_keys) & set(reads)
    assert sum(key.split("/")[1] == f"dt={late_day.isoformat()}" for key in reads) == 1

    # Once more: the third compacted shard replaces both earlier ones, and only the second (the one
    # listed) is deleted now.
    late_batches(recluster, late_day, RECOMPACT_AFTER + 1, name="latest")
    assert run(recluster)["compacted_days"] == [late_day.isoformat()]
    versions = boto3.client("s3").list_object_versions(
        Bucket=recluster.stack.physical_id("ArtifactsBucket"), Prefix=f"embeddings/dt={late_day.isoformat()}/"
    )
    markers = Counter(marker["Key"] for marker in versions.get("DeleteMarkers", []))
    assert sorted(map(compacted_sequence, markers)) == [1, 2]
    assert set(markers.values()) == {1}, markers


def test_a_compaction_without_time_or_refused_leaves_the_run_published_and_the_day_for_later(
    recluster: MockedFunction,
) -> None:
    day = closed_days()[1]
    late_batches(recluster, day, RECOMPACT_AFTER, name="redriven")
    snapshots = ThemeSnapshotStore(
        boto3.client("s3"), recluster.stack.physical_id("ArtifactsBucket"), dimension=DIMENSION
    )
    version = snapshots.current().version

    # An invocation with under a minute left when the snapshot is out compacts nothing.
    short = recluster.invoke(scheduled(), timeout_s=30)
    assert (short["snapshot_version"], short["compacted_days"], short["compaction_failed"]) == (
        version + 1,
        [],
        [],
    )

    # S3 refuses the write (as a missing grant would): the run still publishes, the day is reported.
    class Refusing(EmbeddingShardStore):
        def write_compacted(self, shard: EmbeddingShard, sequence: int) -> str:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "PutObject")

    refused = run_with(recluster, Refusing)
    assert refused["snapshot_version"] == version + 2
    assert refused["compaction_failed"] == [day.isoformat()]
    assert refused["compacted_days"] == []
    assert snapshots.current().version == version + 2

    # The write goes through, the deletion of the compacted shard it supersedes does not: the run
    # says so, and the next compaction of the day deletes it.
    class NotDeleting(EmbeddingShardStore):
        def delete_compacted(self, keys: Sequence[str]) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "DeleteObjects")

    retried = run_with(recluster, NotDeleting)
    assert retried["compacted_days"] == [day.isoformat()]
    assert (retried["compaction_failed"], retried["compaction_undeleted"]) == ([], [day.isoformat()])
    assert sorted(s for s in map(compacted_sequence, keys_of(recluster, day)) if s) == [1, 2]
    _, reads = window_now(recluster)
    assert sum(key.split("/")[1] == f"dt={day.isoformat()}" for key in reads) == 1  # the newest only


def test_the_current_day_is_compacted_once_enough_shards_gathered_and_sealed_when_over(
    recluster: MockedFunction,
) -> None:
    today = datetime.now(UTC).date()
    late_batches(recluster, today, RECOMPACT_AFTER + 1, name="today")

    summary = run(recluster)

    assert today.isoformat() in summary["compacted_days"]
    (key,) = [k for k in keys_of(recluster, today) if compacted_sequence(k)]
    assert not store(recluster).read(key).sealed

    # A day compacted while it still grew (here: written so by hand) is sealed once it is over, as
    # soon as one more object is read for it; the compacted shards it replaces are deleted.
    day = closed_days()[2]
    shards = store(recluster)
    sealed_key = next(k for k in keys_of(recluster, day) if compacted_sequence(k))
    before = shards.read(sealed_key)
    unsealed = shards.write_compacted(
        replace(before, sealed=False, replaces=(sealed_key, *before.replaces)), 2
    )
    (late,) = late_batches(recluster, day, 1, name="one-more")
    window, _ = window_now(recluster)

    sealed = run(recluster)

    assert day.isoformat() in sealed["compacted_days"]
    (newest,) = [k for k in keys_of(recluster, day) if compacted_sequence(k)]
    assert compacted_sequence(newest) == 3
    assert shards.read(newest).sealed
    assert {sealed_key, unsealed, late} <= set(shards.read(newest).replaces)
    again, reads = window_now(recluster)
    same_window(again, window)
    assert sum(k.split("/")[1] == f"dt={day.isoformat()}" for k in reads) == 1


def test_a_day_just_over_waits_for_the_settle_time_then_is_sealed(recluster: MockedFunction) -> None:
    # Runs at 00:30 and 01:30 after a day that was compacted while it still grew.
    day = closed_days()[4]
    shards = store(recluster)
    newest = max((k for k in keys_of(recluster, day) if compacted_sequence(k)), key=compacted_sequence)
    before = shards.read(newest)
    shards.write_compacted(
        replace(before, sealed=False, replaces=(newest, *before.replaces)), compacted_sequence(newest) + 1
    )
    late_batches(recluster, day, RECOMPACT_AFTER + 1, name="last-hour")
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    service = recluster.module.service
    clock = service.clock
    try:
        service.clock = lambda: midnight + timedelta(minutes=30)
        assert day.isoformat() not in run(recluster)["compacted_days"]
        service.clock = lambda: midnight + timedelta(minutes=90)
        assert day.isoformat() in run(recluster)["compacted_days"]
    finally:
        service.clock = clock
    (key,) = [k for k in keys_of(recluster, day) if compacted_sequence(k)]
    assert shards.read(key).sealed
