"""Build a `Digest` from a snapshot, its activity, the strategists' curation and the interventions.

Order: emerging themes first, most surprising first (a benign verdict sends an emerging theme to
the end of that group: a strategist has already looked at it); then every other theme by
priority (riskradar.digest.priority). The first `DigestLimits.max_cards` themes are full cards
(at most `max_emerging_cards` of them emerging, so a burst of new themes cannot push every judged
theme off the page), and so is every theme with an active or scheduled intervention, whatever its
rank; the rest are summary rows, in the same order, so a page with 150 themes stays short and fast
and nothing is hidden.

Curation (the strategist's record) wins over what the snapshot carries when it is newer than the
snapshot — a verdict given after the recluster run — or when the snapshot carries none (a run that
did not apply it yet). Otherwise the snapshot's value stands: the run applied the curation then.

Pure: no I/O, no clock (`generated_at` is the reference for every "ago" and for intervention status).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from riskradar.digest.model import (
    CellSeries,
    Digest,
    DigestTotals,
    EffectView,
    EmergingView,
    InterventionView,
    LineageView,
    NoveltyPoolView,
    OnlineCatchView,
    PriorityReason,
    SubjectView,
    ThemeCard,
    ThemeRef,
    ThemeSummary,
    VerdictView,
)
from riskradar.digest.priority import DEFAULT_PRIORITY, PriorityInputs, ThemePriorityConfig, theme_priority
from riskradar.strategist.models import Intervention, ThemeCuration, Verdict
from riskradar.theme_stats import CellCounts, ThemeActivity, ThemeStats
from riskradar.themes import LineageEvent, ThemeInfo, ThemeSnapshot

__all__ = ["RECENT_DAYS", "DigestLimits", "build_digest"]

#: Growth compares a theme's share of reports over the last two days (yesterday and the partial
#: today) with its share before them: one partial day alone is too noisy right after midnight.
RECENT_DAYS = 2
#: Ended interventions are listed while they ended within the window (their effect is the news);
#: without activity statistics, within this many days.
_ENDED_LOOKBACK_WITHOUT_STATS = timedelta(days=14)
InterventionStatus = Literal["active", "scheduled", "ended"]
#: How far a chain of merges is followed to place an intervention on the surviving theme.
_MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class DigestLimits:
    """How many themes the digest shows in full; the rest become summary rows."""

    max_cards: int = 15
    max_emerging_cards: int = 8

    def __post_init__(self) -> None:
        if self.max_cards < 0 or self.max_emerging_cards < 0:
            raise ValueError("card limits must not be negative")


@dataclass(frozen=True)
class _Curated:
    label: str
    named_by_strategist: bool
    verdict: VerdictView | None
    merged_into: str | None


@dataclass(frozen=True)
class _Ranked:
    theme: ThemeInfo
    curated: _Curated
    activity: ThemeActivity | None
    cells: tuple[CellSeries, ...]
    daily: tuple[int, ...]
    growth: float | None
    is_new: bool
    priority: float
    reasons: tuple[PriorityReason, ...]

    @property
    def reports(self) -> int:
        return self.activity.reports if self.activity is not None else 0

    @property
    def emerging(self) -> bool:
        return self.theme.emerging and self.curated.merged_into is None


def build_digest(
    snapshot: ThemeSnapshot,
    stats: ThemeStats | None,
    *,
    curation: Mapping[str, ThemeCuration],
    interventions: Sequence[tuple[Intervention, EffectView | None]],
    generated_at: datetime,
    limits: DigestLimits = DigestLimits(),
    priority: ThemePriorityConfig = DEFAULT_PRIORITY,
) -> Digest:
    """The digest of `snapshot`. `stats` is the activity published with it (None when missing:
    counts, money and subjects are then empty and a caveat says so)."""
    generated_at = generated_at.astimezone(UTC)
    caveats = _caveats(snapshot, stats)
    days = stats.days if stats is not None else ()
    volume_daily = stats.volume_daily() if stats is not None else []
    window_start = (
        datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
        if days
        else generated_at - _ENDED_LOOKBACK_WITHOUT_STATS
    )
    placed = _place_interventions(snapshot, curation, interventions, generated_at, window_start)

    ranked: list[_Ranked] = []
    for theme in snapshot.themes:
        activity = stats.theme(theme.theme_id) if stats is not None else None
        curated = _curate(theme, curation.get(theme.theme_id), snapshot.created_at)
        daily = tuple(activity.daily(len(days))) if activity is not None else tuple(0 for _ in days)
        growth = _growth(daily, volume_daily)
        ranked.append(_rank(theme, curated, activity, daily, growth, snapshot.version, priority))

    emerging = sorted(
        (item for item in ranked if item.emerging),
        key=lambda item: (
            item.curated.verdict is not None and item.curated.verdict.verdict is Verdict.BENIGN,
            -(item.theme.emerging_detail.surprise if item.theme.emerging_detail else 0.0),
            -item.reports,
            item.theme.theme_id,
        ),
    )
    others = sorted(
        (item for item in ranked if not item.emerging),
        key=lambda item: (-item.priority, -item.reports, item.theme.theme_id),
    )
    emerging_cards = min(len(emerging), limits.max_emerging_cards, limits.max_cards)
    full = emerging[:emerging_cards] + others[: max(0, limits.max_cards - emerging_cards)]
    summarised = emerging[emerging_cards:] + others[max(0, limits.max_cards - emerging_cards) :]
    # A theme a strategist is acting on keeps its card whatever its rank: how the intervention is
    # doing is what they come back for.
    acted_on = {
        theme_id
        for theme_id, views in placed.items()
        if theme_id is not None and any(view.status != "ended" for view in views)
    }
    full += [item for item in summarised if item.theme.theme_id in acted_on]
    summarised = [item for item in summarised if item.theme.theme_id not in acted_on]

    new_themes = tuple(
        ThemeRef(theme_id=item.theme.theme_id, label=item.curated.label) for item in ranked if item.is_new
    )
    pool = stats.novelty_pool if stats is not None else None
    theme_money = sum(item.activity.money_at_risk_usd for item in ranked if item.activity is not None)
    return Digest(
        generated_at=generated_at,
        snapshot_version=snapshot.version,
        snapshot_created_at=snapshot.created_at,
        first_run=bool(ranked) and all(item.is_new for item in ranked),
        days=days,
        businesses=stats.businesses if stats is not None else (),
        roles=stats.roles if stats is not None else (),
        volume=_series(stats.volume) if stats is not None else (),
        totals=DigestTotals(
            reports=sum(volume_daily) if stats is not None else sum(t.size for t in snapshot.themes),
            themed_reports=sum(item.reports for item in ranked),
            themes=len(ranked),
            emerging=len(emerging),
            new_themes=len(new_themes),
            dormant_themes=len(snapshot.dormant),
            money_at_risk_usd=round(theme_money + (pool.money_at_risk_usd if pool else 0.0), 2),
            verdicts=dict(
                sorted(
                    Counter(
                        item.curated.verdict.verdict.value for item in ranked if item.curated.verdict
                    ).items()
                )
            ),
        ),
        themes=tuple(
            _card(item, rank, placed.get(item.theme.theme_id, ()), snapshot.version)
            for rank, item in enumerate(full, start=1)
        ),
        other_themes=tuple(_summary(item, rank) for rank, item in enumerate(summarised, start=len(full) + 1)),
        new_themes=new_themes,
        novelty_pool=NoveltyPoolView(
            reports=pool.reports if pool else 0,
            daily=tuple(pool.daily(len(days))) if pool else tuple(0 for _ in days),
            cells=_series(pool.cells) if pool else (),
            money_at_risk_usd=pool.money_at_risk_usd if pool else 0.0,
            money_by_business_usd=dict(pool.money_by_business_usd) if pool else {},
        ),
        other_interventions=placed.get(None, ()),
        caveats=caveats,
        priority_method=priority.method(),
    )


def _caveats(snapshot: ThemeSnapshot, stats: ThemeStats | None) -> tuple[str, ...]:
    if stats is None:
        return (
            "No activity statistics were published with this snapshot: counts over time, money at risk "
            "and subjects are missing, and themes are ordered on verdicts and size alone.",
        )
    if stats.snapshot_version != snapshot.version:
        return (
            f"Activity is from the window of snapshot v{stats.snapshot_version}, not v{snapshot.version}: "
            "themes born since have no counts yet.",
        )
    return ()


def _curate(theme: ThemeInfo, record: ThemeCuration | None, snapshot_created_at: datetime) -> _Curated:
    snapshot_verdict = _verdict(theme.verdict)
    if record is None:
        return _Curated(
            theme.label,
            theme.named_by_strategist,
            VerdictView(verdict=snapshot_verdict) if snapshot_verdict else None,
            None,
        )
    newer = record.updated_at > snapshot_created_at
    label, named = theme.label, theme.named_by_strategist
    if record.name and (newer or not named):
        label, named = record.name, True
    verdict = snapshot_verdict
    if record.verdict is not None and (newer or snapshot_verdict is None):
        verdict = record.verdict
    view = None
    if verdict is not None:
        # The note and author belong to the curation's verdict; a different verdict from the
        # snapshot is shown without them rather than with someone else's reasons.
        view = (
            VerdictView(
                verdict=verdict,
                note=record.verdict_note,
                updated_by=record.updated_by,
                updated_at=record.updated_at,
            )
            if verdict is record.verdict
            else VerdictView(verdict=verdict)
        )
    return _Curated(label, named, view, record.merged_into)


def _verdict(value: str | None) -> Verdict | None:
    try:
        return Verdict(value) if value else None
    except ValueError:
        return None  # a verdict this version does not know: shown as none rather than failing the digest


def _growth(daily: Sequence[int], volume: Sequence[int]) -> float | None:
    """The theme's share of reports in the last RECENT_DAYS days over its share before them.

    Shares, not counts: a busy day for everyone is not growth, and partial first and last days
    cancel out. Half a report is added before, so a theme with none before has a finite growth."""
    if len(daily) <= RECENT_DAYS or len(volume) != len(daily):
        return None
    recent_volume, before_volume = sum(volume[-RECENT_DAYS:]), sum(volume[:-RECENT_DAYS])
    if recent_volume == 0 or before_volume == 0:
        return None
    recent_share = sum(daily[-RECENT_DAYS:]) / recent_volume
    before_share = (sum(daily[:-RECENT_DAYS]) + 0.5) / before_volume
    return round(recent_share / before_share, 2)


def _rank(
    theme: ThemeInfo,
    curated: _Curated,
    activity: ThemeActivity | None,
    daily: tuple[int, ...],
    growth: float | None,
    snapshot_version: int,
    config: ThemePriorityConfig,
) -> _Ranked:
    top = activity.top_subjects[0] if activity is not None and activity.top_subjects else None
    inputs = PriorityInputs(
        verdict=curated.verdict.verdict if curated.verdict else None,
        emerging=theme.emerging,
        merged_into=curated.merged_into,
        money_at_risk_usd=activity.money_at_risk_usd if activity is not None else 0.0,
        max_distinct_reporters=top.distinct_reporters if top is not None else 0,
        subject_type=top.subject_type if top is not None else None,
        growth=growth,
        recent_reports=sum(daily[-RECENT_DAYS:]),
        reports=activity.reports if activity is not None else theme.size,
    )
    score, reasons = theme_priority(inputs, config)
    is_new = (
        theme.lineage is not None
        and theme.lineage.event is LineageEvent.BORN
        and theme.lineage.version == snapshot_version
    )
    return _Ranked(
        theme=theme,
        curated=curated,
        activity=activity,
        cells=_series(activity.cells) if activity is not None else (),
        daily=daily,
        growth=growth,
        is_new=is_new,
        priority=score,
        reasons=reasons,
    )


def _card(
    item: _Ranked, rank: int, interventions: Sequence[InterventionView], snapshot_version: int
) -> ThemeCard:
    theme, activity = item.theme, item.activity
    detail = theme.emerging_detail
    return ThemeCard(
        theme_id=theme.theme_id,
        rank=rank,
        label=item.curated.label,
        named_by_strategist=item.curated.named_by_strategist,
        keywords=theme.keywords,
        examples=theme.examples[:3],
        verdict=item.curated.verdict,
        merged_into=item.curated.merged_into,
        emerging=(
            EmergingView(
                detected_at=detail.since,
                surprise=detail.surprise,
                recent_reports=detail.recent_reports,
                expected_reports=detail.expected_reports,
                growth=round(detail.recent_reports / detail.expected_reports, 2)
                if detail.expected_reports
                else None,
                window_start=detail.window_start,
            )
            if item.emerging and detail is not None  # a theme merged away is emerging no more
            else None
        ),
        is_new=item.is_new,
        lineage=(
            LineageView(
                event=theme.lineage.event,
                this_run=theme.lineage.version == snapshot_version,
                parents=tuple(ThemeRef(theme_id=p.theme_id, label=p.label) for p in theme.lineage.parents),
            )
            if theme.lineage is not None
            else None
        ),
        caught_online_as=tuple(
            OnlineCatchView(provisional_id=p.provisional_id, first_alerted_at=p.first_alerted_at)
            for p in theme.online_precursors
        ),
        first_seen=theme.first_seen,
        size=theme.size,
        reports=item.reports,
        daily=item.daily,
        cells=item.cells,
        growth=item.growth,
        money_at_risk_usd=activity.money_at_risk_usd if activity is not None else 0.0,
        reports_with_amount=activity.reports_with_amount if activity is not None else 0,
        money_by_business_usd=dict(activity.money_by_business_usd) if activity is not None else {},
        top_subjects=tuple(
            SubjectView(
                subject_type=subject.subject_type,
                subject_hash=subject.subject_hash,
                distinct_reporters=subject.distinct_reporters,
                reports=subject.reports,
                money_at_risk_usd=subject.money_at_risk_usd,
            )
            for subject in (activity.top_subjects if activity is not None else ())
        ),
        interventions=tuple(interventions),
        priority=item.priority,
        priority_reasons=item.reasons,
    )


def _summary(item: _Ranked, rank: int) -> ThemeSummary:
    subjects = item.activity.top_subjects if item.activity is not None else ()
    return ThemeSummary(
        theme_id=item.theme.theme_id,
        rank=rank,
        label=item.curated.label,
        verdict=item.curated.verdict.verdict if item.curated.verdict else None,
        emerging=item.emerging,
        is_new=item.is_new,
        reports=item.reports,
        daily=item.daily,
        cells=item.cells,
        money_at_risk_usd=item.activity.money_at_risk_usd if item.activity is not None else 0.0,
        money_by_business_usd=dict(item.activity.money_by_business_usd) if item.activity is not None else {},
        max_distinct_reporters=max((subject.distinct_reporters for subject in subjects), default=0),
        priority=item.priority,
    )


def _series(cells: Sequence[CellCounts]) -> tuple[CellSeries, ...]:
    return tuple(CellSeries(business=cell.business, role=cell.role, counts=cell.counts) for cell in cells)


def _place_interventions(
    snapshot: ThemeSnapshot,
    curation: Mapping[str, ThemeCuration],
    interventions: Sequence[tuple[Intervention, EffectView | None]],
    generated_at: datetime,
    window_start: datetime,
) -> dict[str | None, tuple[InterventionView, ...]]:
    """Interventions worth showing, by the snapshot theme they belong to (None: no such theme).

    An intervention on a theme that was merged since follows the merge to the surviving theme."""
    theme_ids = {theme.theme_id for theme in snapshot.themes}
    placed: dict[str | None, list[InterventionView]] = {}
    for intervention, effect in interventions:
        status = _status(intervention, generated_at)
        if status == "ended" and intervention.end is not None and intervention.end < window_start:
            continue
        theme_id = _surviving_theme(intervention.theme_id, theme_ids, curation)
        view = InterventionView(
            intervention_id=intervention.intervention_id,
            theme_id=intervention.theme_id,
            business=intervention.business,
            action_type=intervention.action_type,
            action=intervention.action,
            start=intervention.start,
            end=intervention.end,
            status=status,
            created_by=intervention.created_by,
            effect=effect,
        )
        placed.setdefault(theme_id, []).append(view)
    order = {"active": 0, "scheduled": 1, "ended": 2}
    return {
        theme_id: tuple(sorted(views, key=lambda view: (order[view.status], -view.start.timestamp())))
        for theme_id, views in placed.items()
    }


def _surviving_theme(theme_id: str, theme_ids: set[str], curation: Mapping[str, ThemeCuration]) -> str | None:
    """The snapshot theme that `theme_id` is or was merged into (None: neither)."""
    current = theme_id
    for _ in range(_MAX_MERGE_HOPS):
        if current in theme_ids:
            return current
        record = curation.get(current)
        if record is None or record.merged_into is None:
            return None
        current = record.merged_into
    return None


def _status(intervention: Intervention, at: datetime) -> InterventionStatus:
    if intervention.start > at:
        return "scheduled"
    return "active" if intervention.is_active(at) else "ended"
