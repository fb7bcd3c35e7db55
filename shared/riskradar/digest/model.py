"""The digest contract (schema version 1): everything the digest page shows, for JSON consumers too.

A digest is built after every recluster run (and on demand) from the published snapshot, its
per-theme activity (riskradar.theme_stats), the strategists' curation and the interventions with
their measured effect. The HTML page and the Markdown summary are renderings of this model and
nothing else, so a JSON consumer sees exactly what a strategist sees.

The committed JSON Schema is schemas/digest.v1.json (versioning rules in schemas/README.md);
tests/unit/test_digest_schema.py fails when the model and the file drift apart.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskradar.models import UtcDatetime
from riskradar.strategist.models import InterventionType, Verdict
from riskradar.themes import LineageEvent

__all__ = [
    "DIGEST_SCHEMA_ID",
    "DIGEST_SCHEMA_VERSION",
    "CellSeries",
    "Digest",
    "DigestTotals",
    "EffectView",
    "EmergingView",
    "Estimate",
    "InterventionView",
    "LineageView",
    "NoveltyPoolView",
    "OnlineCatchView",
    "PriorityReason",
    "SubjectView",
    "ThemeCard",
    "ThemeRef",
    "ThemeSummary",
    "VerdictView",
    "digest_json_schema",
]

DIGEST_SCHEMA_VERSION: Literal["1"] = "1"
DIGEST_SCHEMA_ID = "urn:riskradar:schema:digest:v1"

Usd = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Estimate(_Frozen):
    """A point estimate with its 95% confidence interval."""

    value: float = Field(description="Point estimate.")
    ci_low: float = Field(description="Lower bound of the 95% confidence interval.")
    ci_high: float = Field(description="Upper bound of the 95% confidence interval.")


class EffectView(_Frozen):
    """What the effect measurement says about one intervention, as the digest shows it.

    Decoupled from the effect model (riskradar.effect): whoever builds a digest maps that model
    onto this one, so the digest contract does not change when the measurement does.
    """

    status: Literal["ok", "not_enough_data", "pending"] = Field(
        description="`ok`: measured; `not_enough_data`: too few reports before or after the start to "
        "say; `pending`: the intervention is too recent to measure yet."
    )
    summary: str = Field(
        description="One sentence for a strategist, e.g. 'Reports of this theme fell 41 % relative to "
        "the business's other reports (95 % CI 28-52 %); control themes moved +3 %, so the estimated "
        "effect is -43 % (95 % CI -55 % to -29 %).' When not `ok`, why not."
    )
    rate_ratio: Estimate | None = Field(
        default=None,
        description="The theme's share of its business's reports after the start over its share "
        "before (1 = no change, 0.6 = 40% fewer), with its 95% CI.",
    )
    difference_in_differences: Estimate | None = Field(
        default=None,
        description="That rate ratio divided by the same ratio of control themes (same business, no "
        "intervention of their own): 1 = no effect beyond what moved every theme, 0.6 = 40% fewer, "
        "with its 95% CI.",
    )


class CellSeries(_Frozen):
    """Reports per day (aligned with `Digest.days`) of one business and reporter role."""

    business: str = Field(description="Business, e.g. `shop` (`unknown` for reports without one).")
    role: str = Field(description="Reporter role: `user`, `seller`, `creator` (or `unknown`).")
    counts: tuple[int, ...] = Field(description="Reports per day, one per entry of `Digest.days`.")


class ThemeRef(_Frozen):
    """A theme by id and label."""

    theme_id: str = Field(description="Stable theme id.")
    label: str = Field(description="The theme's label (the strategist's name when it has one).")


class EmergingView(_Frozen):
    """Why a theme is emerging, and since when."""

    detected_at: UtcDatetime = Field(
        description="When a recluster run first flagged the theme in its current emerging episode."
    )
    surprise: float = Field(
        ge=0, description="-ln P(X >= observed) of the recent count under the theme's usual share, in nats."
    )
    recent_reports: int = Field(ge=0, description="Reports of the theme in its surprising recent window.")
    expected_reports: float = Field(ge=0, description="Reports its usual share of traffic predicted there.")
    growth: float | None = Field(
        description="recent_reports over expected_reports (None when nothing was expected: a new theme)."
    )
    window_start: UtcDatetime = Field(description="Start of that recent window.")


class VerdictView(_Frozen):
    """The strategist's verdict on a theme."""

    verdict: Verdict = Field(description="fraud, abuse, benign or needs_review.")
    note: str = Field(default="", description="The strategist's note with the verdict (may be empty).")
    updated_by: str | None = Field(
        default=None, description="Who gave it (None when only the snapshot carries it)."
    )
    updated_at: UtcDatetime | None = Field(default=None, description="When it was given, if known.")


