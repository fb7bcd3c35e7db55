"""The recluster use case: the recent window of reports in, a new versioned theme snapshot out.

One run: read the window's embedding shards from S3 in bulk (deduplicated by report id: a
redelivered batch may have written a report twice; a day with a compacted shard is read from it,
riskradar.shard_compaction), cluster them (riskradar.clustering), give each
cluster its theme identity (riskradar.theme_identity: ids, names and verdicts survive reruns),
label it (riskradar.theme_labels), score how surprising each theme's recent volume is
(riskradar.emerging), tie the online detector's provisional themes to the themes they became
(riskradar.theme_identity.link_online_precursors), publish the snapshot (objects first, pointer
last), alert on themes that have just become emerging, and compact the days read from many shards.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt

from riskradar.adapters.s3 import (
    DigestRef,
    EmbeddingShard,
    EmbeddingShardStore,
    ReportFacts,
    ThemeSnapshotStore,
)
from riskradar.clustering import LEFT_OUT, ClusterResult, cluster_embeddings, merge_clusters
from riskradar.emerging import EmergingScore, count_by_bucket, score_emerging
from riskradar.models import ThemeAlert
from riskradar.shard_compaction import (
    CompactedDay,
    DayShards,
    days_to_compact,
    latest_copies,
    merge_day,
    read_day,
)
from riskradar.strategist.curation import apply_curation, merge_groups
from riskradar.strategist.digests import DigestPublisher
from riskradar.strategist.models import ThemeCuration
from riskradar.theme_identity import (
    AlertedTheme,
    carry_online_precursors,
    link_online_precursors,
    match_themes,
)
from riskradar.theme_labels import label_themes
from riskradar.theme_stats import ThemeStats, compute_theme_stats
from riskradar.themes import (
    ClusteringState,
    EmergingDetail,
    OnlinePrecursor,
    ThemeInfo,
    ThemeSnapshot,
    Vectors,
)

logger = logging.getLogger(__name__)

#: Emerging is judged on daily buckets: a day is long enough to hold a theme's usual volume.
BUCKET = timedelta(days=1)
#: A day is sealed (compacted as a whole, once) when it has been over this long: triage writes a
#: report's shard seconds to minutes after it is created; anything later is read as it is.
COMPACTION_SETTLE = timedelta(hours=1)
#: Compacting a day of ~30k reports takes about a second and a few hundred MB; a minute is plenty.
COMPACTION_TIME_NEEDED_MS = 60_000
#: Days compacted by one run at most (their shards stay in memory until the end of the run).
COMPACTION_DAYS_PER_RUN = 3


class WarmStartSource(Protocol):
    def current_window(self) -> set[str]: ...

    def current_clustering_state(self) -> ClusteringState | None: ...


def cluster_warm(
    report_ids: Sequence[str], vectors: Vectors, snapshots: WarmStartSource, *, seed: int
) -> ClusterResult:
    """Cluster a window warm-started from what the current snapshot's run left (its clustering
    state). New reports are those that run did not have at all: a report it saw and left out is
    not new, or an unchanged window would grow "new" themes out of last run's noise."""
    seen_before = snapshots.current_window()
    return cluster_embeddings(
        vectors,
        seed=seed,
        previous=_readable_state(snapshots),
        new_rows=np.array([report_id not in seen_before for report_id in report_ids], dtype=bool),
    )


def _readable_state(snapshots: WarmStartSource) -> ClusteringState | None:
    """The previous run's clustering state, or None (a cold start) when it cannot be read: a corrupt
    object, or one a newer release wrote before a rollback. The warm start only keeps clusters from
    flipping between runs (theme ids are matched by `riskradar.theme_identity` either way), so an
    unreadable state must not stop every run until someone deletes it."""
    try:
        return snapshots.current_clustering_state()
    except ValueError as error:
        logger.warning("The clustering state cannot be read; this run starts cold: %s", error)
        return None


def _emerging_detail(
    score: EmergingScore, previous: ThemeInfo | None, now: datetime, window_days: int
) -> EmergingDetail | None:
    """The detail of an emerging theme; `since` carries over while the theme stays emerging."""
    if not score.is_emerging:
        return None
    carried = previous.emerging_detail.since if previous and previous.emerging_detail else None
    buckets = max(1, int(np.ceil(window_days * 86_400 / BUCKET.total_seconds())))
    window_start = now - BUCKET * (buckets - score.since)
    return EmergingDetail(
        since=carried or now,
        surprise=round(min(score.score, 1e6), 3),
        recent_reports=score.observed,
        expected_reports=round(score.expected, 3),
        window_start=window_start,
    )


