"""The online detection use case with the real detector on synthetic vectors.

S3 and SQS are replaced by in-memory versions of the use case's ports (an ETag-conditional JSON
object, shards by key, a list of sent messages); the real adapters are tested against moto in
tests/integration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from riskradar.adapters.s3 import EmbeddingShard, StateConflict, StoredState
from riskradar.models import ShardNotice, ThemeAlert
from riskradar.novelty import NoveltyDetector
from riskradar.online_detection import (
    PROVISIONAL_PREFIX,
    REMEMBERED_PROVISIONAL_MEMBERS,
    BatchResult,
    Feed,
    NoticeOutcome,
    ObservedMemory,
    OnlineDetectionService,
    OnlineState,
    ProvisionalThemeReader,
    ProvisionalThemes,
    report_fingerprint,
)
from tests.novelty_stream import NEW_TOPIC_TEXTS, Stream


class MemoryStateStore:
    """The state port as S3 behaves: a JSON object with an ETag, conditional reads and writes."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.etag: str | None = None
        #: Loads that returned the document (not 304 Not Modified).
        self.bodies_served = 0
        self.fail_saves = 0

    def load(self, *, known_etag: str | None = None) -> StoredState | None:
        if self.body is None or self.etag is None:
            return None
        if known_etag == self.etag:
            return StoredState(etag=self.etag, document=None)
        self.bodies_served += 1
        return StoredState(etag=self.etag, document=json.loads(self.body))

    def save(self, document: Mapping[str, Any], *, replacing: str | None) -> str:
        if replacing != self.etag:
            raise StateConflict("changed since it was read")
        if self.fail_saves:
            self.fail_saves -= 1
            raise ConnectionError("S3 is unreachable")
        self.body = json.dumps(document).encode()
        self.etag = hashlib.md5(self.body, usedforsecurity=False).hexdigest()
        return self.etag


class SentMessages:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, body: str, *, attributes: dict[str, str] | None = None) -> str:
        self.bodies.append(body)
        return f"msg-{len(self.bodies)}"

    def alerts(self) -> list[ThemeAlert]:
        return [ThemeAlert.model_validate_json(body) for body in self.bodies]


class FixedSnapshotVersion:
    def current_version(self) -> int:
        return 3


class CountingReader:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.reads: list[str] = []

    def read(self, key: str) -> EmbeddingShard:
        self.reads.append(key)
        return self.stream.read(key)


def service_for(
    stream: Stream, store: MemoryStateStore | None = None, *, feed: Feed = "all"
) -> tuple[OnlineDetectionService, MemoryStateStore, SentMessages, CountingReader]:
    store = store or MemoryStateStore()
    alerts = SentMessages()
    reader = CountingReader(stream)
    service = OnlineDetectionService(
        state_store=store,
        shards=reader,
        alerts=alerts,
        snapshots=FixedSnapshotVersion(),
        feed=feed,
        remember_reports=5_000,
        clock=lambda: datetime(2026, 11, 24, 12, tzinfo=UTC),
    )
    return service, store, alerts, reader


def run_batch(service: OnlineDetectionService, notices: Sequence[ShardNotice]) -> BatchResult:
    with service.batch() as batch:
        for notice in notices:
            batch.observe(notice)
        return batch.commit()


def detector_position(store: MemoryStateStore) -> int:
    assert store.body is not None
    return int(json.loads(store.body)["detector"]["position"])


# -- a new theme among background --------------------------------------------------------------------


@dataclass
class Scenario:
    stream: Stream
    alerts: SentMessages
    #: Alerts per batch, in order: (new-topic reports fed so far, alerts of that batch).
    batches: list[tuple[int, tuple[ThemeAlert, ...]]]
    store: MemoryStateStore


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """1,050 background reports (past the detector's `min_history_reports`), then shards in which a tight new
    topic and a surge of known topic 3 appear, in batches of three shards of 25."""
    stream = Stream()
    service, store, alerts, _ = service_for(stream)
    batches: list[tuple[int, tuple[ThemeAlert, ...]]] = []
    fed_new = 0
    plan = [stream.background(25) for _ in range(42)]
    plan += [stream.background(20, extra=[stream.new_topic] * 5) for _ in range(8)]
    plan += [stream.background(15, extra=[3] * 10) for _ in range(6)]
    for start in range(0, len(plan), 3):
        notices = [stream.shard(topics) for topics in plan[start : start + 3]]
        fed_new += sum(topics.count(stream.new_topic) for topics in plan[start : start + 3])
        batches.append((fed_new, run_batch(service, notices).alerts))
    return Scenario(stream, alerts, batches, store)