class LineageView(_Frozen):
    """What the recluster run that published the snapshot did to the theme."""

    event: LineageEvent = Field(description="born, continued, merged or split.")
    this_run: bool = Field(description="The event is from the run that published this digest's snapshot.")
    parents: tuple[ThemeRef, ...] = Field(
        default=(), description="Themes it came from, largest first (merged: all; split: the one)."
    )


class OnlineCatchView(_Frozen):
    """An online alert that announced the theme before a recluster run found it."""

    provisional_id: str = Field(description="The provisional theme id (`new-…`) the online alert gave it.")
    first_alerted_at: UtcDatetime | None = Field(description="When that online alert went out, if known.")


class SubjectView(_Frozen):
    """A subject reported within a theme, by its keyed pseudonym only."""

    subject_type: str = Field(description="seller, creator, listing, order, user or live_stream.")
    subject_hash: str = Field(description="Keyed pseudonym (HMAC) of the subject id; never the raw id.")
    distinct_reporters: int = Field(ge=0, description="Distinct reporters against it in the window.")
    reports: int = Field(ge=0, description="Reports against it in the window.")
    money_at_risk_usd: Usd = Field(description="Sum of the amounts those reports state, in USD.")


class InterventionView(_Frozen):
    """An intervention on a theme, with its effect when measured."""

    intervention_id: str = Field(description="Id of the intervention.")
    theme_id: str = Field(description="Theme it was taken against (as recorded).")
    business: str = Field(description="Business it applies to.")
    action_type: InterventionType = Field(description="Kind of action: block, limit, verify, warn …")
    action: str = Field(description="What was done, in the strategist's words.")
    start: UtcDatetime = Field(description="When it started (or starts).")
    end: UtcDatetime | None = Field(default=None, description="When it ended (or ends); None: open-ended.")
    status: Literal["active", "scheduled", "ended"] = Field(
        description="At the digest's generation time: running, not started yet, or over."
    )
    created_by: str = Field(description="Who recorded it.")
    effect: EffectView | None = Field(default=None, description="Its measured effect, if any yet.")


class PriorityReason(_Frozen):
    """One factor of a theme's priority (riskradar.digest.priority), with the points it gave."""

    factor: str = Field(description="Machine name, e.g. `verdict`, `money_at_risk`, `growth`.")
    points: float = Field(description="Points it added (negative when it lowered the priority).")
    detail: str = Field(description="A sentence a strategist can read.")


class ThemeCard(_Frozen):
    """One theme in full, as its card on the page shows it."""

    theme_id: str = Field(description="Stable theme id.")
    rank: int = Field(ge=1, description="Position in the digest: emerging themes first, then by priority.")
    label: str = Field(description="The strategist's name when it has one, else the automatic label.")
    named_by_strategist: bool = Field(description="`label` is a strategist's name.")
    keywords: tuple[str, ...] = Field(description="Terms that characterise the theme.")
    examples: tuple[str, ...] = Field(
        description="Up to 3 redacted report texts near the theme's centre. Untrusted text: escape it."
    )
    verdict: VerdictView | None = Field(description="The strategist's verdict, if any.")
    merged_into: str | None = Field(
        default=None, description="A strategist merged this theme into that one; it goes away next run."
    )
    emerging: EmergingView | None = Field(description="Set when the theme is emerging.")
    is_new: bool = Field(description="The theme was born in the run that published this snapshot.")
    lineage: LineageView | None = Field(description="The theme's latest lineage event, if known.")
    caught_online_as: tuple[OnlineCatchView, ...] = Field(
        default=(),
        description="Online alerts that announced the theme under a provisional id before a recluster "
        "run found it, oldest first.",
    )
    first_seen: UtcDatetime | None = Field(description="When the theme id was minted.")
    size: int = Field(ge=0, description="Reports the clustering put in the theme in its run.")
    reports: int = Field(ge=0, description="Reports of the theme in the window (all businesses and roles).")
    daily: tuple[int, ...] = Field(description="Reports per day, aligned with `Digest.days`.")
    cells: tuple[CellSeries, ...] = Field(description="`daily` split by business and reporter role.")
    growth: float | None = Field(
        description="The theme's share of all reports in the last two days over its share before them "
        "(None when either period has no traffic)."
    )
    money_at_risk_usd: Usd = Field(description="Sum of the amounts its reports state, in USD.")
    reports_with_amount: int = Field(ge=0, description="How many of its reports state an amount.")
    money_by_business_usd: dict[str, Usd] = Field(description="money_at_risk_usd split by business.")
    top_subjects: tuple[SubjectView, ...] = Field(description="Subjects with the most distinct reporters.")
    interventions: tuple[InterventionView, ...] = Field(
        description="Active and scheduled interventions, and those that ended within the window."
    )
    priority: float = Field(description="Priority score (see `priority_reasons`); higher is more urgent.")
    priority_reasons: tuple[PriorityReason, ...] = Field(description="Every factor that moved it.")


