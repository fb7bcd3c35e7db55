"""The strategist use cases behind the strategist API: read themes, judge them, merge them, record
interventions, read the audit trail.

Reads combine three sources: the current theme snapshot (what the recluster job found), its
per-theme activity (riskradar.theme_stats, published with it) and the strategist's records
(curation, interventions). A verdict or a name takes effect in triage from the next snapshot on:
the recluster job applies the curation table to the themes it carries forward. Until then the API
already shows the strategist's verdict, so that two strategists do not judge the same theme twice.

Every action is stored with its audit entry in one transaction (riskradar.adapters.strategist).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from riskradar.adapters.strategist import ConcurrentChange
from riskradar.effect import (
    EffectConfig,
    InterventionEffect,
    InterventionPeriod,
    measure_effect,
    select_controls,
)
from riskradar.strategist.access import Principal
from riskradar.strategist.models import (
    AuditAction,
    AuditEntry,
    DailyCounts,
    Intervention,
    InterventionRequest,
    MergeRequest,
    ThemeCuration,
    ThemeDetail,
    ThemeStatus,
    ThemeView,
    VerdictRequest,
)
from riskradar.theme_stats import ThemeActivity, ThemeStats
from riskradar.themes import ThemeInfo, ThemeSnapshot

__all__ = ["Conflict", "NotFound", "StrategistService", "ThemeFilters", "measure_intervention"]


class NotFound(Exception):
    """No such theme or intervention (HTTP 404)."""


class Conflict(Exception):
    """The action contradicts the current state (HTTP 409): e.g. the theme was merged away."""


class SnapshotReader(Protocol):
    def current(self) -> ThemeSnapshot: ...

    def current_document(self, name: str) -> bytes | None: ...


class StrategistRecords(Protocol):
    def curation(self, theme_id: str) -> ThemeCuration | None: ...

    def all_curation(self) -> dict[str, ThemeCuration]: ...

    def save_curation(self, records: list[ThemeCuration], audit: AuditEntry) -> None: ...

    def intervention(self, intervention_id: str) -> Intervention | None: ...

    def interventions(self, *, theme_id: str | None = None) -> list[Intervention]: ...

    def add_intervention(self, intervention: Intervention, audit: AuditEntry) -> None: ...

    def audit_entries(
        self, *, limit: int = 50, before: str | None = None, target_id: str | None = None
    ) -> tuple[list[AuditEntry], str | None]: ...


@dataclass(frozen=True)
class ThemeFilters:
    #: Only themes with reports of this business in the window.
    business: str | None = None
    status: ThemeStatus | None = None
    emerging: bool | None = None


@dataclass(frozen=True)
class _Current:
    snapshot: ThemeSnapshot
    stats: ThemeStats | None
    curation: dict[str, ThemeCuration]


@dataclass
class StrategistService:
    snapshots: SnapshotReader
    records: StrategistRecords
    clock: Callable[[], datetime]
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex

    # ------------------------------------------------------------------ reads

    def list_themes(self, principal: Principal, filters: ThemeFilters) -> list[ThemeView]:
        principal.require_reader()
        current = self._current()
        themes = [
            self._view(theme, status, current)
            for theme, status in _all_themes(current.snapshot, current.curation)
        ]
        chosen = [
            view
            for view in themes
            if (filters.business is None or view.reports_by_business.get(filters.business, 0) > 0)
            and (filters.status is None or view.status is filters.status)
            and (filters.emerging is None or (view.status is ThemeStatus.EMERGING) is filters.emerging)
        ]
        order = {
            ThemeStatus.EMERGING: 0,
            ThemeStatus.ACTIVE: 1,
            ThemeStatus.DORMANT: 2,
            ThemeStatus.MERGED: 3,
        }
        return sorted(chosen, key=lambda view: (order[view.status], -view.reports_in_window, view.theme_id))

    def theme(self, principal: Principal, theme_id: str) -> ThemeDetail:
        principal.require_reader()
        current = self._current()
        theme, status = self._find(current, theme_id)
        view = self._view(theme, status, current)
        activity = current.stats.theme(theme_id) if current.stats else None
        days = current.stats.days if current.stats else ()
        return ThemeDetail(
            **view.model_dump(),
            examples=theme.examples,
            lineage=theme.lineage,
            days=days,
            counts=_daily_counts(activity, current.stats) if activity and current.stats else None,
            top_subjects=activity.top_subjects if activity else (),
            absorbed=current.curation[theme_id].absorbed if theme_id in current.curation else (),
            interventions=tuple(self.records.interventions(theme_id=theme_id)),
            curation=current.curation.get(theme_id),
        )

    def intervention(self, principal: Principal, intervention_id: str) -> Intervention:
        principal.require_reader()
        found = self.records.intervention(intervention_id)
        if found is None:
            raise NotFound(f"no intervention {intervention_id}")
        return found

    def interventions(
        self, principal: Principal, *, theme_id: str | None = None, business: str | None = None
    ) -> list[Intervention]:
        principal.require_reader()
        found = self.records.interventions(theme_id=theme_id)
        return [item for item in found if business is None or item.business == business]

    def effect(self, principal: Principal, intervention_id: str) -> InterventionEffect:
        """The intervention's measured effect so far (riskradar.effect), from the daily counts of
        the current snapshot's window in the intervention's business."""
        intervention = self.intervention(principal, intervention_id)
        current = self._current()
        others = [item for item in self.records.interventions() if item.intervention_id != intervention_id]
        return measure_intervention(intervention, current.stats, others, today=self.clock().date())

    def audit(
        self, principal: Principal, *, limit: int, before: str | None, target_id: str | None
    ) -> tuple[list[AuditEntry], str | None]:
        principal.require_reader()
        return self.records.audit_entries(limit=limit, before=before, target_id=target_id)

    # ------------------------------------------------------------------ actions

    def record_verdict(
        self, principal: Principal, theme_id: str, request: VerdictRequest, *, request_id: str
    ) -> ThemeCuration:
        current = self._current()
        self._find(current, theme_id, acting=True)
        principal.require_strategist(self._businesses_of(current, theme_id))
        before = current.curation.get(theme_id)
        now = self.clock()
        after = ThemeCuration(
            theme_id=theme_id,
            verdict=request.verdict,
            verdict_note=request.note,
            name=request.name if request.name is not None else (before.name if before else None),
            merged_into=None,
            absorbed=before.absorbed if before else (),
            updated_by=principal.subject,
            updated_at=now,
            revision=before.revision + 1 if before else 1,
        )
        self._save([after], principal, AuditAction.VERDICT, "theme", theme_id, before, after, now, request_id)
        return after

    def merge(
        self, principal: Principal, theme_id: str, request: MergeRequest, *, request_id: str
    ) -> ThemeCuration:
        """Merge `theme_id` into `request.into`: from the next recluster on, the reports of both are
        one theme under the target's id, name and verdict."""
        if request.into == theme_id:
            raise Conflict("a theme cannot be merged into itself")
        current = self._current()
        self._find(current, theme_id, acting=True)
        _, target_status = self._find(current, request.into, acting=True)
        if target_status is ThemeStatus.DORMANT:
            # A dormant theme is never matched again: the merged reports would come back under a
            # new id, without the name and verdict of either theme.
            raise Conflict(f"theme {request.into} is dormant; merge into a theme that is still active")
        source_businesses = self._businesses_of(current, theme_id)
        target_businesses = self._businesses_of(current, request.into)
        principal.require_strategist(
            None
            if source_businesses is None or target_businesses is None
            else source_businesses | target_businesses
        )
        source_before = current.curation.get(theme_id)
        target_before = current.curation.get(request.into)
        now = self.clock()
        source = _curation_change(
            source_before,
            theme_id,
            principal.subject,
            now,
            merged_into=request.into,
            verdict_note=request.note,
        )
        absorbed = (target_before.absorbed if target_before else ()) + (
            theme_id,
            *(source_before.absorbed if source_before else ()),
        )
        target = _curation_change(
            target_before, request.into, principal.subject, now, absorbed=tuple(dict.fromkeys(absorbed))
        )
        before = {"source": _dump(source_before), "target": _dump(target_before)}
        after = {"source": _dump(source), "target": _dump(target)}
        self._save(
            [source, target], principal, AuditAction.MERGE, "theme", theme_id, before, after, now, request_id
        )
        return target

    def create_intervention(
        self, principal: Principal, request: InterventionRequest, *, request_id: str
    ) -> Intervention:
        current = self._current()
        self._find(current, request.theme_id, acting=True)
        principal.require_strategist([request.business])
        now = self.clock()
        intervention = Intervention(
            intervention_id=f"int-{self.new_id()[:16]}",
            theme_id=request.theme_id,
            business=request.business,
            action_type=request.action_type,
            action=request.action,
            start=request.start,
            end=request.end,
            created_by=principal.subject,
            created_at=now,
        )
        audit = self._audit_entry(
            principal,
            AuditAction.INTERVENTION_CREATED,
            "intervention",
            intervention.intervention_id,
            None,
            intervention.model_dump(mode="json"),
            now,
            request_id,
        )
        try:
            self.records.add_intervention(intervention, audit)
        except ConcurrentChange as error:
            raise Conflict(str(error)) from None
        return intervention

    # ------------------------------------------------------------------ internals

    def _current(self) -> _Current:
        snapshot = self.snapshots.current()
        raw = self.snapshots.current_document("stats")
        stats = ThemeStats.model_validate_json(raw) if raw else None
        return _Current(snapshot, stats, self.records.all_curation())

    def _find(
        self, current: _Current, theme_id: str, *, acting: bool = False
    ) -> tuple[ThemeInfo, ThemeStatus]:
        for theme, status in _all_themes(current.snapshot, current.curation):
            if theme.theme_id == theme_id:
                if acting and status is ThemeStatus.MERGED:
                    into = current.curation[theme_id].merged_into
                    raise Conflict(f"theme {theme_id} was merged into {into}; act on {into} instead")
                return theme, status
        raise NotFound(f"no theme {theme_id} in snapshot v{current.snapshot.version}")

    def _businesses_of(self, current: _Current, theme_id: str) -> set[str] | None:
        """The businesses the theme has reports of in the current window; None: none at all (a
        dormant theme, or no stats yet), so which businesses a change to it concerns is unknown."""
        activity = current.stats.theme(theme_id) if current.stats else None
        businesses = {cell.business for cell in activity.cells} if activity else set()
        return businesses or None

    def _view(self, theme: ThemeInfo, status: ThemeStatus, current: _Current) -> ThemeView:
        record = current.curation.get(theme.theme_id)
        activity = current.stats.theme(theme.theme_id) if current.stats else None
        by_business: dict[str, int] = {}
        for cell in activity.cells if activity else ():
            by_business[cell.business] = by_business.get(cell.business, 0) + sum(cell.counts)
        # The strategist's record is newer than the snapshot's copy of it until the next recluster.
        newer = record is not None and record.updated_at >= current.snapshot.created_at
        verdict = record.verdict if newer and record else theme.verdict
        return ThemeView(
            theme_id=theme.theme_id,
            label=record.name if newer and record and record.name else theme.label,
            keywords=theme.keywords,
            status=status,
            verdict=verdict,
            verdict_note=record.verdict_note if record else "",
            named_by_strategist=theme.named_by_strategist or bool(record and record.name),
            reports_in_window=activity.reports if activity else 0,
            reports_by_business=dict(sorted(by_business.items())),
            money_at_risk_usd=activity.money_at_risk_usd if activity else 0.0,
            emerging_detail=theme.emerging_detail,
            first_seen=theme.first_seen,
            last_seen=theme.last_seen,
            merged_into=record.merged_into if record else None,
            snapshot_version=current.snapshot.version,
        )

    def _save(
        self,
        records: list[ThemeCuration],
        principal: Principal,
        action: AuditAction,
        target_type: str,
        target_id: str,
        before: ThemeCuration | dict[str, Any] | None,
        after: ThemeCuration | dict[str, Any],
        now: datetime,
        request_id: str,
    ) -> None:
        # A merge also changes the record of the theme merged into: its audit trail must show it.
        others = tuple(dict.fromkeys(record.theme_id for record in records if record.theme_id != target_id))
        audit = self._audit_entry(
            principal, action, target_type, target_id, _dump(before), _dump(after), now, request_id, others
        )
        try:
            self.records.save_curation(records, audit)
        except ConcurrentChange as error:
            raise Conflict(str(error)) from None

    def _audit_entry(
        self,
        principal: Principal,
        action: AuditAction,
        target_type: str,
        target_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        now: datetime,
        request_id: str,
        also_changed: tuple[str, ...] = (),
    ) -> AuditEntry:
        return AuditEntry(
            audit_id=self.new_id(),
            at=now,
            actor=principal.subject,
            actor_roles=principal.role_names,
            action=action,
            target_type=target_type,
            target_id=target_id,
            also_changed=also_changed,
            before=before,
            after=after,
            request_id=request_id,
        )


