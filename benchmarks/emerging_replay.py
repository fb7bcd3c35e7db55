"""Emerging-theme replay: how many reports of a brand-new theme go by before someone is told?

A time-ordered replay over simulated days, built from any labelled (or unlabelled) text dataset:

1. **History** (`--history-days`, default 14): steady background traffic — Poisson daily volume
   around `--daily-volume` (400), a diurnal profile, and a label mix that drifts from day to day (a
   mean-reverting random walk of each label's log-weight, `--drift` 0.15 a day: a label's share
   wanders by ±35 %, now and then 2-3x) — from every label but one, the *held-back* label.
2. **Known themes** are clustered from the history (`riskradar.clustering.cluster_embeddings`;
   KMeans with k = sqrt(n) and a threshold at the 5th percentile of member similarity when that
   module is missing). Triage assigns every later report with `riskradar.themes.assign_to_themes`;
   what no theme takes is the novelty pool.
3. **Monitoring** (`--monitor-days`, 14): the same background and, from day `--appear-day` (10),
   the held-back label: `--first-day-reports` (2) a day, growing `--growth` (2x) a day, Poisson.

Four detectors see the same replay:

- **naive** (docs/model.md): the novelty pool, leader-clustered (cosine ≥ 0.6); an alert when a
  micro-cluster reaches 5 members with mean similarity to its centroid > 0.7.
- **online**: `riskradar.novelty.NoveltyDetector` fed *every* report, in 15-minute batches, its state
  round-tripped through `to_state` / `from_state` between batches as between Lambda invocations. It
  learns on the history first (no alerts), as it would have while running all along.
- **online, pool only**: the same detector fed only the novelty pool.
- **batch**: the recluster job as deployed (`riskradar.recluster.ReclusterService`): a run every
  `--batch-period-hours` (1, the template's `ReclusterSchedule`) clusters the last `--window-days`
  (30, `ReclusterWindowDays`) of reports from scratch with `cluster_embeddings`, gives the clusters
  their theme ids with `match_themes`, counts each theme in `--bucket-hours` (24) buckets ending at
  the run and scores them with `score_emerging`; an alert is a theme that is emerging now and was
  not in the previous run, its members the theme's reports in its surprising window.

  A recluster of ~10k reports costs 2-4 s of one core here, ~20 s when the shared machine is busy,
  so hourly runs over all 14 monitored days (336 a scenario) are out of reach. What keeps it
  bounded, without changing what a run computes: (1) runs start on the held-back label's first day
  (`--batch-first-day`, 0 = `--appear-day`), after one uncounted run that only says which themes
  were emerging already — before that day the label cannot be detected; (2) they stop after the
  run whose alert fixes the delay; (3) every clustering is cached on disk (`--cache-dir`), keyed by
  the window's vectors, the seed, the settings and the clustering module's source, so a rerun with
  other emerging settings reclusters nothing. The batch path's false alarms are therefore counted
  over the hours it ran (about 3 days a scenario), per simulated week of those hours.

Measured per held-back label and seed: **delay** = held-back reports seen (all of them, also those
triage put in a known theme) up to the first alert whose members are mostly (> 50 %) that label;
**false alarms per week** = the other alerts during monitoring per simulated week (an alert on
the same region as an earlier one, centroid cosine ≥ 0.8, is not counted again).
Goals: median delay ≤ 15 reports, ≤ 1 false alarm per simulated week.

    .venv/bin/python benchmarks/emerging_replay.py                 # Banking77, 8 labels x 2 seeds
    .venv/bin/python benchmarks/emerging_replay.py --quick         # 4 fraud-like labels x 1 seed
    .venv/bin/python benchmarks/emerging_replay.py --history-days 7   # a detector in its first week
    .venv/bin/python benchmarks/emerging_replay.py --paths online --drift 0.3   # a busier mix
    .venv/bin/python benchmarks/emerging_replay.py reports.jsonl --text-column body \\
        --label-column theme --time-column created_at --labels a,b,c

With `--time-column` the background keeps the file's own arrival times (from its first
timestamp on; its first `--history-days` days are the history), minus the held-back label, which is
re-injected on the growth schedule. Without a label column, KMeans clusters of the whole file
(k = sqrt(n)) stand in for labels. When a label runs out of reports, its reports are reused in a
new random order (Banking77 has ~130 a label; 28 days at 400 a day reuse about one report in nine).
Vectors come from `benchmarks/embed_cache.py` (cached under benchmarks/.cache/ by file hash).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships with scikit-learn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from embed_cache import add_dataset_arguments, load_embedded, resolve_label_column

from riskradar.emerging import EmergingConfig, count_by_bucket, score_emerging
from riskradar.novelty import NoveltyConfig, NoveltyDetector
from riskradar.theme_identity import match_themes
from riskradar.themes import ThemeInfo, ThemeSnapshot, assign_to_themes

Vectors = npt.NDArray[np.float32]
Positions = npt.NDArray[np.int64]

FRAUD_LABELS = (
    "compromised_card",
    "card_payment_not_recognised",
    "cash_withdrawal_not_recognised",
    "lost_or_stolen_card",
)
DEFAULT_LABELS = (*FRAUD_LABELS, "top_up_failed", "exchange_rate", "card_arrival", "virtual_card_not_working")
PATHS = ("naive", "online", "online-pool", "batch")
GOAL_DELAY = 15
GOAL_FALSE_ALARMS_PER_WEEK = 1.0
HOURS_PER_DAY = 24.0
#: Relative traffic by hour of day: a quiet night, a busy evening.
DIURNAL = np.array(
    [
        0.3,
        0.2,
        0.2,
        0.2,
        0.3,
        0.5,
        0.8,
        1.0,
        1.2,
        1.3,
        1.3,
        1.3,
        1.3,
        1.3,
        1.2,
        1.2,
        1.3,
        1.4,
        1.5,
        1.5,
        1.4,
        1.2,
        0.9,
        0.5,
    ]
)
EPOCH = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
#: The online detectors get the stream in batches of this many hours (SQS batches are smaller).
ONLINE_BATCH_HOURS = 0.25
CLUSTER_CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "emerging_replay"
DOMINATED_SHARE = 0.5
SAME_ALERT_SIMILARITY = 0.8


@dataclass(frozen=True)
class ReplayConfig:
    history_days: int = 14
    monitor_days: int = 14
    daily_volume: float = 400.0
    #: 1-based day of the monitoring period on which the held-back label first appears.
    appear_day: int = 10
    first_day_reports: float = 2.0
    growth: float = 2.0
    #: Standard deviation of the daily change of each label's log-weight.
    drift: float = 0.15
    #: The recluster job's schedule (template.yaml `ReclusterSchedule`: rate(1 hour)).
    batch_period_hours: float = 1.0
    #: The buckets `score_emerging` compares, ending at the run (`riskradar.recluster.BUCKET`: a day).
    bucket_hours: float = 24.0
    #: The recluster window (template.yaml `ReclusterWindowDays`: 30).
    window_days: float = 30.0
    #: Monitored day from which the batch path runs (0: the held-back label's first day).
    batch_first_day: int = 0

    @property
    def history_hours(self) -> float:
        return self.history_days * HOURS_PER_DAY

    @property
    def end_hours(self) -> float:
        return (self.history_days + self.monitor_days) * HOURS_PER_DAY

    @property
    def weeks(self) -> float:
        return self.monitor_days / 7.0


@dataclass(frozen=True)
class Stream:
    """The replay, in time order: report i is dataset row rows[i], at hours[i] since the start."""

    rows: Positions
    hours: npt.NDArray[np.float64]
    held_back: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Detection:
    #: When the alert went out (hours since the start).
    hour: float
    #: Stream positions of the reports the alert shows.
    members: tuple[int, ...]
    centroid: npt.NDArray[np.float64] = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    #: Held-back reports seen up to the first alert they dominate; None: never alerted.
    delay: int | None
    false_alarms: int
    held_back_total: int
    #: Simulated weeks over which false alarms were counted.
    weeks: float

    @property
    def false_alarms_per_week(self) -> float:
        return self.false_alarms / self.weeks if self.weeks > 0 else 0.0


@dataclass(frozen=True)
class ScenarioResult:
    label: str
    seed: int
    held_back_total: int
    #: Share of the held-back reports that triage put in a known theme (the pool never sees them).
    absorbed: float
    known_themes: int
    outcomes: dict[str, Outcome]
    seconds: dict[str, float]
    #: Recluster runs the batch path made, and how many of them had to cluster (not cached).
    batch_runs: int = 0
    batch_clustered: int = 0


@dataclass(frozen=True)
class Detectors:
    novelty: NoveltyConfig
    emerging: EmergingConfig
    use_clustering_module: bool
    #: Cohesion of the batch path's reclusters (None: cluster_embeddings' default).
    batch_cohesion: float | None = None
    paths: tuple[str, ...] = PATHS
    #: Round-trip the online detector's state between batches (as between Lambda invocations);
    #: False keeps it in memory, which gives the same alerts several times faster (for sweeps).
    state_round_trip: bool = True


# -- the replay -------------------------------------------------------------------------------------


def build_stream(
    labels: npt.NDArray[np.str_],
    held_back: str,
    seed: int,
    config: ReplayConfig,
    times: npt.NDArray[np.float64] | None = None,
) -> Stream:
    """Background from every label but `held_back`, plus `held_back` on its growth schedule."""
    rng = np.random.default_rng([seed, _stable_hash(held_back)])
    held_rows = rng.permutation(np.flatnonzero(labels == held_back))
    if times is None:
        rows, hours = _simulated_background(labels, held_back, rng, config)
    else:
        rows, hours = _recorded_background(labels, held_back, times, config)
    extra_rows: list[int] = []
    extra_hours: list[float] = []
    for day in range(config.appear_day - 1, config.monitor_days):
        mean = config.first_day_reports * config.growth ** (day - config.appear_day + 1)
        start = config.history_hours + day * HOURS_PER_DAY
        for _ in range(int(rng.poisson(mean))):
            # The label's reports are reused (in the same order) only if the growth outruns them.
            extra_rows.append(int(held_rows[len(extra_rows) % len(held_rows)]))
            extra_hours.append(start + _diurnal_hour(rng))
    all_rows = np.concatenate([rows, np.array(extra_rows, dtype=np.int64)])
    all_hours = np.concatenate([hours, np.array(extra_hours)])
    held = np.concatenate([np.zeros(len(rows), bool), np.ones(len(extra_rows), bool)])
    order = np.argsort(all_hours, kind="stable")
    return Stream(all_rows[order], all_hours[order], held[order])


def _simulated_background(
    labels: npt.NDArray[np.str_], held_back: str, rng: np.random.Generator, config: ReplayConfig
) -> tuple[Positions, npt.NDArray[np.float64]]:
    names = sorted(set(labels.tolist()) - {held_back})
    pools = [rng.permutation(np.flatnonzero(labels == name)) for name in names]
    used = [0] * len(names)
    base = np.log(np.array([len(pool) for pool in pools], dtype=np.float64))
    log_weights = base.copy()
    rows: list[int] = []
    hours: list[float] = []
    for day in range(config.history_days + config.monitor_days):
        log_weights += rng.normal(0.0, config.drift, len(names))
        log_weights += 0.1 * (base - log_weights)  # mean-reverting: the mix wanders, it does not run off
        weights = np.exp(log_weights)
        for index in rng.choice(
            len(names), size=int(rng.poisson(config.daily_volume)), p=weights / weights.sum()
        ):
            if used[index] == len(pools[index]):  # every report of the label used: reuse them, reshuffled
                pools[index] = rng.permutation(pools[index])
                used[index] = 0
            rows.append(int(pools[index][used[index]]))
            used[index] += 1
            hours.append(day * HOURS_PER_DAY + _diurnal_hour(rng))
    return np.array(rows, dtype=np.int64), np.array(hours)


def _recorded_background(
    labels: npt.NDArray[np.str_], held_back: str, times: npt.NDArray[np.float64], config: ReplayConfig
) -> tuple[Positions, npt.NDArray[np.float64]]:
    """The file's own arrivals (epoch seconds) from its first one on, minus the held-back label."""
    keep = np.flatnonzero((labels != held_back) & np.isfinite(times))
    hours = (times[keep] - np.nanmin(times)) / 3600.0
    inside = hours < config.end_hours
    return keep[inside].astype(np.int64), hours[inside]