def test_a_tight_new_group_among_background_raises_an_online_alert(scenario: Scenario) -> None:
    new_theme_alerts = [a for a in scenario.alerts.alerts() if a.theme_id.startswith(PROVISIONAL_PREFIX)]
    assert new_theme_alerts, [a.theme_id for a in scenario.alerts.alerts()]
    first = new_theme_alerts[0]
    fed_when_first = next(fed for fed, alerts in scenario.batches if first in alerts)
    # Flagged within a few dozen of the new theme's reports, not at the end of the stream.
    assert fed_when_first <= 20
    assert first.source == "online"
    assert first.observed >= 5
    assert first.expected < first.observed
    assert first.snapshot_version == 3
    assert set(first.examples) <= set(NEW_TOPIC_TEXTS)
    assert {"customs", "courier", "gift", "fee"} & set(" ".join(first.keywords).split())
    assert first.theme_label != "unlabelled theme"
    # Nothing during the background alone.
    assert all(not alerts for fed, alerts in scenario.batches if fed == 0)


def test_later_alerts_of_the_same_new_theme_keep_its_provisional_id(scenario: Scenario) -> None:
    new_theme = [a for a in scenario.alerts.alerts() if a.theme_id.startswith(PROVISIONAL_PREFIX)]
    new_theme_ids = {a.theme_id for a in new_theme}
    bursts = [a.observed for a in new_theme]
    assert len(bursts) >= 2  # the detector alerts again as the burst doubles
    assert len(new_theme_ids) == 1
    assert len({a.alert_id for a in scenario.alerts.alerts()}) == len(scenario.alerts.alerts())


def test_a_surge_of_a_known_theme_is_named_by_that_theme(scenario: Scenario) -> None:
    known = [a for a in scenario.alerts.alerts() if not a.theme_id.startswith(PROVISIONAL_PREFIX)]
    assert known
    assert {a.theme_id for a in known} == {"thm-03"}
    assert "coupon" in known[0].keywords or "expired" in known[0].keywords


def test_a_provisional_theme_keeps_the_reports_of_its_alerts_for_the_recluster_job(
    scenario: Scenario,
) -> None:
    new_theme = [a for a in scenario.alerts.alerts() if a.theme_id.startswith(PROVISIONAL_PREFIX)]
    provisional = ProvisionalThemeReader(scenario.store).provisional_themes()

    assert [theme.theme_id for theme in provisional] == [new_theme[0].theme_id]
    kept = provisional[0]
    assert kept.first_alerted_at == datetime(2026, 11, 24, 12, tzinfo=UTC)
    # Every alert's burst, once each: at least the largest burst's reports.
    assert len(kept.members) == len(set(kept.members)) >= max(a.observed for a in new_theme)
    topics = [scenario.stream.topic_of[report_id] for report_id in kept.members]
    assert topics.count(scenario.stream.new_topic) / len(topics) > 0.8


def test_a_state_written_before_provisional_members_were_kept_still_reads(scenario: Scenario) -> None:
    assert scenario.store.body is not None
    document = json.loads(scenario.store.body)
    del document["provisional_themes"]["first_alerted_at"], document["provisional_themes"]["members"]
    older = MemoryStateStore()
    older.save(document, replacing=None)

    provisional = ProvisionalThemeReader(older).provisional_themes()

    assert len(provisional) == 1
    assert provisional[0].first_alerted_at is None
    assert provisional[0].members == ()
    state, reason = OnlineState.from_document(document, feed="all", remember_reports=5_000)
    assert reason is None
    assert state.provisional.ids == [provisional[0].theme_id]


