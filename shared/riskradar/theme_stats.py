"""Per-theme activity over the recluster window: what digests, the strategist API and the
intervention-effect measurement read. Published beside each snapshot as
`themes/v<version>/stats.json` (see riskradar.adapters.s3).

Computed by the recluster job from the window it already holds — each report's theme, time and
the facts triage stored with its embedding (business, role, pseudonymous reporter and subject,
money in USD) — so no table is scanned. Counts are kept per UTC day and per (business, reporter
role) *cell*: any filter a strategist applies (one business, one role, both, none) is a sum of
cells, and a theme's share of traffic is its count over the volume of the same cells. The volume
counts every report of the window, including those in no theme (the novelty pool and reports the
clustering left out), so that a share is of all traffic.

The last day is partial (it ends at `generated_at`); readers that need whole days, such as the
effect measurement, leave it out.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from riskradar.adapters.s3 import ReportFacts

__all__ = [
    "NOVELTY_POOL_ID",
    "STATS_SCHEMA_VERSION",
    "UNKNOWN",
    "CellCounts",
    "SubjectActivity",
    "ThemeActivity",
    "ThemeStats",
    "compute_theme_stats",
]

STATS_SCHEMA_VERSION: Literal["1"] = "1"
#: Business or role of a report whose shard predates report facts.
UNKNOWN: Final = "unknown"
#: The activity of reports in no theme is published under this id.
NOVELTY_POOL_ID: Final = "novelty"
#: Subjects listed per theme, most distinct reporters first.
TOP_SUBJECTS: Final = 5


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CellCounts(_Frozen):
    """Reports per day (aligned with `ThemeStats.days`) of one business and reporter role."""

    business: str
    role: str
    counts: tuple[int, ...]


class SubjectActivity(_Frozen):
    """A subject (seller, listing, order …) reported within a theme, by its pseudonym only."""

    subject_type: str
    subject_hash: str
    distinct_reporters: int = Field(ge=0)
    reports: int = Field(ge=0)
    money_at_risk_usd: float = Field(ge=0)


class ThemeActivity(_Frozen):
    theme_id: str
    reports: int = Field(ge=0)
    #: Only cells with at least one report.
    cells: tuple[CellCounts, ...] = ()
    #: Sum of the amounts reports state, in USD; reports without an amount add nothing.
    money_at_risk_usd: float = Field(default=0.0, ge=0)
    reports_with_amount: int = Field(default=0, ge=0)
    money_by_business_usd: dict[str, float] = Field(default_factory=dict)
    top_subjects: tuple[SubjectActivity, ...] = ()
    first_report_at: datetime | None = None
    last_report_at: datetime | None = None

    def daily(self, days: int, *, business: str | None = None, role: str | None = None) -> list[int]:
        """Reports per day of the cells matching `business` and `role` (None: any)."""
        return _sum_cells(self.cells, days, business, role)


class ThemeStats(_Frozen):
    """Activity of every theme of one snapshot over the recluster window."""

    schema_version: Literal["1"] = STATS_SCHEMA_VERSION
    snapshot_version: int = Field(ge=0)
    generated_at: datetime
    #: UTC days of the window, oldest first; the last one is partial (it ends at `generated_at`).
    days: tuple[date, ...]
    #: Every report of the window per cell, themed or not: the denominator of a theme's share.
    volume: tuple[CellCounts, ...]
    themes: tuple[ThemeActivity, ...]
    #: Reports in no theme (novelty pool or left out by the clustering).
    novelty_pool: ThemeActivity

    def theme(self, theme_id: str) -> ThemeActivity | None:
        if theme_id == NOVELTY_POOL_ID:
            return self.novelty_pool
        return next((theme for theme in self.themes if theme.theme_id == theme_id), None)

    def volume_daily(self, *, business: str | None = None, role: str | None = None) -> list[int]:
        return _sum_cells(self.volume, len(self.days), business, role)

    @property
    def businesses(self) -> tuple[str, ...]:
        return tuple(sorted({cell.business for cell in self.volume}))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted({cell.role for cell in self.volume}))


@dataclass(frozen=True)
class _Window:
    days: tuple[date, ...]
    day_index: npt.NDArray[np.int64]


def compute_theme_stats(
    theme_of_report: Sequence[str | None],
    times: npt.ArrayLike,
    facts: ReportFacts,
    *,
    theme_ids: Sequence[str],
    end: datetime,
    window_days: int,
    snapshot_version: int,
) -> ThemeStats:
    """The activity of `theme_ids` (every theme of the snapshot, even one with no report in the
    window) and of the novelty pool. `theme_of_report[i]` is report i's theme (None: no theme),
    `times[i]` its creation time in epoch seconds; reports outside the window's days are ignored."""
    moments = np.asarray(times, dtype=np.float64)
    if not len(theme_of_report) == len(moments) == len(facts):
        raise ValueError(
            f"{len(theme_of_report)} themes, {len(moments)} times and {len(facts)} facts: one each per report"
        )
    window = _window(moments, end, window_days)
    inside = (window.day_index >= 0) & (window.day_index < len(window.days))
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row in np.flatnonzero(inside).tolist():
        rows_of[theme_of_report[row] or NOVELTY_POOL_ID].append(row)
    businesses = tuple(business or UNKNOWN for business in facts.businesses)
    roles = tuple(role or UNKNOWN for role in facts.reporter_roles)

    def activity(theme_id: str, rows: list[int]) -> ThemeActivity:
        return _activity(theme_id, rows, window, moments, facts, businesses, roles)

    return ThemeStats(
        snapshot_version=snapshot_version,
        generated_at=end.astimezone(UTC),
        days=window.days,
        volume=_cells(np.flatnonzero(inside).tolist(), window, businesses, roles),
        themes=tuple(activity(theme_id, rows_of.get(theme_id, [])) for theme_id in theme_ids),
        novelty_pool=activity(NOVELTY_POOL_ID, rows_of.get(NOVELTY_POOL_ID, [])),
    )