def measure_intervention(
    intervention: Intervention,
    stats: ThemeStats | None,
    others: Iterable[Intervention],
    *,
    today: date,
    config: EffectConfig | None = None,
) -> InterventionEffect:
    """The effect of one intervention, from a window's per-theme daily counts in its business;
    control themes are the business's other themes without an intervention of their own.

    Whole UTC days only: a day the intervention was in effect for part of (a mid-day start, a mid-day
    lift) is in neither window, and the stats' last day is partial until they are generated again.
    A control theme's own intervention excludes it from every day it touched, partial ones included.
    """
    config = config or EffectConfig()
    if stats is None:
        stats = ThemeStats(
            snapshot_version=0,
            generated_at=datetime.combine(today, time(), UTC),
            days=(today,),
            volume=(),
            themes=(),
            novelty_pool=ThemeActivity(theme_id="novelty", reports=0),
        )
    # After midnight, yesterday stays partial until the next recluster run regenerates the stats.
    today = min(today, stats.generated_at.astimezone(UTC).date())
    days = len(stats.days)
    business = intervention.business
    activity = stats.theme(intervention.theme_id)
    treated = activity.daily(days, business=business) if activity else [0] * days
    start = intervention.start.astimezone(UTC).date()
    if not _at_midnight(intervention.start):  # its first day was only partly in effect: no window's
        config = replace(config, ramp_days=config.ramp_days + 1)
    # The day it was lifted is no longer a day "in effect", from midnight or from mid-day.
    end = intervention.end.astimezone(UTC).date() if intervention.end is not None else None
    controls = select_controls(
        {
            theme.theme_id: theme.daily(days, business=business)
            for theme in stats.themes
            if any(cell.business == business for cell in theme.cells)
        },
        treated_theme_id=intervention.theme_id,
        days=stats.days,
        start=start,
        end=end,
        other_interventions=[
            InterventionPeriod(other.theme_id, *_days_touched(other.start, other.end))
            for other in others
            if other.business == business
        ],
        config=config,
    )
    return measure_effect(
        days=stats.days,
        treated=treated,
        volume=stats.volume_daily(business=business),
        controls=controls,
        start=start,
        end=end,
        today=today,
        config=config,
    )


