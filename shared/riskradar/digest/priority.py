"""Theme priority: the order in which a risk strategist should read the non-emerging themes.

A strategist's questions about a theme, most telling first:

- verdict: fraud +40, abuse +25, needs_review +8, none 0, benign −40. A confirmed fraud pattern
  needs action on every new instance; a benign one sinks below everything not yet judged.
- emerging: +15. Emerging themes are listed first anyway; the points keep scores comparable.
- money at risk: +8 per tenfold above 100 USD, capped at +24 (100k USD). A log scale: 1k vs 10k
  USD differs about as much as 10k vs 100k.
- distinct reporters against one subject: from 3, +8 per doubling (3 → 12.7, 4 → 16), capped at
  +24. Independent reporters are the best evidence against a subject; two can be a coincidence.
- recent growth: from 1.5× its usual share of reports (and at least 5 recent reports), +6 per
  doubling, capped at +18. A theme taking a growing share of traffic is where tomorrow's losses are.
- size: +4 per tenfold reports in the window, capped at +12 (1,000). Big themes matter, but size
  alone must not outrank a verdict or money.
- merged away: −100. A strategist merged it into another theme; it disappears next run.

No factor alone decides: a confirmed fraud theme with nothing else (40) sits below an unjudged one
with 10k USD at risk, eight reporters against one seller and a doubling share (16 + 24 + 6 = 46).
Ties go to the theme with more reports, then the smaller id (deterministic pages).

Pure: no I/O, no clock.
"""

# Typography for people: ×, –, − and “quotes” are meant (they are not look-alikes of ASCII).
# ruff: noqa: RUF001, RUF002, RUF003
from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from riskradar.digest.model import PriorityReason
from riskradar.strategist.models import Verdict

__all__ = ["DEFAULT_PRIORITY", "PriorityInputs", "ThemePriorityConfig", "theme_priority"]


class ThemePriorityConfig(BaseModel):
    """Weights of the theme priority (see the module docstring for the reasoning)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    verdict: dict[Verdict, float] = Field(
        default_factory=lambda: {
            Verdict.FRAUD: 40.0,
            Verdict.ABUSE: 25.0,
            Verdict.NEEDS_REVIEW: 8.0,
            Verdict.BENIGN: -40.0,
        }
    )
    emerging: float = 15.0
    money_floor_usd: float = Field(default=100.0, gt=0)
    money_points_per_tenfold: float = 8.0
    money_cap: float = 24.0
    min_distinct_reporters: int = Field(default=3, ge=1)
    reporters_points_per_doubling: float = 8.0
    reporters_cap: float = 24.0
    min_growth: float = Field(default=1.5, ge=1.0)
    min_recent_reports: int = Field(default=5, ge=0)
    growth_points_per_doubling: float = 6.0
    growth_cap: float = 18.0
    size_points_per_tenfold: float = 4.0
    size_cap: float = 12.0
    merged_away: float = -100.0

    def method(self) -> str:
        """The rule in one paragraph, for the digest's readers."""
        verdicts = ", ".join(
            f"{verdict.value.replace('_', ' ')} {points:+g}" for verdict, points in self.verdict.items()
        )
        return (
            f"Emerging themes come first, most surprising first. The others are ordered by a priority "
            f"score: verdict ({verdicts}); emerging {self.emerging:+g}; money at risk "
            f"{self.money_points_per_tenfold:+g} per tenfold above {self.money_floor_usd:,.0f} USD "
            f"(at most {self.money_cap:+g}); distinct reporters against one subject, from "
            f"{self.min_distinct_reporters}, {self.reporters_points_per_doubling:+g} per doubling (at most "
            f"{self.reporters_cap:+g}); growth of the theme's share of reports in the last two days, from "
            f"{self.min_growth:g}×, {self.growth_points_per_doubling:+g} per doubling (at most "
            f"{self.growth_cap:+g}); size {self.size_points_per_tenfold:+g} per tenfold reports (at most "
            f"{self.size_cap:+g}). Ties go to the larger theme."
        )


DEFAULT_PRIORITY = ThemePriorityConfig()


@dataclass(frozen=True)
class PriorityInputs:
    verdict: Verdict | None
    emerging: bool
    merged_into: str | None
    money_at_risk_usd: float
    #: Most distinct reporters against one subject of the theme, and that subject's type.
    max_distinct_reporters: int
    subject_type: str | None
    #: Share of traffic in the last two days over the share before (None: not measurable).
    growth: float | None
    recent_reports: int
    reports: int


def theme_priority(
    inputs: PriorityInputs, config: ThemePriorityConfig = DEFAULT_PRIORITY
) -> tuple[float, tuple[PriorityReason, ...]]:
    """The score and every factor that moved it, largest absolute contribution first."""
    reasons: list[PriorityReason] = []

    def add(factor: str, points: float, detail: str) -> None:
        if points:
            reasons.append(PriorityReason(factor=factor, points=round(points, 1), detail=detail))

    if inputs.merged_into is not None:
        add("merged_away", config.merged_away, f"Merged into {inputs.merged_into} by a strategist")
    if inputs.verdict is not None:
        add(
            "verdict",
            config.verdict.get(inputs.verdict, 0.0),
            f"A strategist's verdict: {inputs.verdict.value.replace('_', ' ')}",
        )
    if inputs.emerging:
        add("emerging", config.emerging, "Emerging: its recent volume is improbable under its usual share")
    if inputs.money_at_risk_usd > config.money_floor_usd:
        tenfolds = math.log10(inputs.money_at_risk_usd / config.money_floor_usd)
        add(
            "money_at_risk",
            min(config.money_cap, config.money_points_per_tenfold * tenfolds),
            f"{inputs.money_at_risk_usd:,.0f} USD at risk in its reports",
        )
    if inputs.max_distinct_reporters >= config.min_distinct_reporters:
        add(
            "distinct_reporters",
            min(
                config.reporters_cap,
                config.reporters_points_per_doubling * math.log2(inputs.max_distinct_reporters),
            ),
            f"{inputs.max_distinct_reporters} distinct reporters against one "
            f"{(inputs.subject_type or 'subject').replace('_', ' ')}",
        )
    if (
        inputs.growth is not None
        and inputs.growth >= config.min_growth
        and inputs.recent_reports >= config.min_recent_reports
    ):
        add(
            "growth",
            min(config.growth_cap, config.growth_points_per_doubling * math.log2(inputs.growth)),
            f"Its share of reports in the last two days is {inputs.growth:.1f}× its usual share",
        )
    if inputs.reports > 1:
        add(
            "size",
            min(config.size_cap, config.size_points_per_tenfold * math.log10(inputs.reports)),
            f"{inputs.reports:,} reports in the window",
        )
    reasons.sort(key=lambda reason: -abs(reason.points))
    return round(sum(reason.points for reason in reasons), 1), tuple(reasons)