class MessageQueue(Protocol):
    def send(self, body: str, *, attributes: dict[str, str] | None = None) -> str: ...


class CurationReader(Protocol):
    def all_curation(self) -> dict[str, ThemeCuration]: ...


class ProvisionalThemeSource(Protocol):
    def provisional_themes(self) -> Sequence[AlertedTheme]: ...


@dataclass(frozen=True)
class ReportWindow:
    """The reports of one window, one row each (deduplicated by report id)."""

    report_ids: tuple[str, ...]
    texts: tuple[str, ...]
    times: npt.NDArray[np.float64]
    vectors: Vectors
    facts: ReportFacts

    def __len__(self) -> int:
        return len(self.report_ids)


@dataclass(frozen=True)
class Compaction:
    """What a run compacted (riskradar.shard_compaction)."""

    compacted: tuple[CompactedDay, ...] = ()
    #: Days whose compacted shard could not be written (logged; the next run tries again).
    failed: tuple[date, ...] = ()
    #: Days compacted whose superseded compacted shards could not be deleted (logged; only storage,
    #: until the day is compacted again).
    undeleted: tuple[date, ...] = ()


@dataclass(frozen=True)
class ReclusterResult:
    version: int
    reports: int
    themes: int
    left_out: int
    emerging: tuple[str, ...]
    alerts: tuple[ThemeAlert, ...]
    #: Where the run's digest was stored (None: no publisher configured, or it failed — see the log).
    digest: DigestRef | None = None
    #: Days this run wrote as one compacted shard each, and those it failed to.
    compaction: Compaction = Compaction()