def _diurnal_hour(rng: np.random.Generator) -> float:
    return float(rng.choice(24, p=DIURNAL / DIURNAL.sum()) + rng.random())


def _stable_hash(text: str) -> int:
    return sum((i + 1) * b for i, b in enumerate(text.encode("utf-8"))) % (2**31)


# -- themes -----------------------------------------------------------------------------------------


def cluster_window(
    vectors: Vectors, seed: int, use_clustering_module: bool, cohesion: float | None = None
) -> tuple[Positions, Vectors, Vectors]:
    """(theme of each row or -1, unit centroids, thresholds) — as the recluster job would cluster."""
    if use_clustering_module:
        from riskradar.clustering import DEFAULT_CONFIG, cluster_embeddings

        config = (
            DEFAULT_CONFIG if cohesion is None else DEFAULT_CONFIG.model_copy(update={"cohesion": cohesion})
        )
        result = cluster_embeddings(vectors, config, seed=seed)
        return result.labels, result.centroids, result.thresholds
    k = max(2, round(math.sqrt(len(vectors))))
    model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(vectors)
    centroids = _unit(np.asarray(model.cluster_centers_, dtype=np.float64)).astype(np.float32)
    assigned = np.asarray(model.labels_, dtype=np.int64)
    thresholds = np.array(
        [
            np.percentile(vectors[assigned == t] @ centroids[t], 5) if (assigned == t).any() else 1.0
            for t in range(k)
        ],
        dtype=np.float32,
    )
    return assigned, centroids, thresholds


