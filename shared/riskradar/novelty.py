"""New themes between scheduled reclusters: online micro-clustering of incoming reports, with
alerts on local growth that the learned background does not explain.

(Docstring rewritten once the method settles.)
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import betainc

__all__ = [
    "STATE_VERSION",
    "NoveltyAlert",
    "NoveltyConfig",
    "NoveltyDetector",
]

STATE_VERSION: Final = 1

Vectors = npt.NDArray[np.float32]
_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NoveltyConfig:
    #: Cosine similarity to a micro-cluster's centroid for a report to join it.
    join_similarity: float = 0.8
    #: A neighbourhood is the micro-clusters whose centroids are at least this similar to the one a
    #: report joined; one neighbourhood per value is scored and the most surprising counts.
    neighbourhood_similarities: tuple[float, ...] = (0.65, 0.7, 0.75)
    #: Surprise, -ln P, from which a neighbourhood's growth is alerted on.
    surprise_threshold: float = 10.0
    #: Fewest arrivals in the surprising window for an alert.
    min_alert_size: int = 5
    #: Weight of the prior on a region's share of the stream, in pseudo-reports.
    prior_reports: float = 0.5
    #: Usual share of the stream an empty region draws; None: learned.
    prior_share: float | None = None
    #: Bounds of the learned prior share.
    min_prior_share: float = 1e-4
    max_prior_share: float = 0.05
    #: Extra-Poisson variance of a region's count (var = m + φ·m²): the drift of the traffic mix.
    overdispersion: float = 0.3
    #: Counts and exposure halve every this many reports.
    half_life_reports: float = 4000.0
    #: No alert before this many reports have been seen (the background is being learned).
    warmup_reports: int = 500
    max_micro_clusters: int = 1500
    #: Micro-clusters lighter than this (decayed arrivals) are forgotten.
    evict_weight: float = 0.05
    #: The last arrivals kept (report id and micro-cluster): the longest window scanned, in reports.
    window_reports: int = 2000
    #: The most arrivals one alert can hold (and the longest burst scanned).
    max_burst: int = 64
    #: A burst is judged over at least this many reports: clumps of a few reports within minutes
    #: happen somewhere all the time by chance, and a theme does not grow in minutes.
    min_window_reports: int = 200

    def __post_init__(self) -> None:
        if not all(-1.0 <= s <= 1.0 for s in (self.join_similarity, *self.neighbourhood_similarities)):
            raise ValueError("similarities must be in [-1, 1]")
        if not self.neighbourhood_similarities:
            raise ValueError("need at least one neighbourhood similarity")
        if not 1 <= self.min_alert_size <= self.max_burst <= self.window_reports:
            raise ValueError("need 1 <= min_alert_size <= max_burst <= window_reports")
        if self.prior_reports <= 0 or self.half_life_reports <= 0 or self.overdispersion < 0:
            raise ValueError("prior_reports and half_life_reports must be positive, overdispersion >= 0")
        if self.prior_share is not None and not 0 < self.prior_share <= 1:
            raise ValueError(f"prior_share must be in (0, 1], got {self.prior_share}")
        if self.max_micro_clusters < 1:
            raise ValueError("max_micro_clusters must be at least 1")


@dataclass(frozen=True)
class NoveltyAlert:
    #: The micro-cluster whose arrival raised the alert (its neighbourhood is the new theme).
    micro_cluster_id: int
    #: Arrivals the neighbourhood has had in all.
    size: int
    #: When the neighbourhood's oldest micro-cluster started.
    first_seen: datetime
    #: Arrivals in the surprising window (the burst), all listed in `members`.
    burst_size: int
    #: Report ids of the burst, oldest first.
    members: tuple[str, ...]
    #: Unit vector: the mean of the neighbourhood's centroids, weighted by their sizes.
    centroid: Vectors = field(repr=False)
    #: -ln P(burst | the neighbourhood's background rate), in nats.
    surprise: float
    #: Arrivals the neighbourhood would have drawn in that window at its usual rate.
    expected: float


class NoveltyDetector:
    """Online micro-clustering with surprise alerts; see the module docstring."""

    def __init__(self, config: NoveltyConfig | None = None, dimension: int | None = None) -> None:
        self.config = config or NoveltyConfig()
        #: Reports seen so far; a report's position is its 1-based arrival number.
        self.position = 0
        self._decay = 0.5 ** (1.0 / self.config.half_life_reports)
        self._next_id = 1
        self._dimension = dimension or 0
        # One row per micro-cluster, in parallel arrays; the first `_count` rows are live.
        self._count = 0
        self._ids: _Ints = np.zeros(0, dtype=np.int64)
        self._sums: Vectors = np.zeros((0, self._dimension), dtype=np.float32)
        self._centroids: Vectors = np.zeros((0, self._dimension), dtype=np.float32)
        self._sizes: _Ints = np.zeros(0, dtype=np.int64)
        #: Decayed arrivals as of position `_updated`.
        self._weights: _Floats = np.zeros(0, dtype=np.float64)
        self._updated: _Ints = np.zeros(0, dtype=np.int64)
        self._first_seen: _Floats = np.zeros(0, dtype=np.float64)
        #: Burst size of the micro-cluster's last alert (0: none); a region alerts again when it doubles.
        self._alerted: _Ints = np.zeros(0, dtype=np.int64)
        # The last `window_reports` arrivals in a ring: the report at position p is in slot
        # p % window_reports, with the id of the micro-cluster it joined.
        self._ring_clusters: _Ints = np.zeros(self.config.window_reports, dtype=np.int64)
        self._ring_ids: list[str] = [""] * self.config.window_reports
        self._prior_share_now = self.config.max_prior_share

    @property
    def dimension(self) -> int | None:
        return self._dimension or None

    # -- the use case -----------------------------------------------------------------------------

    def observe(
        self,
        vectors: npt.ArrayLike,
        report_ids: Sequence[str],
        times: Sequence[datetime | float],
        *,
        alert: bool = True,
    ) -> list[NoveltyAlert]:
        """Add a batch of reports (unit vectors; times as aware datetimes or epoch seconds) and
        return the alerts it raised. `alert=False` only learns: e.g. replaying the last days'
        reports into a fresh detector."""
        rows = np.asarray(vectors, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[0] != len(report_ids) or len(times) != len(report_ids):
            raise ValueError(
                f"{len(report_ids)} report ids, {len(times)} times and vectors of shape {rows.shape}"
            )
        if len(report_ids) == 0:
            return []
        if not self._dimension:
            self._dimension = rows.shape[1]
            self._sums = np.zeros((0, self._dimension), dtype=np.float32)
            self._centroids = np.zeros((0, self._dimension), dtype=np.float32)
        if rows.shape[1] != self._dimension:
            raise ValueError(f"vectors of dimension {rows.shape[1]}, detector has {self._dimension}")
        seconds = np.array([_epoch_seconds(moment) for moment in times])
        self._prior_share_now = self.prior_share()
        alerts: list[NoveltyAlert] = []
        # Time order within the batch (SQS does not keep it); ties keep the batch order.
        for index in np.argsort(seconds, kind="stable"):
            row = self._add(rows[index], report_ids[index], float(seconds[index]))
            if alert and self.position > self.config.warmup_reports:
                found = self._score(row)
                if found is not None:
                    alerts.append(found)
        self._evict_light()
        return alerts

    def micro_cluster_count(self) -> int:
        return self._count

    def prior_share(self) -> float:
        """The share of the stream an empty region is expected to draw: configured, or learned as
        1 / the effective number of micro-clusters (exp of the entropy of their weights)."""
        config = self.config
        if config.prior_share is not None:
            return config.prior_share
        weights = self._weights_now()
        total = float(weights.sum())
        if total <= 0:
            return config.max_prior_share
        p = weights[weights > 0] / total
        regions = math.exp(float(-(p * np.log(p)).sum()))
        return min(max(1.0 / regions, config.min_prior_share), config.max_prior_share)

    # -- state ------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot of the detector (config included); `from_state` restores it."""
        n = self._count
        return {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "dimension": self._dimension,
            "position": self.position,
            "next_id": self._next_id,
            "micro_clusters": {
                "id": self._ids[:n].tolist(),
                "centroid_sums": _encode(self._sums[:n]),
                "size": self._sizes[:n].tolist(),
                "weight": self._weights[:n].tolist(),
                "updated_at": self._updated[:n].tolist(),
                "first_seen": self._first_seen[:n].tolist(),
                "alerted": self._alerted[:n].tolist(),
            },
            "arrivals": {"micro_cluster": self._ring_clusters.tolist(), "report_id": list(self._ring_ids)},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NoveltyDetector:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"novelty state version {state.get('version')!r}, expected {STATE_VERSION}")
        config = dict(state["config"])
        config["neighbourhood_similarities"] = tuple(config["neighbourhood_similarities"])
        detector = cls(NoveltyConfig(**config), int(state["dimension"]))
        detector.position = int(state["position"])
        detector._next_id = int(state["next_id"])
        clusters = state["micro_clusters"]
        n = len(clusters["id"])
        detector._count = n
        detector._ids = np.array(clusters["id"], dtype=np.int64)
        detector._sums = _decode(clusters["centroid_sums"], n, detector._dimension)
        detector._centroids = _unit_rows(detector._sums)
        detector._sizes = np.array(clusters["size"], dtype=np.int64)
        detector._weights = np.array(clusters["weight"], dtype=np.float64)
        detector._updated = np.array(clusters["updated_at"], dtype=np.int64)
        detector._first_seen = np.array(clusters["first_seen"], dtype=np.float64)
        detector._alerted = np.array(clusters["alerted"], dtype=np.int64)
        arrivals = state["arrivals"]
        detector._ring_clusters = np.array(arrivals["micro_cluster"], dtype=np.int64)
        detector._ring_ids = [str(r) for r in arrivals["report_id"]]
        return detector

    # -- internals --------------------------------------------------------------------------------

    def _weights_now(self) -> _Floats:
        n = self._count
        weights: _Floats = self._weights[:n] * self._decay ** (self.position - self._updated[:n])
        return weights

    def _add(self, vector: Vectors, report_id: str, seconds: float) -> int:
        """Put one report in its micro-cluster (a new one if none is close enough); its row."""
        self.position += 1
        row = -1
        if self._count:
            similarities = self._centroids[: self._count] @ vector
            nearest = int(similarities.argmax())
            if similarities[nearest] >= self.config.join_similarity:
                row = nearest
        if row < 0:
            row = self._new_row(seconds)
        self._sums[row] += vector
        self._centroids[row] = _unit_rows(self._sums[row : row + 1])[0]
        self._sizes[row] += 1
        self._weights[row] = self._weights[row] * self._decay ** (self.position - self._updated[row]) + 1.0
        self._updated[row] = self.position
        slot = self.position % self.config.window_reports
        self._ring_clusters[slot] = self._ids[row]
        self._ring_ids[slot] = report_id
        return row

    def _new_row(self, seconds: float) -> int:
        if self._count >= self.config.max_micro_clusters:
            # Full: forget the lightest micro-cluster (its region's history is the least informative).
            row = int(self._weights_now().argmin())
        else:
            row = self._count
            self._count += 1
            if row >= len(self._ids):
                self._grow(max(16, 2 * len(self._ids)))
        self._ids[row] = self._next_id
        self._next_id += 1
        self._sums[row] = 0.0
        self._centroids[row] = 0.0
        self._sizes[row] = 0
        self._weights[row] = 0.0
        self._updated[row] = self.position
        self._first_seen[row] = seconds
        self._alerted[row] = 0
        return row

    def _grow(self, capacity: int) -> None:
        extra = min(capacity, self.config.max_micro_clusters) - len(self._ids)
        dimension = self._dimension
        self._ids = np.concatenate([self._ids, np.zeros(extra, dtype=np.int64)])
        self._sums = np.concatenate([self._sums, np.zeros((extra, dimension), dtype=np.float32)])
        self._centroids = np.concatenate([self._centroids, np.zeros((extra, dimension), dtype=np.float32)])
        self._sizes = np.concatenate([self._sizes, np.zeros(extra, dtype=np.int64)])
        self._weights = np.concatenate([self._weights, np.zeros(extra)])
        self._updated = np.concatenate([self._updated, np.zeros(extra, dtype=np.int64)])
        self._first_seen = np.concatenate([self._first_seen, np.zeros(extra)])
        self._alerted = np.concatenate([self._alerted, np.zeros(extra, dtype=np.int64)])

    def _score(self, row: int) -> NoveltyAlert | None:
        """The most surprising recent window of `row`'s neighbourhoods, as an alert if it passes."""
        n = self._count
        similarities = self._centroids[:n] @ self._centroids[row]
        weights = self._weights_now()
        # Positions in the ring, newest first, and the micro-cluster each report joined.
        positions = np.arange(self.position, max(self.position - self.config.window_reports, 0), -1)
        arrival_clusters = self._ring_clusters[positions % self.config.window_reports]
        best: tuple[float, int, npt.NDArray[np.bool_], _Ints, float] | None = None
        for radius in self.config.neighbourhood_similarities:
            members = similarities >= radius
            members[row] = True
            found = self._score_neighbourhood(members, weights, positions, arrival_clusters)
            if found is not None and (best is None or found[0] > best[0]):
                surprise, burst, window, expected = found
                best = (surprise, burst, members, window, expected)
        if best is None:
            return None
        surprise, burst, members, window, expected = best
        self._alerted[:n][members] = np.maximum(self._alerted[:n][members], burst)
        sizes = self._sizes[:n][members].astype(np.float64)
        centroid = _unit_rows(
            (sizes[:, np.newaxis] * self._centroids[:n][members]).sum(axis=0)[np.newaxis, :]
        )
        return NoveltyAlert(
            micro_cluster_id=int(self._ids[row]),
            size=int(sizes.sum()),
            first_seen=datetime.fromtimestamp(float(self._first_seen[:n][members].min()), UTC),
            burst_size=burst,
            members=tuple(self._ring_ids[p % self.config.window_reports] for p in window),
            centroid=centroid[0],
            surprise=surprise,
            expected=expected,
        )

    def _score_neighbourhood(
        self, members: npt.NDArray[np.bool_], weights: _Floats, positions: _Ints, arrival_clusters: _Ints
    ) -> tuple[float, int, _Ints, float] | None:
        """(surprise, burst size, positions of the burst oldest first, expected) of the
        neighbourhood's most surprising window ending now, if it passes the threshold."""
        config = self.config
        n = self._count
        if int(self._alerted[:n][members].max(initial=0)) * 2 > config.max_burst:
            return None
        inside = positions[np.isin(arrival_clusters, self._ids[:n][members])][: config.max_burst]
        if len(inside) < config.min_alert_size:
            return None
        decay = self._decay
        position = self.position
        k = np.arange(1, len(inside) + 1, dtype=np.float64)
        starts = inside.astype(np.float64)
        # Reports in the window, its arrivals included (at least min_window_reports).
        lengths = np.maximum(position - starts + 1, config.min_window_reports)
        # Everything as of the window's start: the neighbourhood's decayed arrivals before it, and
        # the decayed exposure before it (every report since the detector started).
        weight_now = float(weights[members].sum())
        before = np.maximum(weight_now - np.cumsum(decay ** (position - starts)), 0.0) * decay ** (
            starts - position
        )
        exposure = (1.0 - decay ** (starts - 1)) / (1.0 - decay)
        shape = config.prior_reports + before
        mean = lengths * shape / (config.prior_reports / self._prior_share_now + exposure)
        # A region alerts again only once its burst has doubled since its last alert.
        floor = max(config.min_alert_size, 2 * int(self._alerted[:n][members].max(initial=0)))
        eligible = (k >= floor) & (k > mean)
        if not eligible.any():
            return None
        size = 1.0 / (1.0 / shape[eligible] + config.overdispersion)
        surprise = np.zeros_like(k)
        surprise[eligible] = _negative_binomial_surprise(k[eligible], mean[eligible], size)
        best = int(surprise.argmax())
        if not surprise[best] >= config.surprise_threshold:
            return None
        return float(surprise[best]), best + 1, inside[: best + 1][::-1].astype(np.int64), float(mean[best])

    def _evict_light(self) -> None:
        keep = np.flatnonzero(self._weights_now() >= self.config.evict_weight)
        if len(keep) == self._count:
            return
        self._ids = self._ids[keep]
        self._sums = self._sums[keep]
        self._centroids = self._centroids[keep]
        self._sizes = self._sizes[keep]
        self._weights = self._weights[keep]
        self._updated = self._updated[keep]
        self._first_seen = self._first_seen[keep]
        self._alerted = self._alerted[keep]
        self._count = len(keep)


def _negative_binomial_surprise(observed: _Floats, mean: _Floats, size: _Floats) -> _Floats:
    """-ln P(X ≥ observed) for X negative binomial with this mean and size (shape): the tail of a
    negative binomial is a regularised incomplete beta function, I_{m/(m+size)}(observed, size)."""
    tail = betainc(observed, size, mean / (mean + size))
    surprise: _Floats = -np.log(np.maximum(tail, 1e-300))
    return surprise


def _unit_rows(rows: Vectors) -> Vectors:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Vectors = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0).astype(np.float32)
    return unit


def _encode(rows: Vectors) -> str:
    return base64.b64encode(np.ascontiguousarray(rows, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, count: int, dimension: int) -> Vectors:
    raw = np.frombuffer(base64.b64decode(text), dtype="<f4")
    rows: Vectors = raw.astype(np.float32).reshape(count, dimension)
    return rows


def _epoch_seconds(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("times must be timezone-aware")
        return moment.timestamp()
    return float(moment)