def read_days(shards: EmbeddingShardStore, *, start: datetime, end: datetime) -> list[DayShards]:
    """Every object of the days from `start` to `end` (compacted shards first, skipping what they
    replace: riskradar.shard_compaction)."""
    first, last = start.date(), end.date()
    return [
        read_day(day, shards.keys_for_day(day), shards)
        for day in (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    ]


def window_from(days: Sequence[DayShards], *, start: datetime, end: datetime) -> ReportWindow:
    """The reports created from `start` to `end`, each once (the copy read last), by report id."""

    def inside(shard: EmbeddingShard) -> npt.NDArray[np.bool_]:
        return (shard.created_at >= start.timestamp()) & (shard.created_at <= end.timestamp())

    latest = latest_copies([shard for day in days for _, shard in day.read], day=end.date(), keep=inside)
    if not latest.report_ids:
        return ReportWindow((), (), np.zeros(0), np.zeros((0, 0), dtype=np.float32), ReportFacts.unknown(0))
    # By report id: the clustering's result depends on the order of its input.
    order = sorted(range(len(latest.report_ids)), key=latest.report_ids.__getitem__)
    facts = latest.facts or ReportFacts.unknown(len(order))
    return ReportWindow(
        report_ids=tuple(latest.report_ids[row] for row in order),
        texts=tuple(latest.texts[row] for row in order),
        times=latest.created_at[order],
        vectors=latest.vectors[order],
        facts=facts.take(order),
    )


@dataclass
class ReclusterService:
    shards: EmbeddingShardStore
    snapshots: ThemeSnapshotStore
    alerts: MessageQueue
    window_days: int
    clock: Callable[[], datetime]
    seed: int = 0
    #: The strategist's records (verdicts, names, merges); None: no strategist side deployed.
    curation: CurationReader | None = None
    #: Publishes the digest of each new snapshot; None: no digests.
    digests: DigestPublisher | None = None
    #: The online detector's provisional themes; None: no online detection deployed.
    provisional: ProvisionalThemeSource | None = None

    def run(self, *, time_left_ms: Callable[[], int] | None = None) -> ReclusterResult:
        """One run. `time_left_ms`: the invocation's remaining time (Lambda's context), so that the
        compaction at its end stops in time; None: no limit."""
        now = self.clock()
        start = now - timedelta(days=self.window_days)
        days = read_days(self.shards, start=start, end=now)
        window = window_from(days, start=start, end=now)
        closed_before = (now - COMPACTION_SETTLE).date()
        # Only the days compacted this run stay in memory through the clustering: a few at a time,
        # so that catching up (a first deployment, an outage) cannot exhaust the memory.
        due = days_to_compact(
            days,
            # The window's first day is partly outside it: it is left as it is.
            first_full_day=start.date() + timedelta(days=1),
            closed_before=closed_before,
            today=now.date(),
        )[:COMPACTION_DAYS_PER_RUN]
        del days
        # Verdicts, names and merges travel with theme ids: apply them to what this run carries on.
        curation = self.curation.all_curation() if self.curation else {}
        previous, previous_members = apply_curation(
            self.snapshots.current(), self.snapshots.current_members(), curation
        )
        version = previous.version + 1
        if len(window) == 0:
            return ReclusterResult(previous.version, 0, len(previous.themes), 0, (), ())

        clusters = cluster_warm(window.report_ids, window.vectors, self.snapshots, seed=self.seed)
        cluster_rows = [np.flatnonzero(clusters.labels == c) for c in range(clusters.n_clusters)]
        members = [[window.report_ids[row] for row in rows] for rows in cluster_rows]
        # A strategist's merge holds in every later run: the clusters of a merged theme's reports
        # become one (the clustering keeps finding them apart, as they were before the merge).
        together = merge_groups(members, previous_members, curation)
        if together:
            clusters = merge_clusters(window.vectors, clusters, together)
            cluster_rows = [np.flatnonzero(clusters.labels == c) for c in range(clusters.n_clusters)]
            members = [[window.report_ids[row] for row in rows] for rows in cluster_rows]
        identity = match_themes(
            previous,
            previous_members,
            clusters.centroids,
            members,
            version=version,
            now=now,
            seed=str(self.seed),
        )
        precursors = link_online_precursors(
            identity.theme_ids,
            members,
            window.report_ids,
            self.provisional.provisional_themes() if self.provisional else (),
        )
        before = {theme.theme_id: theme for theme in (*previous.themes, *previous.dormant)}
        labels = label_themes(window.texts, window.vectors, clusters.labels, clusters.centroids)
        scores = self._emerging(window, clusters.labels, identity.theme_ids, now)
        # The usual hourly rate is over the time the window actually covers (a young deployment
        # has less history than the window).
        covered_s = now.timestamp() - float(window.times.min())
        window_hours = max(1.0, min(self.window_days * 86_400.0, covered_s) / 3600)
        was_emerging = {theme.theme_id: theme for theme in previous.themes if theme.emerging}
        themes = tuple(
            cluster.theme_info(
                label=labels[c].label,
                keywords=labels[c].terms,
                examples=labels[c].examples,
                threshold=float(clusters.thresholds[c]),
                emerging=scores[cluster.theme_id].is_emerging,
                baseline_hourly_rate=int(clusters.sizes[c]) / window_hours,
                size=int(clusters.sizes[c]),
            ).model_copy(
                update={
                    "emerging_detail": _emerging_detail(
                        scores[cluster.theme_id], was_emerging.get(cluster.theme_id), now, self.window_days
                    ),
                    "online_precursors": carry_online_precursors(
                        cluster.theme_id, cluster.lineage, before, precursors
                    ),
                }
            )
            for c, cluster in enumerate(identity.clusters)
        )
        snapshot = ThemeSnapshot(version, now, themes, clusters.centroids, dormant=identity.dormant)
        stats = compute_theme_stats(
            [identity.theme_ids[c] if c != LEFT_OUT else None for c in clusters.labels.tolist()],
            window.times,
            window.facts,
            theme_ids=identity.theme_ids,
            end=now,
            window_days=self.window_days,
            snapshot_version=version,
        )
        alerts = tuple(
            self._alert(theme, scores, version, now, precursors.get(theme.theme_id, ()))
            for theme in themes
            if theme.emerging and theme.theme_id not in was_emerging
        )
        # Alerts go out before the snapshot that records the themes as emerging: a run that fails
        # in between leaves the previous snapshot current, so the next run alerts again (at least
        # once; a continued theme's alert keeps its id). The other order lost an alert for good.
        for alert in alerts:
            self.alerts.send(alert.model_dump_json(), attributes={"theme_id": alert.theme_id})
        self.snapshots.publish(
            snapshot,
            members=dict(zip(identity.theme_ids, members, strict=True)),
            left_out=[window.report_ids[row] for row in np.flatnonzero(clusters.labels == LEFT_OUT)],
            documents={"stats": stats.model_dump_json().encode()},
            clustering_state=clusters.state,
        )
        return ReclusterResult(
            version=version,
            reports=len(window),
            themes=len(themes),
            left_out=clusters.n_left_out,
            emerging=tuple(theme.theme_id for theme in themes if theme.emerging),
            alerts=alerts,
            digest=self._digest(snapshot, stats),
            compaction=self._compact(due, closed_before, time_left_ms),
        )

    def _compact(
        self, due: Sequence[DayShards], closed_before: date, time_left_ms: Callable[[], int] | None
    ) -> Compaction:
        """Write each day in `due` as one compacted shard, for the next runs, and delete the compacted
        shards it supersedes. The snapshot is out already: a day that fails is logged, counted and
        left for the next run (its objects stay readable as they are), and so are the days there is
        no time left for; a superseded shard that cannot be deleted is only storage."""
        compacted: list[CompactedDay] = []
        failed: list[date] = []
        undeleted: list[date] = []
        for index, day in enumerate(due):
            if time_left_ms is not None and time_left_ms() < COMPACTION_TIME_NEEDED_MS:
                logger.warning("no time left to compact %d day(s); the next run will", len(due) - index)
                break
            try:
                merged = merge_day(day, sealed=day.day < closed_before)
                key = self.shards.write_compacted(merged, day.last_sequence + 1)
            except Exception:
                logger.exception("the shards of %s could not be compacted", day.day.isoformat())
                failed.append(day.day)
                continue
            compacted.append(CompactedDay(day.day, key, len(merged.report_ids), len(day.read) - 1))
            try:
                # Those listed only: deleting a key again would leave a delete marker each time.
                self.shards.delete_compacted(day.compacted_keys)
            except Exception:
                logger.exception("superseded compacted shards of %s stay", day.day.isoformat())
                undeleted.append(day.day)
        return Compaction(tuple(compacted), tuple(failed), tuple(undeleted))

    def _digest(self, snapshot: ThemeSnapshot, stats: ThemeStats) -> DigestRef | None:
        """Publish the run's digest. The snapshot and alerts are out already: a digest that fails is
        logged and left for the next run or an on-demand request, never a reason to redo the run."""
        if self.digests is None:
            return None
        try:
            _, reference = self.digests.publish(snapshot, stats)
        except Exception:
            logger.exception("the digest of snapshot v%d could not be published", snapshot.version)
            return None
        return reference

    def _emerging(
        self,
        window: ReportWindow,
        cluster_of: npt.NDArray[np.int64],
        theme_ids: tuple[str, ...],
        now: datetime,
    ) -> dict[str, EmergingScore]:
        theme_of_report = [theme_ids[c] if c != LEFT_OUT else None for c in cluster_of]
        bucket_s = BUCKET.total_seconds()
        buckets = max(1, int(np.ceil(self.window_days * 86_400 / bucket_s)))
        start = now.timestamp() - buckets * bucket_s
        counted_ids, counts, totals = count_by_bucket(
            theme_of_report, window.times, start=start, bucket_length=bucket_s, buckets=buckets
        )
        scores = {score.theme_id: score for score in score_emerging(counted_ids, counts, totals)}
        return {
            theme_id: scores.get(theme_id, EmergingScore(theme_id, 0.0, 0, 0.0, False, 0))
            for theme_id in theme_ids
        }

    @staticmethod
    def _alert(
        theme: ThemeInfo,
        scores: dict[str, EmergingScore],
        version: int,
        now: datetime,
        caught_online: Sequence[OnlinePrecursor],
    ) -> ThemeAlert:
        """`caught_online`: the online alerts tied to the theme in this run (those of an earlier
        emerging episode, still in `theme.online_precursors`, are not about this one)."""
        score = scores[theme.theme_id]
        alert_id = hashlib.sha256(f"{theme.theme_id}:{version}".encode()).hexdigest()[:16]
        return ThemeAlert(
            alert_id=alert_id,
            source="batch",
            theme_id=theme.theme_id,
            theme_label=theme.label,
            keywords=list(theme.keywords),
            examples=list(theme.examples),
            surprise=round(score.score, 3),
            observed=score.observed,
            expected=round(score.expected, 3),
            size=theme.size,
            snapshot_version=version,
            detected_at=now.astimezone(UTC),
            provisional_theme_ids=[precursor.provisional_id for precursor in caught_online],
        )