def known_themes(vectors: Vectors, seed: int, use_clustering_module: bool) -> ThemeSnapshot:
    _, centroids, thresholds = cluster_window(vectors, seed, use_clustering_module)
    infos = tuple(
        ThemeInfo(theme_id=f"t{i}", label=f"t{i}", threshold=float(threshold))
        for i, threshold in enumerate(thresholds)
    )
    return ThemeSnapshot(1, datetime.fromtimestamp(EPOCH, UTC), infos, centroids)


# -- detectors --------------------------------------------------------------------------------------


class StreamDetector(Protocol):
    def feed(
        self, vectors: Vectors, positions: Positions, hours: npt.NDArray[np.float64], alert: bool
    ) -> list[Detection]: ...


class NaiveLeaderDetector:
    """docs/model.md's baseline: leader clustering of the pool, an alert on 5 tight members."""

    def __init__(self, join: float = 0.6, min_size: int = 5, min_tightness: float = 0.7) -> None:
        self.join, self.min_size, self.min_tightness = join, min_size, min_tightness
        self.sums: list[npt.NDArray[np.float64]] = []
        self.members: list[list[int]] = []
        self.vectors: list[list[npt.NDArray[np.float64]]] = []
        self.alerted: list[bool] = []

    def feed(
        self, vectors: Vectors, positions: Positions, hours: npt.NDArray[np.float64], alert: bool
    ) -> list[Detection]:
        found = []
        for vector, position, hour in zip(
            vectors.astype(np.float64), positions.tolist(), hours.tolist(), strict=True
        ):
            index = -1
            if self.sums:
                similarities = _unit(np.stack(self.sums)) @ vector
                if similarities.max() >= self.join:
                    index = int(similarities.argmax())
            if index < 0:
                self.sums.append(np.zeros_like(vector))
                self.members.append([])
                self.vectors.append([])
                self.alerted.append(False)
            self.sums[index] = self.sums[index] + vector
            self.members[index].append(position)
            self.vectors[index].append(vector)
            if len(self.members[index]) >= self.min_size and not self.alerted[index]:
                centroid = _unit(self.sums[index][np.newaxis, :])[0]
                if float(np.mean(np.stack(self.vectors[index]) @ centroid)) > self.min_tightness:
                    self.alerted[index] = True
                    if alert:
                        found.append(Detection(hour, tuple(self.members[index]), centroid))
        return found


