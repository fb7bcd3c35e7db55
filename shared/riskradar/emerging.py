"""Emerging themes in the recluster job: is a theme's latest volume a surprise against its own past?

Input: per-theme report counts in time buckets (hourly, daily …) and the overall report volume in
each bucket. A theme is *emerging* when the reports it drew in the last few buckets are improbable
under what it usually draws: its own share of past traffic times the current overall volume. A
theme that grows with the overall volume (a busy Monday, a marketing push) keeps its share and is
not emerging; a theme whose share jumps is, and so is a theme seen for the first time once it has
enough reports to rule out chance.

The model, per theme and per trailing window of the last `w` buckets (w = 1 … `max_window`):

- the theme's share of traffic has a Gamma prior — `prior_reports` pseudo-reports at share
  `prior_share` (default 1 / number of themes) — updated by its history: the buckets before the
  window, `c` reports out of `N` overall;
- the count in the window, out of `n` overall reports, is then negative binomial with mean
  `m = n · (prior_reports + c) / (prior_reports / prior_share + N)`: the Gamma-Poisson predictive;
- widened by the day-to-day drift of the traffic mix, which a fixed share does not explain: an
  overdispersion `φ` (variance `m + φ·m²`) estimated from the history itself (moments, pooled over
  themes), unless given;
- score = surprise in nats, `-ln P(X ≥ observed)`, maximised over the trailing windows (a theme
  that grows over three days is caught even when no single day is extreme); `since` is the first
  bucket of the window that maximises it.

A theme is emerging when its score reaches `threshold` and it has at least `min_observed` reports
in that window. The default threshold, 12 nats (a chance of about 6e-6 per theme, window and
run), was chosen on the replay benchmark (`benchmarks/emerging_replay.py`): ~150 themes scored
daily over simulated weeks of Banking77 traffic with a drifting mix; see the README for the numbers.

Why not Kleinberg-style burst states: they need a rate ratio and a transition cost chosen by hand,
and give a state, not a calibrated improbability; the negative binomial surprise is closed form,
needs no state between runs (the recluster job recounts its window every time) and its threshold
reads as a probability.

Pure functions over numpy arrays: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import nbinom

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_SURPRISE",
    "EmergingConfig",
    "EmergingScore",
    "count_by_bucket",
    "estimate_overdispersion",
    "score_emerging",
]

#: Surprise (nats) from which a theme is emerging; see the module docstring for how it was chosen.
DEFAULT_THRESHOLD = 12.0
#: What a surprise no float can hold is written as: snapshots and alerts are JSON, which has no
#: infinity (pydantic writes it as null, which then fails to read back).
MAX_SURPRISE = 1e9

Counts = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EmergingConfig:
    #: Surprise in nats, -ln P(X ≥ observed), from which a theme is emerging.
    threshold: float = DEFAULT_THRESHOLD
    #: Fewer reports than this in the window are never emerging, however improbable.
    min_observed: int = 3
    #: The longest trailing window scanned, in buckets.
    max_window: int = 3
    #: Weight of the prior on a theme's share, in pseudo-reports (what a theme with no history has).
    prior_reports: float = 0.5
    #: Prior mean share of traffic of a theme; None: 1 / number of themes.
    prior_share: float | None = None
    #: Extra-Poisson variance of a theme's count (var = m + φ·m²); None: estimated from the history.
    overdispersion: float | None = None
    #: Bounds of the estimated overdispersion (a short history can give 0 or absurd values).
    min_overdispersion: float = 0.01
    max_overdispersion: float = 1.0

    def __post_init__(self) -> None:
        if self.max_window < 1:
            raise ValueError(f"max_window must be at least 1, got {self.max_window}")
        if self.prior_reports <= 0:
            raise ValueError(f"prior_reports must be positive, got {self.prior_reports}")
        if self.prior_share is not None and not 0 < self.prior_share <= 1:
            raise ValueError(f"prior_share must be in (0, 1], got {self.prior_share}")
        if self.overdispersion is not None and self.overdispersion < 0:
            raise ValueError(f"overdispersion must be >= 0, got {self.overdispersion}")


@dataclass(frozen=True)
class EmergingScore:
    theme_id: str
    #: Surprise in nats of the most surprising trailing window (0.0 when no window is above expectation).
    score: float
    #: Reports of the theme in that window.
    observed: int
    #: Reports the theme would have drawn in that window at its usual share of the overall volume.
    expected: float
    is_emerging: bool
    #: Index (into the bucket axis) of the first bucket of that window.
    since: int


def score_emerging(
    theme_ids: Sequence[str],
    counts: npt.ArrayLike,
    totals: npt.ArrayLike,
    config: EmergingConfig | None = None,
) -> list[EmergingScore]:
    """Score every theme's latest buckets against its own past, one `EmergingScore` per theme.

    `counts` is (themes, buckets): reports of theme i in bucket b, oldest bucket first, the last
    bucket the current one. `totals` is (buckets,): all reports in each bucket, including those of
    no theme (the novelty pool), so a theme's share is of the whole traffic. Buckets must be of
    equal length; an empty bucket is fine.
    """
    config = config or EmergingConfig()
    volume = np.asarray(totals, dtype=np.float64)
    matrix = np.asarray(counts, dtype=np.float64)
    if matrix.size == 0 and not theme_ids and volume.ndim == 1:
        matrix = np.zeros((0, volume.shape[0]))
    if volume.ndim != 1 or matrix.shape != (len(theme_ids), volume.shape[0]):
        raise ValueError(
            f"{len(theme_ids)} themes and totals of shape {volume.shape} "
            f"do not match counts of shape {matrix.shape}"
        )
    if np.any(matrix < 0) or np.any(volume < 0):
        raise ValueError("counts and totals must not be negative")
    buckets = matrix.shape[1]
    if buckets == 0:
        return [EmergingScore(theme_id, 0.0, 0, 0.0, False, 0) for theme_id in theme_ids]

    prior_share = config.prior_share or 1.0 / max(len(theme_ids), 1)
    prior_exposure = config.prior_reports / prior_share
    history_end = max(buckets - config.max_window, 0)
    if config.overdispersion is not None:
        phi = config.overdispersion
    else:
        phi = estimate_overdispersion(matrix[:, :history_end], volume[:history_end])
        phi = min(max(phi, config.min_overdispersion), config.max_overdispersion)

    # Cumulative sums from the end: the trailing window w covers buckets [buckets - w, buckets).
    windows = range(1, min(config.max_window, buckets) + 1)
    best_score = np.zeros(len(theme_ids))
    best_observed = np.zeros(len(theme_ids))
    best_expected = np.zeros(len(theme_ids))
    best_since = np.full(len(theme_ids), buckets - 1)
    for w in windows:
        start = buckets - w
        observed = matrix[:, start:].sum(axis=1)
        history = matrix[:, :start].sum(axis=1)
        window_volume = float(volume[start:].sum())
        history_volume = float(volume[:start].sum())
        shape = config.prior_reports + history
        expected = window_volume * shape / (prior_exposure + history_volume)
        surprise = _negative_binomial_surprise(observed, expected, shape, phi)
        better = surprise > best_score
        best_score = np.where(better, surprise, best_score)
        best_observed = np.where(better, observed, best_observed)
        best_expected = np.where(better, expected, best_expected)
        best_since = np.where(better, start, best_since)
        if w == 1:  # the current bucket alone is what is reported when nothing is surprising
            unset = ~better
            best_observed = np.where(unset, observed, best_observed)
            best_expected = np.where(unset, expected, best_expected)

    return [
        EmergingScore(
            theme_id=theme_id,
            score=float(best_score[i]),
            observed=round(float(best_observed[i])),
            expected=float(best_expected[i]),
            is_emerging=bool(best_score[i] >= config.threshold and best_observed[i] >= config.min_observed),
            since=int(best_since[i]),
        )
        for i, theme_id in enumerate(theme_ids)
    ]


def estimate_overdispersion(counts: npt.ArrayLike, totals: npt.ArrayLike) -> float:
    """φ in var = m + φ·m², by moments pooled over themes: how much a theme's count swings from
    bucket to bucket beyond Poisson noise at its average share. 0.0 with fewer than two buckets."""
    matrix = np.asarray(counts, dtype=np.float64)
    volume = np.asarray(totals, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2 or volume.sum() <= 0:
        return 0.0
    share = matrix.sum(axis=1, keepdims=True) / volume.sum()
    expected = share * volume[np.newaxis, :]
    denominator = float((expected**2).sum())
    if denominator <= 0:
        return 0.0
    # E[(x - m)^2 - x] = φ m^2 for a negative binomial; the share is fitted, which removes one
    # bucket's worth of freedom per theme: scale by B / (B - 1).
    buckets = matrix.shape[1]
    excess = float(((matrix - expected) ** 2 - matrix).sum()) * buckets / (buckets - 1)
    return float(max(excess / denominator, 0.0))


def count_by_bucket(
    labels: Sequence[str | None],
    times: npt.ArrayLike,
    *,
    start: float,
    bucket_length: float,
    buckets: int,
) -> tuple[list[str], Counts, Counts]:
    """(theme ids, counts, totals) for `score_emerging` from one theme id (or None: the novelty
    pool) and one time per report. Times and `start` in any one unit (epoch seconds, hours),
    `bucket_length` in the same unit; reports outside [start, start + buckets·bucket_length) are
    ignored. Theme ids come out sorted."""
    if bucket_length <= 0 or buckets < 1:
        raise ValueError("bucket_length must be positive and buckets at least 1")
    moments = np.asarray(times, dtype=np.float64)
    if moments.shape != (len(labels),):
        raise ValueError(f"{len(labels)} labels but times of shape {moments.shape}")
    index = np.floor((moments - start) / bucket_length).astype(np.int64)
    inside = (index >= 0) & (index < buckets)
    theme_ids = sorted({label for label, ok in zip(labels, inside, strict=True) if ok and label is not None})
    row_of = {theme_id: row for row, theme_id in enumerate(theme_ids)}
    counts = np.zeros((len(theme_ids), buckets))
    totals = np.bincount(index[inside], minlength=buckets).astype(np.float64)
    for label, bucket, ok in zip(labels, index, inside, strict=True):
        if ok and label is not None:
            counts[row_of[label], bucket] += 1
    return theme_ids, counts, totals


def _negative_binomial_surprise(
    observed: Counts, expected: Counts, shape: Counts, overdispersion: float
) -> Counts:
    """-ln P(X ≥ observed), X negative binomial with mean `expected` and variance
    m + m²·(1/shape + overdispersion): the Gamma-Poisson predictive, widened by the drift."""
    size = 1.0 / (1.0 / shape + overdispersion)
    mean = np.maximum(expected, 1e-12)
    success = size / (size + mean)
    above = observed > mean
    surprise = np.zeros_like(observed)
    if np.any(above):
        k, n, p = observed[above], size[above], success[above]
        # sf(k - 1) = P(X >= k); logsf keeps its precision far into the tail, but underflows to
        # -inf past it. There P(X >= k) is dominated by P(X = k), whose log stays finite: its
        # surprise is a slight overestimate of the tail's, and JSON can carry it (not infinity).
        log_tail = nbinom.logsf(k - 1, n, p)
        underflow = ~np.isfinite(log_tail)
        if np.any(underflow):
            log_tail[underflow] = nbinom.logpmf(k[underflow], n[underflow], p[underflow])
        surprise[above] = -log_tail
    return np.where(np.isfinite(surprise), surprise, MAX_SURPRISE)