def test_the_recluster_jobs_reader_finds_nothing_in_a_missing_or_foreign_state() -> None:
    assert ProvisionalThemeReader(MemoryStateStore()).provisional_themes() == []
    foreign = MemoryStateStore()
    foreign.save({"format": 99, "provisional_themes": {}}, replacing=None)
    assert ProvisionalThemeReader(foreign).provisional_themes() == []
    broken = MemoryStateStore()
    broken.save({"format": 1, "provisional_themes": {"ids": ["new-x"]}}, replacing=None)
    assert ProvisionalThemeReader(broken).provisional_themes() == []


def test_a_provisional_theme_keeps_its_newest_alerts_reports_when_it_trims() -> None:
    themes = ProvisionalThemes()
    centroid = np.eye(4, dtype=np.float32)[0]
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)
    first = [f"r{i:03d}" for i in range(REMEMBERED_PROVISIONAL_MEMBERS)]
    theme_id = themes.name(centroid, "alert-1", members=first, at=at)
    # A later alert of the same theme: one report seen before, and new ones.
    again = themes.name(centroid, "alert-2", members=["r000", "n1", "n2"], at=at)

    assert again == theme_id
    kept = themes.themes()[0].members
    assert len(kept) == REMEMBERED_PROVISIONAL_MEMBERS
    assert kept[-3:] == ("r000", "n1", "n2")
    assert "r001" not in kept
    assert "r002" not in kept


class RefusingStateStore(MemoryStateStore):
    def load(self, *, known_etag: str | None = None) -> StoredState | None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject")


def test_the_recluster_jobs_reader_links_nothing_when_s3_refuses_or_a_time_has_no_zone() -> None:
    assert ProvisionalThemeReader(RefusingStateStore()).provisional_themes() == []
    naive = MemoryStateStore()
    themes = ProvisionalThemes()
    themes.name(
        np.eye(4, dtype=np.float32)[0], "a", members=["r1"], at=datetime(2026, 11, 24, 12, tzinfo=UTC)
    )
    document = themes.to_document()
    document["first_alerted_at"] = ["2026-11-24T12:00:00"]
    naive.save({"format": 1, "provisional_themes": document}, replacing=None)
    assert ProvisionalThemeReader(naive).provisional_themes() == []


# -- idempotency -----------------------------------------------------------------------------------------


def test_a_redelivered_shard_is_not_observed_twice() -> None:
    stream = Stream()
    first, second, third = (stream.shard(stream.background(20)) for _ in range(3))
    service, store, _, reader = service_for(stream)
    run_batch(service, [first, second])

    with service.batch() as batch:
        outcomes = [batch.observe(second), batch.observe(third)]
        result = batch.commit()

    assert outcomes == [NoticeOutcome.ALREADY_OBSERVED, NoticeOutcome.OBSERVED]
    assert (result.shards_skipped, result.shards_observed, result.reports_observed) == (1, 1, 20)
    assert reader.reads == [first.shard_key, second.shard_key, third.shard_key]
    # The same state as a detector that saw each shard once.
    once, once_store, _, _ = service_for(stream)
    run_batch(once, [first, second, third])
    assert once_store.body is not None
    assert store.body is not None
    assert json.loads(store.body)["detector"] == json.loads(once_store.body)["detector"]


def test_a_report_written_to_a_second_shard_is_observed_once() -> None:
    stream = Stream()
    original = stream.shard(stream.background(20))
    service, store, _, _ = service_for(stream)
    run_batch(service, [original])
    # A retried triage batch writes its reports again, in a new shard, with new reports beside them.
    again = stream.shards[original.shard_key]
    fresh = stream.shard(stream.background(5))
    mixed_key = "embeddings/dt=2026-11-24/retried.npz"
    stream.shards[mixed_key] = EmbeddingShard(
        day=again.day,
        report_ids=again.report_ids + stream.shards[fresh.shard_key].report_ids,
        theme_ids=again.theme_ids + stream.shards[fresh.shard_key].theme_ids,
        created_at=np.concatenate([again.created_at, stream.shards[fresh.shard_key].created_at]),
        vectors=np.concatenate([again.vectors, stream.shards[fresh.shard_key].vectors]),
        texts=again.texts + stream.shards[fresh.shard_key].texts,
    )

    notice = original.model_copy(update={"shard_key": mixed_key, "reports": 25})
    result = run_batch(service, [notice])

    assert (result.reports_observed, result.reports_repeated) == (5, 20)
    assert detector_position(store) == 25