class OnlineNoveltyDetector:
    """riskradar.novelty.NoveltyDetector, its state round-tripped through a JSON-able dict between
    batches, as it would be between Lambda invocations (so the benchmark also checks that), unless
    `round_trip` is False (the restored detector is exact: the same alerts, faster)."""

    def __init__(self, config: NoveltyConfig, *, round_trip: bool = True) -> None:
        self.detector = NoveltyDetector(config)
        self.round_trip = round_trip

    def feed(
        self, vectors: Vectors, positions: Positions, hours: npt.NDArray[np.float64], alert: bool
    ) -> list[Detection]:
        alerts = self.detector.observe(
            vectors, [str(p) for p in positions.tolist()], (EPOCH + hours * 3600.0).tolist(), alert=alert
        )
        if self.round_trip:  # the next batch runs on the saved state, as in the next invocation
            self.detector = NoveltyDetector.from_state(self.detector.to_state())
        end = float(hours.max())
        return [
            Detection(end, tuple(int(m) for m in a.members), a.centroid.astype(np.float64)) for a in alerts
        ]


def run_stream_detector(
    detector: StreamDetector,
    vectors: Vectors,
    stream: Stream,
    fed: npt.NDArray[np.bool_],
    config: ReplayConfig,
) -> list[Detection]:
    """Feed the `fed` reports in time order: the history's in one go to learn, then 15-minute batches."""
    chosen = np.flatnonzero(fed)
    history = chosen[stream.hours[chosen] < config.history_hours]
    if len(history):
        detector.feed(vectors[stream.rows[history]], history, stream.hours[history], False)
    monitored = chosen[stream.hours[chosen] >= config.history_hours]
    batch_of = np.floor(stream.hours[monitored] / ONLINE_BATCH_HOURS).astype(np.int64)
    detections: list[Detection] = []
    for batch in np.unique(batch_of):
        members = monitored[batch_of == batch]
        found = detector.feed(vectors[stream.rows[members]], members, stream.hours[members], True)
        # The batch is processed once its last report is in: that is when its alerts go out.
        end = (batch + 1) * ONLINE_BATCH_HOURS
        detections.extend(Detection(end, d.members, d.centroid) for d in found)
    return detections