def _at_midnight(moment: datetime) -> bool:
    return moment.astimezone(UTC).time() == time()


def _days_touched(start: datetime, end: datetime | None) -> tuple[date, date | None]:
    """(first day, day after the last) an intervention was in effect for any part of."""
    if end is None:
        return start.astimezone(UTC).date(), None
    last_end = end.astimezone(UTC).date()
    if _at_midnight(end):
        return start.astimezone(UTC).date(), last_end
    # Lifted on the calendar's last day: it never ends within any window.
    return start.astimezone(UTC).date(), last_end + timedelta(days=1) if last_end < date.max else None


def _all_themes(
    snapshot: ThemeSnapshot, curation: dict[str, ThemeCuration]
) -> Iterable[tuple[ThemeInfo, ThemeStatus]]:
    active = [(t, ThemeStatus.EMERGING if t.emerging else ThemeStatus.ACTIVE) for t in snapshot.themes]
    dormant = [(t, ThemeStatus.DORMANT) for t in snapshot.dormant]
    for theme, found in active + dormant:
        record = curation.get(theme.theme_id)
        yield theme, ThemeStatus.MERGED if record is not None and record.merged_into else found


def _curation_change(
    before: ThemeCuration | None, theme_id: str, actor: str, now: datetime, **changes: Any
) -> ThemeCuration:
    base = before or ThemeCuration(theme_id=theme_id, updated_by=actor, updated_at=now)
    revision = before.revision + 1 if before else 1
    return base.model_copy(update={**changes, "updated_by": actor, "updated_at": now, "revision": revision})


def _dump(value: ThemeCuration | dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    return value.model_dump(mode="json")


def _daily_counts(activity: ThemeActivity, stats: ThemeStats) -> DailyCounts:
    days = len(stats.days)
    return DailyCounts(
        total=tuple(activity.daily(days)),
        by_business={
            b: tuple(activity.daily(days, business=b)) for b in sorted({c.business for c in activity.cells})
        },
        by_role={r: tuple(activity.daily(days, role=r)) for r in sorted({c.role for c in activity.cells})},
    )