def test_alerts_go_out_before_the_state_is_saved_and_a_retry_repeats_them_with_the_same_ids(
    scenario: Scenario,
) -> None:
    """A crash between the alerts and the save: the batch comes back, is observed again from the
    saved state, and raises the same alerts under the same ids (a consumer drops the repeat)."""
    stream = Stream()
    plan = [stream.background(25) for _ in range(42)] + [stream.background(15, extra=[stream.new_topic] * 10)]
    notices = [stream.shard(topics) for topics in plan]
    service, store, alerts, _ = service_for(stream)
    run_batch(service, notices[:-1])
    saved_position = detector_position(store)

    store.fail_saves = 1
    with pytest.raises(ConnectionError):
        run_batch(service, notices[-1:])
    sent_before_the_crash = alerts.alerts()
    assert sent_before_the_crash
    assert detector_position(store) == saved_position

    retried = run_batch(service, notices[-1:])

    assert [a.alert_id for a in retried.alerts] == [a.alert_id for a in sent_before_the_crash]
    assert [a.theme_id for a in retried.alerts] == [a.theme_id for a in sent_before_the_crash]
    assert detector_position(store) == saved_position + 25


# -- state ----------------------------------------------------------------------------------------------


def test_the_state_round_trips_and_a_restored_detector_carries_on_identically(scenario: Scenario) -> None:
    assert scenario.store.body is not None
    document = json.loads(scenario.store.body)
    state, reset = OnlineState.from_document(document, feed="all", remember_reports=5_000)
    assert reset is None
    assert json.loads(json.dumps(state.to_document())) == document

    # Two services over copies of the same saved state see the same next shards alike.
    follow_up = [scenario.stream.shard(scenario.stream.background(15, extra=[2] * 10)) for _ in range(3)]
    results = []
    for _ in range(2):
        copy = MemoryStateStore()
        copy.body, copy.etag = scenario.store.body, scenario.store.etag
        service, _, sent, _ = service_for(scenario.stream, copy)
        run_batch(service, follow_up)
        results.append((copy.body, [a.alert_id for a in sent.alerts()]))
    assert results[0] == results[1]


def test_a_warm_container_does_not_download_the_state_it_saved() -> None:
    stream = Stream()
    service, store, _, _ = service_for(stream)
    for _ in range(3):
        run_batch(service, [stream.shard(stream.background(10))])
    assert store.bodies_served == 0
    assert detector_position(store) == 30

    # Another writer replaced it: the next batch reads the new one.
    other, _, _, _ = service_for(stream, store)
    run_batch(other, [stream.shard(stream.background(10))])
    assert store.bodies_served == 1
    run_batch(service, [stream.shard(stream.background(10))])
    assert store.bodies_served == 2
    assert detector_position(store) == 50


def test_a_batch_that_failed_to_save_does_not_leave_its_changes_in_the_warm_state() -> None:
    stream = Stream()
    service, store, _, _ = service_for(stream)
    run_batch(service, [stream.shard(stream.background(10))])
    lost = stream.shard(stream.background(10))
    store.fail_saves = 1
    with pytest.raises(ConnectionError):
        run_batch(service, [lost])

    run_batch(service, [stream.shard(stream.background(10))])

    # The failed batch's reports are not in the state (they come back with their redelivery).
    assert detector_position(store) == 20