class ThemeSummary(_Frozen):
    """A theme beyond the digest's full cards: one row of the summary table."""

    theme_id: str = Field(description="Stable theme id.")
    rank: int = Field(ge=1, description="Position in the digest, continuing after the full cards.")
    label: str = Field(description="The theme's label.")
    verdict: Verdict | None = Field(description="The strategist's verdict, if any.")
    emerging: bool = Field(description="The theme is emerging (but did not fit among the full cards).")
    is_new: bool = Field(description="Born in this snapshot's run.")
    reports: int = Field(ge=0, description="Reports in the window.")
    daily: tuple[int, ...] = Field(description="Reports per day, aligned with `Digest.days`.")
    cells: tuple[CellSeries, ...] = Field(description="`daily` split by business and reporter role.")
    money_at_risk_usd: Usd = Field(description="Sum of stated amounts, in USD.")
    money_by_business_usd: dict[str, Usd] = Field(description="money_at_risk_usd split by business.")
    max_distinct_reporters: int = Field(ge=0, description="Most distinct reporters against one subject.")
    priority: float = Field(description="Priority score.")


class NoveltyPoolView(_Frozen):
    """Reports in no theme: the novelty pool and what the clustering left out."""

    reports: int = Field(ge=0, description="Reports in no theme in the window.")
    daily: tuple[int, ...] = Field(description="Per day, aligned with `Digest.days`.")
    cells: tuple[CellSeries, ...] = Field(description="`daily` split by business and reporter role.")
    money_at_risk_usd: Usd = Field(description="Sum of stated amounts, in USD.")
    money_by_business_usd: dict[str, Usd] = Field(description="money_at_risk_usd split by business.")


class DigestTotals(_Frozen):
    """Counts over the whole digest (all businesses and roles)."""

    reports: int = Field(ge=0, description="Every report of the window, themed or not.")
    themed_reports: int = Field(ge=0, description="Reports in a theme.")
    themes: int = Field(ge=0, description="Themes in the snapshot (each is a card or a summary row).")
    emerging: int = Field(ge=0, description="Emerging themes.")
    new_themes: int = Field(ge=0, description="Themes born in this snapshot's run.")
    dormant_themes: int = Field(ge=0, description="Themes without a successor, kept for their ids.")
    money_at_risk_usd: Usd = Field(description="Stated amounts of every report of the window, in USD.")
    verdicts: dict[str, int] = Field(description="Themes per verdict (only verdicts that occur).")


class Digest(_Frozen):
    """The theme digest (schema version 1)."""

    schema_version: Literal["1"] = Field(
        default=DIGEST_SCHEMA_VERSION, description="Version of this contract; a reader dispatches on it."
    )
    generated_at: UtcDatetime = Field(description="When the digest was built; relative times refer to it.")
    snapshot_version: int = Field(ge=0, description="Theme snapshot the digest describes.")
    snapshot_created_at: UtcDatetime = Field(description="When that snapshot was published.")
    first_run: bool = Field(description="Every theme is new: no earlier snapshot to compare with.")
    days: tuple[date, ...] = Field(
        description="UTC days of the activity window, oldest first; the last one is partial."
    )
    businesses: tuple[str, ...] = Field(description="Businesses with reports in the window (filter values).")
    roles: tuple[str, ...] = Field(description="Reporter roles with reports in the window (filter values).")
    volume: tuple[CellSeries, ...] = Field(description="Every report of the window per business and role.")
    totals: DigestTotals = Field(description="Counts over the whole digest.")
    themes: tuple[ThemeCard, ...] = Field(
        description="Themes in full: emerging ones first (most surprising first), then by priority."
    )
    other_themes: tuple[ThemeSummary, ...] = Field(
        description="The remaining themes, in the same order, summarised."
    )
    new_themes: tuple[ThemeRef, ...] = Field(description="Themes born in this snapshot's run.")
    novelty_pool: NoveltyPoolView = Field(description="Reports in no theme.")
    other_interventions: tuple[InterventionView, ...] = Field(
        description="Interventions on themes not in the snapshot (dormant or unknown ids)."
    )
    caveats: tuple[str, ...] = Field(
        default=(), description="What a reader should know about the data, e.g. activity from another run."
    )
    priority_method: str = Field(description="How the priority is computed, in one paragraph.")


def digest_json_schema() -> dict[str, Any]:
    """The JSON Schema document (draft 2020-12) of `Digest`, as committed in schemas/digest.v1.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": DIGEST_SCHEMA_ID,
        **Digest.model_json_schema(),
    }
