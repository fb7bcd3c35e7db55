"""Contracts of the strategist side: verdicts and names on themes, merges, interventions, and the
audit trail of every strategist action.

`ThemeCuration` is the strategist's record of a theme (one item per theme id in the curation
table): the recluster job reads it and applies it to the next snapshot, so that a verdict changes
triage scores from that snapshot on and a name survives reclustering. `Intervention` is an action
a strategist took against a theme in one business; its effect is measured by riskradar.effect.
`AuditEntry` is appended, never changed, for each of these actions.

Request bodies (`VerdictRequest`, `MergeRequest`, `InterventionRequest`) are strict: unknown fields
are refused, as on the intake API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from riskradar.models import UtcDatetime
from riskradar.theme_stats import SubjectActivity
from riskradar.themes import EmergingDetail, ThemeLineage

__all__ = [
    "AuditAction",
    "AuditEntry",
    "DailyCounts",
    "Intervention",
    "InterventionRequest",
    "InterventionType",
    "MergeRequest",
    "Role",
    "ThemeCuration",
    "ThemeDetail",
    "ThemeStatus",
    "ThemeView",
    "Verdict",
    "VerdictRequest",
]


class Verdict(StrEnum):
    """A strategist's judgement of a theme; riskradar.scoring turns it into points."""

    FRAUD = "fraud"
    ABUSE = "abuse"
    BENIGN = "benign"
    NEEDS_REVIEW = "needs_review"


class Role(StrEnum):
    """What a token's holder may do: a viewer reads; a strategist also judges and acts."""

    VIEWER = "viewer"
    STRATEGIST = "strategist"


class InterventionType(StrEnum):
    """The kind of action taken, so that effects can be compared across interventions."""

    BLOCK = "block"  # e.g. block a payment method, a seller, a listing pattern
    LIMIT = "limit"  # rate or amount limits
    VERIFY = "verify"  # extra verification step (KYC, 3-D Secure, phone check)
    WARN = "warn"  # in-product warning or friction for users
    TAKEDOWN = "takedown"  # remove listings, streams, ads
    POLICY = "policy"  # a rule or policy change
    EDUCATION = "education"  # outreach, help-centre articles
    OTHER = "other"


def _single_line(value: str) -> str:
    # Line breaks as Windows (CRLF) or old Macs (CR) write them are line breaks: kept as LF.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if any(ord(char) < 32 and char not in "\n\t" for char in value):
        raise ValueError("must not contain control characters")
    return value


Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_single_line)]
ThemeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), AfterValidator(_single_line)
]
ActionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(_single_line)
]
ThemeId = Annotated[str, StringConstraints(pattern=r"^thm-[0-9a-f]{8}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VerdictRequest(_Strict):
    """Body of POST /v1/themes/{theme_id}/verdict."""

    verdict: Verdict
    note: Note = ""
    #: Optional: name the theme; the name replaces the automatic label and survives reclustering.
    name: ThemeName | None = None


class MergeRequest(_Strict):
    """Body of POST /v1/themes/{theme_id}/merge: the theme in the path is merged into `into`."""

    into: ThemeId
    note: Note = ""


#: The span an intervention's start and end must fall in.
INTERVENTION_DATES: Final = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class InterventionRequest(_Strict):
    """Body of POST /v1/interventions."""

    theme_id: ThemeId
    business: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    action_type: InterventionType
    action: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(_single_line),
    ]
    start: UtcDatetime
    end: UtcDatetime | None = None

    @field_validator("start", "end")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        # "9999-12-31" as "no end" would overflow every date window the effect is measured over.
        if value is not None and not INTERVENTION_DATES[0] <= value < INTERVENTION_DATES[1]:
            raise ValueError(
                f"must be from {INTERVENTION_DATES[0]:%Y-%m-%d} to before {INTERVENTION_DATES[1]:%Y-%m-%d} "
                "(leave end out for an intervention still in place)"
            )
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> InterventionRequest:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ThemeCuration(_Strict):
    """The strategist's record of one theme (curation table item)."""

    theme_id: str
    verdict: Verdict | None = None
    verdict_note: str = ""
    #: The strategist's name for the theme (None: the automatic label applies).
    name: str | None = None
    #: Set on a theme merged into another: it is gone, its reports belong to `merged_into`.
    merged_into: str | None = None
    #: Themes merged into this one (their reports are this theme's in every later recluster).
    absorbed: tuple[str, ...] = ()
    updated_by: str
    updated_at: UtcDatetime
    #: Incremented on every change; writes are conditional on it (no lost update).
    revision: int = Field(default=1, ge=1)


class Intervention(_Strict):
    """An action a strategist took against a theme in one business (interventions table item)."""

    intervention_id: str
    theme_id: str
    business: str
    action_type: InterventionType
    action: str
    start: UtcDatetime
    end: UtcDatetime | None = None
    created_by: str
    created_at: UtcDatetime

    def is_active(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


class AuditAction(StrEnum):
    VERDICT = "verdict"
    MERGE = "merge"
    INTERVENTION_CREATED = "intervention_created"


class AuditEntry(_Strict):
    """One strategist action, appended to the audit table and never changed."""

    audit_id: str
    at: UtcDatetime
    #: The token's subject (`sub` claim) and the roles it held.
    actor: str
    actor_roles: tuple[str, ...] = ()
    action: AuditAction
    target_type: Literal["theme", "intervention"]
    target_id: str
    #: Other records of the same type the action changed (a merge: the theme merged into). The
    #: audit trail of each of them lists the entry too.
    also_changed: tuple[str, ...] = ()
    #: The record as it was before the action (None when it did not exist) and after it.
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    #: The API request that made the change, to find it in the logs.
    request_id: str = ""


# --- responses of the strategist API -----------------------------------------------------------------


class ThemeStatus(StrEnum):
    EMERGING = "emerging"
    ACTIVE = "active"
    #: No longer found by the recluster job (kept for its id, name and verdict).
    DORMANT = "dormant"
    #: Merged into another theme by a strategist.
    MERGED = "merged"


class ThemeView(_Strict):
    """A theme as `GET /v1/themes` lists it: the current snapshot, its window's activity and the
    strategist's record (the verdict a strategist set wins over the snapshot's until the next
    recluster publishes it)."""

    theme_id: str
    label: str
    keywords: tuple[str, ...] = ()
    status: ThemeStatus
    verdict: Verdict | None = None
    verdict_note: str = ""
    named_by_strategist: bool = False
    #: Reports of the theme in the recluster window, in all and per business.
    reports_in_window: int = 0
    reports_by_business: dict[str, int] = Field(default_factory=dict)
    money_at_risk_usd: float = 0.0
    emerging_detail: EmergingDetail | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    merged_into: str | None = None
    snapshot_version: int


class DailyCounts(_Strict):
    """Reports per day of the window (aligned with `ThemeDetail.days`)."""

    total: tuple[int, ...]
    by_business: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    by_role: dict[str, tuple[int, ...]] = Field(default_factory=dict)


class ThemeDetail(ThemeView):
    """`GET /v1/themes/{theme_id}`: the list entry plus what a strategist needs to judge it."""

    examples: tuple[str, ...] = ()
    lineage: ThemeLineage | None = None
    days: tuple[date, ...] = ()
    counts: DailyCounts | None = None
    top_subjects: tuple[SubjectActivity, ...] = ()
    absorbed: tuple[str, ...] = ()
    interventions: tuple[Intervention, ...] = ()
    curation: ThemeCuration | None = None
