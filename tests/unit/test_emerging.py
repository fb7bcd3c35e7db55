"""Batch emerging score on hand-made count series (seeded, no model)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import nbinom

from riskradar.emerging import (
    DEFAULT_THRESHOLD,
    EmergingConfig,
    EmergingScore,
    count_by_bucket,
    estimate_overdispersion,
    score_emerging,
)
from riskradar.themes import EmergingDetail

DAYS = 14
SHARES = np.array([0.30, 0.20, 0.15, 0.10, 0.08, 0.07, 0.05, 0.05])
THEMES = [f"theme-{i}" for i in range(len(SHARES))]


def steady_traffic(seed: int, days: int = DAYS, volume: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    """Poisson daily volume, multinomial split over themes with a mildly drifting mix."""
    rng = np.random.default_rng(seed)
    totals = rng.poisson(volume, days).astype(float)
    counts = np.zeros((len(SHARES), days))
    log_shares = np.log(SHARES)
    for day in range(days):
        log_shares = log_shares + rng.normal(0.0, 0.05, len(SHARES))
        shares = np.exp(log_shares) / np.exp(log_shares).sum()
        counts[:, day] = rng.multinomial(int(totals[day]), shares)
    return counts, totals


def by_id(scores: list[EmergingScore]) -> dict[str, EmergingScore]:
    return {score.theme_id: score for score in scores}


@pytest.mark.parametrize("seed", range(20))
def test_steady_traffic_raises_no_alert(seed: int) -> None:
    counts, totals = steady_traffic(seed)
    assert not any(score.is_emerging for score in score_emerging(THEMES, counts, totals))


def test_a_step_up_is_emerging_from_the_step() -> None:
    counts, totals = steady_traffic(1)
    counts[3, -1] += 60  # theme-3 usually draws ~40 a day; today it draws ~100
    totals[-1] += 60
    scores = by_id(score_emerging(THEMES, counts, totals))
    step = scores["theme-3"]
    assert step.is_emerging
    assert step.since == DAYS - 1
    assert step.observed == counts[3, -1]
    assert step.expected == pytest.approx(SHARES[3] * totals[-1], rel=0.3)
    assert step.score >= DEFAULT_THRESHOLD
    assert not any(score.is_emerging for theme_id, score in scores.items() if theme_id != "theme-3")


def test_a_theme_growing_with_the_overall_volume_is_not_emerging() -> None:
    counts, totals = steady_traffic(2)
    counts[:, -1] *= 3  # a busy day for everyone: every share stays where it was
    totals[-1] *= 3
    assert not any(score.is_emerging for score in score_emerging(THEMES, counts, totals))


def test_a_new_theme_from_zero_is_emerging_after_a_few_reports() -> None:
    counts, totals = steady_traffic(3)
    ids = [*THEMES, "new"]
    new_row = np.zeros((1, DAYS))
    flagged_at = None
    for reports in range(1, 20):
        new_row[0, -1] = reports
        scores = by_id(score_emerging(ids, np.vstack([counts, new_row]), totals + new_row[0]))
        if scores["new"].is_emerging:
            flagged_at = reports
            break
    assert flagged_at is not None
    assert 3 <= flagged_at <= 8, flagged_at
    assert scores["new"].since == DAYS - 1


def test_growth_over_several_buckets_is_caught_by_the_longer_windows() -> None:
    counts, totals = steady_traffic(4)
    # theme-6 (~20 a day) at +35 % for three days: no single day is extreme, the three together are.
    extra = np.array([7.0, 7.0, 7.0])
    counts[6, -3:] += extra
    totals[-3:] += extra
    one_day = by_id(score_emerging(THEMES, counts, totals, EmergingConfig(max_window=1, threshold=6.0)))
    three_days = by_id(score_emerging(THEMES, counts, totals, EmergingConfig(max_window=3, threshold=6.0)))
    assert three_days["theme-6"].score > one_day["theme-6"].score
    assert three_days["theme-6"].since == DAYS - 3


def test_the_score_is_the_negative_binomial_tail_in_nats() -> None:
    counts = np.array([[10.0, 10.0, 10.0, 25.0]])
    totals = np.array([100.0, 100.0, 100.0, 100.0])
    config = EmergingConfig(max_window=1, overdispersion=0.0, prior_reports=1.0, prior_share=0.1)
    [score] = score_emerging(["a"], counts, totals, config)
    shape = 1.0 + 30.0
    mean = 100.0 * shape / (1.0 / 0.1 + 300.0)
    assert score.expected == pytest.approx(mean)
    expected = -nbinom.logsf(24, shape, shape / (shape + mean))
    assert score.score == pytest.approx(expected)
    assert score.observed == 25


def test_below_min_observed_never_emerging() -> None:
    counts = np.array([[0.0] * 13 + [2.0]])
    totals = np.full(14, 400.0)
    [score] = score_emerging(["rare"], counts, totals, EmergingConfig(min_observed=3, threshold=1.0))
    assert score.score > 1.0
    assert not score.is_emerging


def test_nothing_above_expectation_scores_zero() -> None:
    counts = np.array([[10.0, 10.0, 10.0, 5.0]])
    [score] = score_emerging(["a"], counts, np.full(4, 100.0))
    assert score == EmergingScore("a", 0.0, 5, score.expected, False, 3)


def test_no_buckets_and_no_themes() -> None:
    assert score_emerging(["a"], np.zeros((1, 0)), np.zeros(0)) == [EmergingScore("a", 0.0, 0, 0.0, False, 0)]
    assert score_emerging([], np.zeros((0, 5)), np.full(5, 10.0)) == []


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="do not match"):
        score_emerging(["a"], np.ones((1, 3)), np.ones(4))
    with pytest.raises(ValueError, match="negative"):
        score_emerging(["a"], -np.ones((1, 3)), np.ones(3))
    with pytest.raises(ValueError, match="max_window"):
        EmergingConfig(max_window=0)
    with pytest.raises(ValueError, match="prior_share"):
        EmergingConfig(prior_share=0.0)


def test_overdispersion_estimate() -> None:
    rng = np.random.default_rng(7)
    totals = np.full(60, 1000.0)
    poisson = rng.poisson(50.0, (30, 60)).astype(float)
    assert estimate_overdispersion(poisson, totals) == pytest.approx(0.0, abs=0.01)
    phi = 0.1  # negative binomial with var = m + 0.1 m^2
    size = 1 / phi
    mixed = rng.negative_binomial(size, size / (size + 50.0), (30, 60)).astype(float)
    assert estimate_overdispersion(mixed, totals) == pytest.approx(phi, rel=0.25)
    assert estimate_overdispersion(np.ones((3, 1)), np.ones(1)) == 0.0


def test_drifting_traffic_widens_the_prediction() -> None:
    counts, totals = steady_traffic(5)
    counts[0, -1] = round(counts[0, -1] * 1.25)  # +25 % on the biggest theme: within usual drift
    assert not by_id(score_emerging(THEMES, counts, totals))["theme-0"].is_emerging
    poisson_only = score_emerging(
        THEMES, counts, totals, EmergingConfig(overdispersion=0.0, min_overdispersion=0.0)
    )
    assert (
        by_id(poisson_only)["theme-0"].score > by_id(score_emerging(THEMES, counts, totals))["theme-0"].score
    )


def test_count_by_bucket() -> None:
    labels = ["a", "b", None, "a", "a", "c"]
    times = [0.5, 1.5, 1.7, 2.2, 2.9, 9.0]  # hours; "c" falls outside the 3 buckets
    ids, counts, totals = count_by_bucket(labels, times, start=0.0, bucket_length=1.0, buckets=3)
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(counts, [[1, 0, 2], [0, 1, 0]])
    np.testing.assert_array_equal(totals, [1, 2, 2])  # the novelty-pool report counts in the volume
    with pytest.raises(ValueError, match="bucket_length"):
        count_by_bucket(labels, times, start=0.0, bucket_length=0.0, buckets=3)
    with pytest.raises(ValueError, match="labels but times"):
        count_by_bucket(labels, times[:2], start=0.0, bucket_length=1.0, buckets=3)


def test_scores_are_finite_however_far_into_the_tail_and_keep_their_order() -> None:
    """Past where the tail probability underflows, the score stays finite (snapshots and alerts
    are JSON, which has no infinity) and still grows with the burst."""
    counts = np.array([[0.0] * 13 + [5000.0], [0.0] * 13 + [20000.0], [0.0] * 13 + [200.0]])
    flood, bigger, smaller = score_emerging(["flood", "bigger", "smaller"], counts, np.full(14, 30000.0))
    assert all(math.isfinite(score.score) and score.is_emerging for score in (flood, bigger, smaller))
    assert smaller.score < flood.score < bigger.score
    now = datetime(2026, 11, 20, tzinfo=UTC)
    detail = EmergingDetail(
        since=now,
        surprise=bigger.score,
        recent_reports=20000,
        expected_reports=bigger.expected,
        window_start=now,
    )
    assert EmergingDetail.model_validate_json(detail.model_dump_json()) == detail
