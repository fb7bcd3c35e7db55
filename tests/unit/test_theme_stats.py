"""Per-theme activity over the window: cells, volume, money and subjects."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from riskradar.adapters.s3 import ReportFacts
from riskradar.theme_stats import NOVELTY_POOL_ID, UNKNOWN, ThemeStats, compute_theme_stats

END = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def facts(rows: list[tuple[str, str, str, str, str, float]]) -> ReportFacts:
    """(business, role, reporter, subject type, subject, amount USD or NaN) per report."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return ReportFacts(
        businesses=tuple(columns[0]),
        reporter_roles=tuple(columns[1]),
        reporter_hashes=tuple(columns[2]),
        subject_types=tuple(columns[3]),
        subject_hashes=tuple(columns[4]),
        amounts_usd=np.array(columns[5], dtype=np.float64),
    )


def at(days_ago: int, hour: int = 10) -> float:
    day = (END - timedelta(days=days_ago)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()


def test_counts_are_kept_per_day_business_and_role_and_sum_under_any_filter() -> None:
    rows = [
        ("shop", "user", "r1", "", "", np.nan),
        ("shop", "user", "r2", "", "", np.nan),
        ("shop", "seller", "r3", "", "", np.nan),
        ("ads", "user", "r4", "", "", np.nan),
        ("ads", "user", "r5", "", "", np.nan),
    ]
    stats = compute_theme_stats(
        ["thm-a", "thm-a", "thm-a", "thm-a", None],
        [at(2), at(2), at(1), at(0, hour=9), at(0, hour=11)],
        facts(rows),
        theme_ids=["thm-a", "thm-b"],
        end=END,
        window_days=3,
        snapshot_version=4,
    )
    assert stats.days == tuple(date(2026, 11, d) for d in (17, 18, 19, 20))
    theme = stats.theme("thm-a")
    assert theme is not None
    assert theme.reports == 4
    assert theme.daily(4) == [0, 2, 1, 1]
    assert theme.daily(4, business="shop") == [0, 2, 1, 0]
    assert theme.daily(4, role="seller") == [0, 0, 1, 0]
    assert theme.daily(4, business="ads", role="user") == [0, 0, 0, 1]
    # The volume counts every report, the unthemed one too; a theme's share is of all traffic.
    assert stats.volume_daily() == [0, 2, 1, 2]
    assert stats.volume_daily(business="ads") == [0, 0, 0, 2]
    assert stats.novelty_pool.reports == 1
    assert stats.theme(NOVELTY_POOL_ID) == stats.novelty_pool
    # A theme of the snapshot with nothing in the window is listed, empty.
    empty = stats.theme("thm-b")
    assert empty is not None
    assert empty.reports == 0
    assert empty.daily(4) == [0, 0, 0, 0]
    assert stats.businesses == ("ads", "shop")
    assert stats.roles == ("seller", "user")
    assert theme.first_report_at == datetime.fromtimestamp(at(2), UTC)
    assert theme.last_report_at == datetime.fromtimestamp(at(0, hour=9), UTC)


def test_reports_outside_the_window_are_ignored() -> None:
    stats = compute_theme_stats(
        ["thm-a", "thm-a"],
        [at(10), at(1)],
        facts([("shop", "user", "r1", "", "", np.nan)] * 2),
        theme_ids=["thm-a"],
        end=END,
        window_days=3,
        snapshot_version=1,
    )
    theme = stats.theme("thm-a")
    assert theme is not None
    assert theme.reports == 1
    assert sum(stats.volume_daily()) == 1


def test_money_at_risk_sums_stated_amounts_only() -> None:
    rows = [
        ("shop", "user", "r1", "", "", 120.0),
        ("payments", "user", "r2", "", "", 30.5),
        ("payments", "user", "r3", "", "", np.nan),
    ]
    stats = compute_theme_stats(
        ["thm-a"] * 3,
        [at(1)] * 3,
        facts(rows),
        theme_ids=["thm-a"],
        end=END,
        window_days=3,
        snapshot_version=1,
    )
    theme = stats.theme("thm-a")
    assert theme is not None
    assert theme.money_at_risk_usd == pytest.approx(150.5)
    assert theme.reports_with_amount == 2
    assert theme.money_by_business_usd == {"payments": 30.5, "shop": 120.0}


def test_top_subjects_rank_by_distinct_reporters_not_by_reports() -> None:
    rows = [
        # seller s1: one reporter, five reports (a single angry customer)
        *[("shop", "user", "r1", "seller", "s1", np.nan)] * 5,
        # seller s2: three distinct reporters
        ("shop", "user", "r2", "seller", "s2", 10.0),
        ("shop", "user", "r3", "seller", "s2", 20.0),
        ("shop", "user", "r4", "seller", "s2", np.nan),
        # no subject: never listed
        ("shop", "user", "r5", "", "", np.nan),
    ]
    stats = compute_theme_stats(
        ["thm-a"] * len(rows),
        [at(1)] * len(rows),
        facts(rows),
        theme_ids=["thm-a"],
        end=END,
        window_days=3,
        snapshot_version=1,
    )
    theme = stats.theme("thm-a")
    assert theme is not None
    subjects = [(s.subject_hash, s.distinct_reporters, s.reports) for s in theme.top_subjects]
    assert subjects == [("s2", 3, 3), ("s1", 1, 5)]
    assert theme.top_subjects[0].money_at_risk_usd == pytest.approx(30.0)
    assert theme.top_subjects[0].subject_type == "seller"


def test_reports_without_facts_count_as_unknown_business_and_role() -> None:
    stats = compute_theme_stats(
        ["thm-a", None],
        [at(1), at(1)],
        ReportFacts.unknown(2),
        theme_ids=["thm-a"],
        end=END,
        window_days=3,
        snapshot_version=1,
    )
    assert stats.businesses == (UNKNOWN,)
    assert stats.roles == (UNKNOWN,)
    assert stats.volume_daily(business=UNKNOWN) == [0, 0, 2, 0]


def test_stats_survive_json_as_published() -> None:
    stats = compute_theme_stats(
        ["thm-a"],
        [at(1)],
        facts([("shop", "creator", "r1", "order", "o1", 5.0)]),
        theme_ids=["thm-a"],
        end=END,
        window_days=3,
        snapshot_version=2,
    )
    again = ThemeStats.model_validate(json.loads(stats.model_dump_json()))
    assert again == stats


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one each per report"):
        compute_theme_stats(
            ["thm-a"],
            [at(1), at(1)],
            ReportFacts.unknown(2),
            theme_ids=["thm-a"],
            end=END,
            window_days=3,
            snapshot_version=1,
        )