def _window(moments: npt.NDArray[np.float64], end: datetime, window_days: int) -> _Window:
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    last = end.astimezone(UTC).date()
    first = last - timedelta(days=window_days)
    days = tuple(first + timedelta(days=offset) for offset in range(window_days + 1))
    first_midnight = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    day_index = np.floor((moments - first_midnight) / 86_400.0).astype(np.int64)
    # A report stamped after `end` (clock skew) counts in the last day rather than vanishing.
    day_index = np.where(
        (day_index == len(days)) & (moments <= end.timestamp() + 600), len(days) - 1, day_index
    )
    return _Window(days, day_index)


def _cells(
    rows: Iterable[int], window: _Window, businesses: Sequence[str], roles: Sequence[str]
) -> tuple[CellCounts, ...]:
    counts: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        cell = counts.setdefault((businesses[row], roles[row]), [0] * len(window.days))
        cell[int(window.day_index[row])] += 1
    return tuple(
        CellCounts(business=business, role=role, counts=tuple(series))
        for (business, role), series in sorted(counts.items())
    )


def _activity(
    theme_id: str,
    rows: list[int],
    window: _Window,
    moments: npt.NDArray[np.float64],
    facts: ReportFacts,
    businesses: Sequence[str],
    roles: Sequence[str],
) -> ThemeActivity:
    if not rows:
        return ThemeActivity(theme_id=theme_id, reports=0)
    amounts = facts.amounts_usd[rows]
    stated = ~np.isnan(amounts)
    money_by_business: dict[str, float] = defaultdict(float)
    for row, amount in zip(rows, amounts.tolist(), strict=True):
        if amount == amount:  # not NaN
            money_by_business[businesses[row]] += amount
    return ThemeActivity(
        theme_id=theme_id,
        reports=len(rows),
        cells=_cells(rows, window, businesses, roles),
        money_at_risk_usd=round(float(amounts[stated].sum()), 2),
        reports_with_amount=int(stated.sum()),
        money_by_business_usd={
            business: round(total, 2) for business, total in sorted(money_by_business.items())
        },
        top_subjects=_top_subjects(rows, facts),
        first_report_at=datetime.fromtimestamp(float(moments[rows].min()), UTC),
        last_report_at=datetime.fromtimestamp(float(moments[rows].max()), UTC),
    )


def _top_subjects(rows: list[int], facts: ReportFacts) -> tuple[SubjectActivity, ...]:
    reporters: dict[tuple[str, str], set[str]] = defaultdict(set)
    reports: dict[tuple[str, str], int] = defaultdict(int)
    money: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        subject_hash = facts.subject_hashes[row]
        if not subject_hash:
            continue
        key = (facts.subject_types[row] or UNKNOWN, subject_hash)
        reporters[key].add(facts.reporter_hashes[row])
        reports[key] += 1
        amount = float(facts.amounts_usd[row])
        if amount == amount:
            money[key] += amount
    ranked = sorted(reports, key=lambda key: (-len(reporters[key]), -reports[key], key))
    return tuple(
        SubjectActivity(
            subject_type=subject_type,
            subject_hash=subject_hash,
            distinct_reporters=len(reporters[(subject_type, subject_hash)]),
            reports=reports[(subject_type, subject_hash)],
            money_at_risk_usd=round(money[(subject_type, subject_hash)], 2),
        )
        for subject_type, subject_hash in ranked[:TOP_SUBJECTS]
    )


def _sum_cells(cells: Iterable[CellCounts], days: int, business: str | None, role: str | None) -> list[int]:
    total = [0] * days
    for cell in cells:
        if (business is None or cell.business == business) and (role is None or cell.role == role):
            for day, count in enumerate(cell.counts):
                total[day] += count
    return total