class ClusteringCache:
    """The batch path's clusterings on disk, keyed by everything they depend on: the window's vectors
    (bytes), the seed, the clustering settings and the source of `riskradar.clustering`. A rerun with
    other emerging settings, or of a finished scenario, reuses them instead of clustering again; the
    results are the same as without the cache. None: no cache."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        spec = importlib.util.find_spec("riskradar.clustering")
        self._source = Path(spec.origin).read_bytes() if spec is not None and spec.origin else b""

    def labels(
        self, vectors: Vectors, seed: int, use_clustering_module: bool, cohesion: float | None
    ) -> Positions:
        key = hashlib.sha256()
        key.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        key.update(f"{seed}|{use_clustering_module}|{cohesion}|".encode())
        key.update(self._source)
        path = None if self.directory is None else self.directory / f"{key.hexdigest()[:32]}.npy"
        if path is not None and path.exists():
            self.hits += 1
            cached: Positions = np.load(path).astype(np.int64)
            return cached
        self.misses += 1
        labels, _, _ = cluster_window(vectors, seed, use_clustering_module, cohesion)
        if path is not None:
            partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, labels.astype(np.int32))
            partial.replace(path)  # atomic: two processes never read half a file
        return labels


@dataclass(frozen=True)
class BatchRun:
    """Detections of the batch path and the hours it covered (its false alarms are counted there)."""

    detections: list[Detection]
    #: False alarms are counted over [counted_from, counted_until] (hours).
    counted_from: float
    counted_until: float
    runs: int
    clustered: int


def run_batch_path(
    vectors: Vectors,
    stream: Stream,
    config: ReplayConfig,
    detectors: Detectors,
    seed: int,
    cache: ClusteringCache,
    stop_after: Callable[[Detection], bool] | None = None,
) -> BatchRun:
    """The recluster job as deployed (`riskradar.recluster.ReclusterService`): every
    `batch_period_hours` it clusters the last `window_days` of reports from scratch, gives the
    clusters their identities (`match_themes`: a theme id follows its reports from run to run),
    counts each theme in `bucket_hours` buckets ending at the run, scores them with
    `score_emerging` and alerts on a theme that is emerging now and was not, under its id, in the
    previous run. The members of an alert are the theme's reports in its surprising window.

    Runs start on the monitored day `batch_first_day` (default: the held-back label's first day),
    after one uncounted run at that day's start that only says which themes were already emerging:
    a recluster costs ~1-4 s here, and hourly runs over all monitored days would cost 336 of them a
    scenario. Before its first day the held-back label cannot be detected, so only the false-alarm
    rate is measured over fewer hours; it is reported per simulated week of hours covered. For the
    same reason the runs stop after the first run with an alert `stop_after` accepts (the one that
    fixes the delay): the false alarms are counted up to that run."""
    period = config.batch_period_hours
    window_hours = config.window_days * HOURS_PER_DAY
    buckets = max(1, math.ceil(window_hours / config.bucket_hours - 1e-9))
    first_day = config.batch_first_day or config.appear_day
    day_start = config.history_hours + (first_day - 1) * HOURS_PER_DAY
    previous = ThemeSnapshot.empty(vectors.shape[1])
    previous_members: dict[str, list[str]] = {}
    detections: list[Detection] = []
    runs = 0
    step = 0
    while (run_at := day_start + step * period) <= config.end_hours + 1e-9:
        inside = np.flatnonzero((stream.hours >= run_at - window_hours) & (stream.hours < run_at))
        if len(inside) == 0:
            step += 1
            continue
        window_vectors = vectors[stream.rows[inside]]
        assigned = cache.labels(
            window_vectors, seed, detectors.use_clustering_module, detectors.batch_cohesion
        )
        count = int(assigned.max()) + 1
        centroids = _cluster_centroids(window_vectors, assigned, count)
        members = [[str(p) for p in inside[assigned == c].tolist()] for c in range(count)]
        now = datetime.fromtimestamp(EPOCH + run_at * 3600.0, UTC)
        identity = match_themes(
            previous,
            previous_members,
            centroids,
            members,
            version=previous.version + 1,
            now=now,
            seed=str(seed),
        )
        theme_of = [identity.theme_ids[c] if c >= 0 else None for c in assigned.tolist()]
        start = run_at - buckets * config.bucket_hours
        theme_ids, counts, totals = count_by_bucket(
            theme_of, stream.hours[inside], start=start, bucket_length=config.bucket_hours, buckets=buckets
        )
        scores = {
            score.theme_id: score for score in score_emerging(theme_ids, counts, totals, detectors.emerging)
        }
        was_emerging = {theme.theme_id for theme in previous.themes if theme.emerging}
        themes = tuple(
            cluster.theme_info(
                label=cluster.theme_id,
                emerging=cluster.theme_id in scores and scores[cluster.theme_id].is_emerging,
                size=len(members[c]),
            )
            for c, cluster in enumerate(identity.clusters)
        )
        if step > 0:  # the first run only learns which themes were emerging already
            runs += 1
            for c, theme in enumerate(themes):
                if theme.emerging and theme.theme_id not in was_emerging:
                    since_hour = start + scores[theme.theme_id].since * config.bucket_hours
                    chosen = inside[(assigned == c) & (stream.hours[inside] >= since_hour)]
                    detections.append(
                        Detection(run_at, tuple(chosen.tolist()), centroids[c].astype(np.float64))
                    )
        previous = ThemeSnapshot(previous.version + 1, now, themes, centroids, dormant=identity.dormant)
        previous_members = dict(zip(identity.theme_ids, members, strict=True))
        if stop_after is not None and any(stop_after(d) for d in detections if d.hour == run_at):
            return BatchRun(detections, day_start, run_at, runs, cache.misses)
        step += 1
    return BatchRun(detections, day_start, config.end_hours, runs, cache.misses)


def _cluster_centroids(vectors: Vectors, assigned: Positions, count: int) -> Vectors:
    """Unit mean of each cluster's members (as `cluster_embeddings` computes its centroids)."""
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    order = np.argsort(assigned, kind="stable")
    order = order[assigned[order] >= 0]
    groups = assigned[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else np.zeros(0, np.int64)
    if len(groups):
        sums[groups[starts]] = np.add.reduceat(vectors[order].astype(np.float64), starts, axis=0)
    centroids: Vectors = _unit(sums).astype(np.float32)
    return centroids


# -- scoring ----------------------------------------------------------------------------------------


def dominated(detection: Detection, stream: Stream) -> bool:
    """The alert is about the held-back label: most of the reports it shows are of that label."""
    members = np.array(detection.members, dtype=np.int64)
    return len(members) > 0 and float(stream.held_back[members].mean()) > DOMINATED_SHARE


def evaluate(
    detections: Sequence[Detection],
    stream: Stream,
    config: ReplayConfig,
    counted: tuple[float, float] | None = None,
) -> Outcome:
    """Delay and false alarms of one path; false alarms count over the hours `counted` (default:
    the monitored days)."""
    start, end = (config.history_hours, config.end_hours) if counted is None else counted
    held_hours = stream.hours[stream.held_back]
    delay: int | None = None
    false_alarms = 0
    earlier: list[npt.NDArray[np.float64]] = []
    for detection in sorted(detections, key=lambda d: d.hour):
        if dominated(detection, stream):
            if delay is None:
                delay = int((held_hours <= detection.hour).sum())
        elif start <= detection.hour <= end and not any(
            float(centroid @ detection.centroid) >= SAME_ALERT_SIMILARITY for centroid in earlier
        ):
            false_alarms += 1
        earlier.append(detection.centroid)
    weeks = (end - start) / (7 * HOURS_PER_DAY)
    return Outcome(delay, false_alarms, int(stream.held_back.sum()), weeks)


# -- one scenario -----------------------------------------------------------------------------------

# Set in the parent before the worker processes fork (read-only there).
_VECTORS: Vectors = np.zeros((0, 0), dtype=np.float32)
_LABELS: npt.NDArray[np.str_] = np.array([], dtype=str)
_TIMES: npt.NDArray[np.float64] | None = None


def run_scenario(
    label: str, seed: int, config: ReplayConfig, detectors: Detectors, cache_dir: Path | None = None
) -> ScenarioResult:
    with threadpool_limits(limits=1):  # small matrix products: threads only spin on 2 cores
        vectors = _VECTORS
        stream = build_stream(_LABELS, label, seed, config, _TIMES)
        history = stream.hours < config.history_hours
        snapshot = known_themes(vectors[stream.rows[history]], seed, detectors.use_clustering_module)
        novel = np.array([a.is_novel for a in assign_to_themes(vectors[stream.rows], snapshot)])
        held_total = int(stream.held_back.sum())
        absorbed = float((~novel[stream.held_back]).mean()) if held_total else 0.0
        everything = np.ones(len(stream.rows), dtype=bool)

        def batch() -> tuple[list[Detection], tuple[float, float] | None]:
            run = run_batch_path(
                vectors,
                stream,
                config,
                detectors,
                seed,
                ClusteringCache(cache_dir),
                stop_after=lambda detection: dominated(detection, stream),
            )
            batch_runs.append(run)
            return run.detections, (run.counted_from, run.counted_until)

        batch_runs: list[BatchRun] = []
        runs: dict[str, Callable[[], tuple[list[Detection], tuple[float, float] | None]]] = {
            "naive": lambda: (
                run_stream_detector(NaiveLeaderDetector(), vectors, stream, novel, config),
                None,
            ),
            "online": lambda: (
                run_stream_detector(
                    OnlineNoveltyDetector(detectors.novelty, round_trip=detectors.state_round_trip),
                    vectors,
                    stream,
                    everything,
                    config,
                ),
                None,
            ),
            "online-pool": lambda: (
                run_stream_detector(
                    OnlineNoveltyDetector(detectors.novelty, round_trip=detectors.state_round_trip),
                    vectors,
                    stream,
                    novel,
                    config,
                ),
                None,
            ),
            "batch": batch,
        }
        outcomes: dict[str, Outcome] = {}
        seconds: dict[str, float] = {}
        for name, run in runs.items():
            if name not in detectors.paths:
                outcomes[name] = Outcome(None, 0, held_total, 0.0)
                seconds[name] = 0.0
                continue
            started = time.perf_counter()
            detections, counted = run()
            outcomes[name] = evaluate(detections, stream, config, counted)
            seconds[name] = time.perf_counter() - started
    batch_runs_made = batch_runs[0].runs if batch_runs else 0
    batch_clustered = batch_runs[0].clustered if batch_runs else 0
    return ScenarioResult(
        label,
        seed,
        held_total,
        absorbed,
        len(snapshot.themes),
        outcomes,
        seconds,
        batch_runs_made,
        batch_clustered,
    )


def _run_scenario_args(args: tuple[str, int, ReplayConfig, Detectors, Path | None]) -> ScenarioResult:
    return run_scenario(*args)


def _unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: npt.NDArray[np.float64] = rows / np.where(norms > 0, norms, 1.0)
    return unit


# -- report -----------------------------------------------------------------------------------------


def _delay_text(outcome: Outcome) -> str:
    return str(outcome.delay) if outcome.delay is not None else f"missed (>{outcome.held_back_total})"


def median_interval(values: Sequence[float], confidence: float = 0.9) -> tuple[float, float]:
    """A distribution-free interval for the median: order statistics x(k) and x(n+1-k), with the
    largest k whose binomial coverage is at least `confidence`. With 16 runs: x(5)..x(12), 92 %.
    (-inf, inf) when there are too few values for that confidence."""
    ordered = sorted(values)
    n = len(ordered)
    best: tuple[float, float] = (-math.inf, math.inf)
    for k in range(1, n // 2 + 1):
        # P(x(k) <= median <= x(n+1-k)) = 1 - 2 * P(Binomial(n, 1/2) <= k - 1)
        tail = sum(math.comb(n, i) for i in range(k)) / 2**n
        if 1 - 2 * tail < confidence:
            break
        best = (ordered[k - 1], ordered[n - k])
    return best


@dataclass(frozen=True)
class PathSummary:
    """One row of the summary table: a path's delays over every scenario and its false alarms."""

    name: str
    #: Delay per scenario, in report order; math.inf where the path never alerted on the label.
    delays: list[float]
    #: All false alarms over all the simulated weeks counted.
    false_alarms_per_week: float
    max_false_alarms_per_week: float
    seconds_per_scenario: float

    @property
    def median(self) -> float:
        return statistics.median(self.delays)

    def meets_goals(self) -> bool:
        return self.median <= GOAL_DELAY and self.false_alarms_per_week <= GOAL_FALSE_ALARMS_PER_WEEK


def summarize(results: Sequence[ScenarioResult], path: str) -> PathSummary:
    weeks = sum(r.outcomes[path].weeks for r in results)
    return PathSummary(
        path,
        [float(delay) if (delay := r.outcomes[path].delay) is not None else math.inf for r in results],
        sum(r.outcomes[path].false_alarms for r in results) / weeks if weeks else 0.0,
        max(r.outcomes[path].false_alarms_per_week for r in results),
        statistics.mean(r.seconds[path] for r in results),
    )


def either_path(results: Sequence[ScenarioResult]) -> PathSummary:
    """What a strategist sees, who gets both paths' alerts: per scenario the first alert of either
    (the smaller delay); false alarms a week are the sum of both paths' rates (each counted over the
    hours that path ran)."""
    online, batch = summarize(results, "online"), summarize(results, "batch")
    return PathSummary(
        "online or batch, whichever alerts first",
        [min(a, b) for a, b in zip(online.delays, batch.delays, strict=True)],
        online.false_alarms_per_week + batch.false_alarms_per_week,
        max(
            r.outcomes["online"].false_alarms_per_week + r.outcomes["batch"].false_alarms_per_week
            for r in results
        ),
        online.seconds_per_scenario + batch.seconds_per_scenario,
    )


def print_tables(results: Sequence[ScenarioResult], paths: Sequence[str]) -> None:
    header = " | ".join(f"{p} delay | {p} FA/wk" for p in paths)
    print(f"\n| held-back label | seed | its reports | absorbed by known themes | {header} |")
    print("|---|---|---|---|" + "---|---|" * len(paths))
    for r in results:
        cells = " | ".join(
            f"{_delay_text(r.outcomes[p])} | {r.outcomes[p].false_alarms_per_week:.1f}" for p in paths
        )
        print(f"| {r.label} | {r.seed} | {r.held_back_total} | {r.absorbed:.0%} | {cells} |")
    print(
        "\n| path | median delay | median, 90 % interval | delay range | detected | false alarms / week |"
        " max | meets goals | seconds / scenario |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [summarize(results, p) for p in paths]
    if "online" in paths and "batch" in paths:
        rows.append(either_path(results))
    for row in rows:
        found = [d for d in row.delays if d != math.inf]
        low, high = median_interval(row.delays)
        interval = "too few runs" if low == -math.inf else f"{_finite(low)}-{_finite(high)}"
        print(
            f"| {row.name} | {_finite(row.median)} | {interval} | "
            f"{f'{min(found):.0f}-{max(found):.0f}' if found else '-'} | {len(found)}/{len(row.delays)} | "
            f"{row.false_alarms_per_week:.2f} | {row.max_false_alarms_per_week:.1f} | "
            f"{'yes' if row.meets_goals() else 'no'} | {row.seconds_per_scenario:.1f} |"
        )
    print(
        f"\nGoals: median delay ≤ {GOAL_DELAY} reports, ≤ {GOAL_FALSE_ALARMS_PER_WEEK:g} false alarm per"
        " simulated week (all false alarms over all simulated weeks counted). A missed label counts as an"
        " infinite delay in the median. The interval says how far the median of this many runs can be"
        " trusted: two seeds more can move it by several reports."
    )
    if "batch" in paths:
        runs = sum(r.batch_runs for r in results)
        clustered = sum(r.batch_clustered for r in results)
        weeks = statistics.mean(r.outcomes["batch"].weeks for r in results)
        cached = runs + len(results) - clustered
        print(
            f"batch: {runs} counted recluster runs and one uncounted first run a scenario ({clustered} "
            f"clustered now, {cached} from the cache); false alarms over the {weeks * 7:.1f} days it ran"
            " on average."
        )


def _finite(value: float) -> str:
    return "missed" if value == math.inf else f"{value:g}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--labels", default=None, help="comma-separated held-back labels (default: 8, 4 fraud-like)"
    )
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 … N-1 (default 2)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="the 4 fraud-like labels, 1 seed")
    parser.add_argument("--jobs", type=int, default=2, help="scenarios run in parallel (default 2)")
    parser.add_argument(
        "--kmeans", action="store_true", help="KMeans themes even if riskradar.clustering exists"
    )
    defaults = ReplayConfig()
    for item in fields(ReplayConfig):
        value = getattr(defaults, item.name)
        parser.add_argument(f"--{item.name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument(
        "--surprise-threshold", type=float, default=None, help="online alert threshold (nats)"
    )
    parser.add_argument(
        "--neighbourhood-similarities",
        type=_radii,
        default=None,
        help="online: comma-separated cosine radii of the neighbourhoods judged, e.g. 0.65,0.7 "
        "(default: NoveltyConfig's)",
    )
    parser.add_argument(
        "--memory-reports",
        type=int,
        default=None,
        help="online: reports the detector remembers (default: NoveltyConfig's)",
    )
    parser.add_argument(
        "--no-state-round-trip",
        action="store_true",
        help="online: keep the detector in memory between batches instead of saving and restoring its "
        "state (the same alerts, several times faster: for sweeps)",
    )
    parser.add_argument("--emerging-threshold", type=float, default=None, help="batch alert threshold (nats)")
    parser.add_argument("--batch-cohesion", type=float, default=None, help="cohesion of the batch reclusters")
    parser.add_argument(
        "--paths", default=",".join(PATHS), help=f"which detectors to run (default: {','.join(PATHS)})"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=CLUSTER_CACHE_DIR,
        help=f"where the batch path keeps its clusterings (default {CLUSTER_CACHE_DIR}; '' for none)",
    )
    args = parser.parse_args(argv)

    global _VECTORS, _LABELS, _TIMES
    config = ReplayConfig(**{item.name: getattr(args, item.name) for item in fields(ReplayConfig)})
    label_column = resolve_label_column(args.dataset, args.label_column)
    embedded = load_embedded(args.dataset, args.text_column, label_column, args.time_column)
    _VECTORS = embedded.vectors
    dataset = embedded.dataset
    if dataset.labels is not None:
        _LABELS = np.array(dataset.labels)
    else:
        k = max(2, round(math.sqrt(len(_VECTORS))))
        _LABELS = np.array([f"cluster{c}" for c in KMeans(k, n_init=1, random_state=0).fit_predict(_VECTORS)])
    if dataset.times is not None:
        _TIMES = np.array([_parse_time(t) for t in dataset.times])

    present = set(_LABELS.tolist())
    if args.labels:
        chosen = [name.strip() for name in args.labels.split(",") if name.strip()]
    else:
        chosen = [name for name in DEFAULT_LABELS if name in present]
        if not chosen:  # another dataset: its largest labels
            sizes = {name: int((name == _LABELS).sum()) for name in present}
            chosen = sorted(present, key=lambda name: (-sizes[name], name))[:8]
    missing = [name for name in chosen if name not in present]
    if missing:
        raise SystemExit(f"labels not in the dataset: {missing}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.quick:
        chosen = [name for name in chosen if name in FRAUD_LABELS] or chosen[:4]
        seeds = seeds[:1]

    use_module = not args.kmeans and importlib.util.find_spec("riskradar.clustering") is not None
    novelty = NoveltyConfig()
    if args.surprise_threshold is not None:
        novelty = replace(novelty, surprise_threshold=args.surprise_threshold)
    if args.neighbourhood_similarities:
        novelty = replace(novelty, neighbourhood_similarities=args.neighbourhood_similarities)
    if args.memory_reports is not None:
        try:
            novelty = replace(novelty, memory_reports=args.memory_reports)
        except ValueError as error:
            raise SystemExit(f"--memory-reports: {error}") from None
    emerging = EmergingConfig()
    if args.emerging_threshold is not None:
        emerging = replace(emerging, threshold=args.emerging_threshold)
    paths = tuple(p.strip() for p in args.paths.split(",") if p.strip())
    if set(paths) - set(PATHS):
        raise SystemExit(f"unknown paths {sorted(set(paths) - set(PATHS))}; choose from {PATHS}")
    detectors = Detectors(
        novelty,
        emerging,
        use_module,
        args.batch_cohesion,
        paths,
        state_round_trip=not args.no_state_round_trip,
    )
    themes = (
        "riskradar.clustering.cluster_embeddings"
        if use_module
        else "KMeans k=sqrt(n), threshold = 5th percentile of member similarity"
    )
    print(f"dataset: {dataset.path} ({len(_VECTORS):,} texts, {len(present)} labels)")
    print(f"known themes and batch reclusters: {themes}")
    print(
        f"replay: {config.history_days} history + {config.monitor_days} monitored days, "
        f"~{config.daily_volume:g} reports a day, drift {config.drift:g}; the held-back label from monitored "
        f"day {config.appear_day}: {config.first_day_reports:g} a day, x{config.growth:g} a day; batch: a "
        f"recluster every {config.batch_period_hours:g} h of the last {config.window_days:g} days, "
        f"{config.bucket_hours:g} h buckets, from monitored day {config.batch_first_day or config.appear_day}"
    )
    print(f"online: {novelty}")
    print(f"batch: {emerging}")

    cache_dir = args.cache_dir if str(args.cache_dir) not in ("", ".") else None
    tasks = [(label, seed, config, detectors, cache_dir) for label in chosen for seed in seeds]
    started = time.perf_counter()
    results: list[ScenarioResult] = []
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for result in pool.imap(_run_scenario_args, tasks):
            results.append(result)
            summary = ", ".join(
                f"{p} {_delay_text(result.outcomes[p])}/{result.outcomes[p].false_alarms} FA" for p in paths
            )
            print(f"  {result.label} seed {result.seed}: {summary}", file=sys.stderr, flush=True)
    print_tables(results, paths)
    print(f"\n{len(results)} runs in {time.perf_counter() - started:.0f} s ({args.jobs} in parallel)")


def _radii(text: str) -> tuple[float, ...]:
    try:
        radii = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 0.7,0.75,0.8") from None
    if not radii or not all(0.0 < radius < 1.0 for radius in radii):
        raise argparse.ArgumentTypeError(f"{text!r}: radii are cosine similarities between 0 and 1")
    return radii


def _parse_time(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


if __name__ == "__main__":
    main()