def test_a_detector_that_raised_part_way_through_a_shard_is_not_reused_warm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The detector raised after remembering part of the batch's first shard: that in-memory state
    is never saved, nor kept for the redelivery (which would observe those reports twice)."""
    stream = Stream()
    service, store, _, _ = service_for(stream)
    run_batch(service, [stream.shard(stream.background(50))])
    second = stream.shard(stream.background(50))
    remember = NoveltyDetector._remember
    calls = 0

    def fail_on_the_21st(detector: NoveltyDetector, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 21:
            raise MemoryError("out of memory part-way")
        return remember(detector, *args)

    with monkeypatch.context() as patch:
        patch.setattr(NoveltyDetector, "_remember", fail_on_the_21st)
        with pytest.raises(MemoryError):
            run_batch(service, [second])

    run_batch(service, [second])  # the redelivery
    assert detector_position(store) == 100


def test_two_writers_never_overwrite_each_other() -> None:
    stream = Stream()
    store = MemoryStateStore()
    first, _, _, _ = service_for(stream, store)
    second, _, _, _ = service_for(stream, store)
    run_batch(first, [stream.shard(stream.background(10))])
    with first.batch() as slow:
        slow.observe(stream.shard(stream.background(10)))
        run_batch(second, [stream.shard(stream.background(10))])
        with pytest.raises(StateConflict):
            slow.commit()
    assert detector_position(store) == 20


def test_a_feed_change_starts_a_fresh_state() -> None:
    stream = Stream()
    service, store, _, _ = service_for(stream, feed="all")
    run_batch(service, [stream.shard(stream.background(10))])

    pool, _, _, _ = service_for(stream, store, feed="pool")
    with pool.batch() as batch:
        reason = batch.reset_reason
        batch.observe(stream.shard(stream.background(10), pool_known=True))
        batch.commit()

    assert reason is not None
    assert "fed 'all' reports" in reason
    assert detector_position(store) == 10


def test_an_unreadable_detector_state_restarts_the_detector_but_keeps_the_observed_shards() -> None:
    stream = Stream()
    notice = stream.shard(stream.background(10))
    service, store, _, _ = service_for(stream)
    run_batch(service, [notice])
    assert store.body is not None
    document = json.loads(store.body)
    document["detector"]["version"] = -1  # as if riskradar.novelty changed its encoding
    store.body = json.dumps(document).encode()
    store.etag = "replaced-by-an-older-deployment"

    restarted, _, _, _ = service_for(stream, store)
    with restarted.batch() as batch:
        reason = batch.reset_reason
        outcome = batch.observe(notice)
        batch.observe(stream.shard(stream.background(10)))
        batch.commit()

    assert reason is not None
    assert "detector" in reason
    assert outcome is NoticeOutcome.ALREADY_OBSERVED
    assert detector_position(store) == 10


# -- feed "pool" ----------------------------------------------------------------------------------------


def test_feed_pool_observes_only_the_novelty_pool_and_skips_shards_without_any() -> None:
    stream = Stream()
    themed_only = stream.shard(stream.background(10))
    mixed = stream.shard(stream.background(10, extra=[stream.new_topic] * 4))
    service, store, _, reader = service_for(stream, feed="pool")

    with service.batch() as batch:
        outcomes = [batch.observe(themed_only), batch.observe(mixed)]
        result = batch.commit()

    assert outcomes == [NoticeOutcome.NOTHING_TO_OBSERVE, NoticeOutcome.OBSERVED]
    assert reader.reads == [mixed.shard_key]
    assert result.reports_observed == 4
    assert detector_position(store) == 4
    # A batch with nothing to observe writes nothing.
    etag = store.etag
    with service.batch() as batch:
        assert batch.observe(themed_only) is NoticeOutcome.NOTHING_TO_OBSERVE
        assert not batch.commit().saved
    assert store.etag == etag
    assert reader.reads == [mixed.shard_key]


def test_the_memory_of_observed_reports_is_bounded_and_forgets_the_oldest_first() -> None:
    memory = ObservedMemory(capacity_reports=1_000)
    for shard in range(30):
        memory.add(f"shard-{shard}", [report_fingerprint(f"r-{shard}-{i}") for i in range(100)])

    document = memory.to_document()
    assert sum(document["report_counts"]) == 1_000
    assert document["shard_keys"] == [f"shard-{shard}" for shard in range(20, 30)]
    assert memory.shard_of("r-19-5") is None
    assert memory.shard_of("r-29-5") == "shard-29"
    assert "shard-19" not in memory
    assert "shard-20" in memory
    restored = ObservedMemory.from_document(document, capacity_reports=1_000)
    assert restored.to_document() == document
    assert restored.shard_of("r-25-99") == "shard-25"
