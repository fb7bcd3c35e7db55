"""Priority score of a triaged report: 0 to 100, with reasons a strategist can read.

Pure and deterministic: no I/O, no clock, no randomness. Triage gathers the inputs (theme, verdict,
distinct reporters against the subject, theme velocity) and calls `score_report`; the score's
priority picks the signal queue (critical / high / normal).

How a score is made: start from `base`, add the points of every factor, clamp to 0..100, compare
with the thresholds. Every factor that adds or removes points becomes a `ScoreReason`, so the
reasons' points always sum to the unclamped score minus the base.

| factor               | points (defaults)                                                            |
|----------------------|------------------------------------------------------------------------------|
| `theme_verdict`      | fraud +30, abuse +20, needs_review +5, benign -25                            |
| `emerging_theme`     | +10, while the theme has no verdict                                          |
| `money_at_risk`      | +8 per tenfold above 10 USD, capped at +24 (reached at 10,000 USD)           |
| `reporter_role`      | user 0, seller +5, creator +5                                                |
| `distinct_reporters` | +8 per doubling (2 → 8, 3 → 13, 4 → 16), capped at +24 (8 reporters)         |
| `theme_velocity`     | from 2x the baseline rate: +5 per doubling (2x → 5, 4x → 10), capped at +15  |
| `severity_cues`      | per cue found in the text (6 to 12 each, see `_default_cues`), capped at +30 |

Base 20; critical ≥ 75, high ≥ 50. The reasoning behind each number sits next to it below.

Severity cues (English regular expressions, case-insensitive, in `_default_cues`): account takeover
+12, threats +12, a verification code or phishing +10, gift cards +10, a stolen card +10, a payment
the reporter did not make +10, someone posing as support +10, paying without receiving the goods +6.

Every default can be overridden, globally or per business, by the JSON document in the
`SCORING_CONFIG` environment variable (`ScoringPolicy.from_json`)::

    {"default":    {"thresholds": {"critical": 80}},
     "businesses": {"payments": {"money_at_risk": {"points_per_tenfold": 10}},
                    "live": {"severity_cues": {"lexicon": {"gift_card": {"points": 12}}}}}}

Both parts are partial: objects are merged key by key over the defaults (a business over the merged
default), any other value replaces what it overrides. A cue is switched off with `"points": 0`.

Known limits: the severity lexicon is English only (a business can add cues in other languages);
currency rates are approximate by design (see `DEFAULT_USD_RATES`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from riskradar.currencies import ISO_4217_CODES
from riskradar.models import Amount, Priority, ReporterRole, SignalReason

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_USD_RATES",
    "THEME_VERDICTS",
    "DistinctReportersConfig",
    "MoneyAtRiskConfig",
    "Priority",
    "PriorityScore",
    "ScoreInputs",
    "ScoreReason",
    "ScoringConfig",
    "ScoringPolicy",
    "SeverityCue",
    "SeverityCuesConfig",
    "ThemeVelocityConfig",
    "ThemeVerdictPoints",
    "Thresholds",
    "score_report",
    "signal_reasons",
]

#: Verdicts a strategist can give a theme (the strategist side writes them; anything else is a bug).
THEME_VERDICTS: Final = frozenset({"fraud", "abuse", "benign", "needs_review"})

# --- Defaults ------------------------------------------------------------------------------------------

#: Approximate USD value of one unit of a currency (mid-2024 rates, rounded). Money at risk is scored on
#: a log scale, so a rate that is 10 % off moves the points by less than half a point: these need no
#: feed and no refresh. The table holds the major marketplace currencies plus every circulating currency
#: whose unit is worth more than 1 USD, so that the parity assumed for any other currency (see
#: `MoneyAtRiskConfig.unknown_currency_usd_rate`) overstates money at risk rather than understating it.
#: (Units of account and metals — XAU, XDR, CLF … — are not prices any marketplace charges in.)
DEFAULT_USD_RATES: Final[Mapping[str, float]] = {
    # Major marketplace currencies, and those where parity would overstate a lot (many units per USD).
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0066,
    "CNY": 0.138,
    "INR": 0.012,
    "CAD": 0.73,
    "AUD": 0.66,
    "NZD": 0.61,
    "CHF": 1.12,
    "KRW": 0.00073,
    "TWD": 0.031,
    "HKD": 0.128,
    "SGD": 0.74,
    "IDR": 0.000062,
    "VND": 0.000039,
    "THB": 0.028,
    "PHP": 0.017,
    "MYR": 0.22,
    "PKR": 0.0036,
    "BDT": 0.0085,
    "BRL": 0.19,
    "MXN": 0.055,
    "COP": 0.00025,
    "CLP": 0.0011,
    "ARS": 0.0011,
    "TRY": 0.031,
    "ZAR": 0.054,
    "NGN": 0.00068,
    "EGP": 0.021,
    "KES": 0.0077,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "PLN": 0.25,
    "CZK": 0.043,
    "HUF": 0.0027,
    "RON": 0.22,
    "UAH": 0.025,
    "KZT": 0.0021,
    "ILS": 0.27,
    "AED": 0.272,
    "SAR": 0.267,
    # The other circulating currencies worth more than 1 USD a unit.
    "KWD": 3.26,
    "BHD": 2.65,
    "OMR": 2.6,
    "JOD": 1.41,
    "KYD": 1.2,
    "GIP": 1.27,
    "FKP": 1.27,
    "SHP": 1.27,
}

# "n't" as people type it: didn't, didnt, and with a typographic apostrophe (U+2019).
_NT = r"n[\u2019']?t"


def _default_cues() -> dict[str, SeverityCue]:
    """The severity lexicon: phrases that, in a marketplace report, mark harm beyond a bad purchase.

    Case-insensitive regular expressions over the redacted text; each cue counts once however often it
    matches. Points reflect how much harm the cue usually stands for, relative to the 10 of a typical cue.
    """
    return {
        # Takeover exposes the stored payment methods and lets the fraudster act as the victim: 12.
        "account_takeover": SeverityCue(
            label="account takeover",
            points=12,
            pattern=(
                r"\baccount\s+(?:was\s+|got\s+|has\s+been\s+|had\s+been\s+|been\s+|is\s+)?"
                r"(?:hacked|compromised|taken\s+over|stolen|hijacked)"
                r"|\baccount\s+takeover\b"
                r"|\bhack(?:ed|er|ers)\b[^.?!\n]{0,30}\baccount\b"
                r"|\b(?:someone|somebody|a\s+stranger)\b[^.?!\n]{0,40}\b(?:logged|signed|got)\s+in"
                r"|\b(?:password|e-?mail|phone\s+number)\s+(?:was|got|has\s+been)\s+changed\b"
            ),
        ),
        # The step that turns phishing into takeover or payment fraud: 10.
        "phishing_code": SeverityCue(
            label="a verification code or phishing",
            points=10,
            pattern=(
                r"\bverification\s+code|\bone[-\s]?time\s+(?:pass(?:word|code)|code|pin)"
                r"|\bOTP\b|\b2fa\s+code|\b(?:sms|security|login|confirmation)\s+code"
                r"|\bphish(?:ing|ed|er)?\b"
            ),
        ),
        # Gift cards are the untraceable payout of scams; a request for them is rarely innocent: 10.
        "gift_card": SeverityCue(
            label="gift cards",
            points=10,
            pattern=r"\bgift\s?cards?\b|\b(?:itunes|apple|google\s+play|steam|amazon)\s+cards?\b",
        ),
        # Card fraud: the reporter's money keeps leaking until the card is blocked: 10.
        "stolen_card": SeverityCue(
            label="a stolen card",
            points=10,
            pattern=(
                r"\bstolen\s+(?:credit\s+|debit\s+|bank\s+)?card"
                r"|\bcard\b[^.?!\n]{0,20}\b(?:was|got|been|is)\s+(?:stolen|cloned|skimmed|compromised)"
            ),
        ),
        # Money already moved without consent: 10.
        "unauthorised_payment": SeverityCue(
            label="a payment the reporter did not make",
            points=10,
            pattern=(
                r"\bunauthori[sz]ed\s+(?:payment|charge|transaction|transfer|withdrawal|purchase|debit)"
                r"|\b(?:did" + _NT + r"|did\s+not|never)\s+(?:make|authori[sz]e|approve)\b"
                r"[^.?!\n]{0,30}\b(?:payment|charge|transaction|transfer|withdrawal|purchase)"
                r"|\b(?:payment|charge|transaction|transfer|withdrawal|purchase)s?\b[^.?!\n]{0,30}"
                r"\b(?:did" + _NT + r"|did\s+not|never|do" + _NT + r"|do\s+not)\s+"
                r"(?:make|authori[sz]e|approve|recogni[sz]e)"
                r"|\b(?:do" + _NT + r"|do\s+not)\s+recogni[sz]e\b[^.?!\n]{0,30}"
                r"\b(?:payment|charge|transaction|transfer|withdrawal|purchase)"
            ),
        ),
        # A person may come to harm, not only money: the highest cue, 12.
        "threat": SeverityCue(
            label="threats",
            points=12,
            pattern=(
                r"\bthreat(?:en(?:ed|ing|s)?|s)?\b|\bblackmail|\bextort"
                r"|\b(?:kill|hurt|find)\s+(?:me|you|my\s+family)\b|\bdox+(?:ed|ing)?\b"
            ),
        ),
        # Fake support is how a scam earns the trust it then abuses: 10.
        "support_impersonation": SeverityCue(
            label="someone posing as support",
            points=10,
            pattern=(
                r"\b(?:pretend(?:ed|ing|s)?\s+to\s+be|pos(?:ed|ing|es)\s+as|claim(?:ed|ing|s)?\s+to\s+be"
                r"|impersonat(?:ed|ing|es|e|ion\s+of))[^.?!\n]{0,30}?"
                r"\b(?:support|customer\s+service|help\s?desk|staff|admin|moderator|employee|official)"
                r"|\bfake\s+(?:customer\s+)?(?:support|service|staff|admin|agent)\b"
            ),
        ),
        # The most common marketplace complaint, usually one order that buyer protection covers: 6.
        "paid_not_received": SeverityCue(
            label="paying without receiving the goods",
            points=6,
            pattern=(
                r"\b(?:paid|payed|bought|ordered|purchased|payment)\b[^.?!\n]{0,60}"
                r"\b(?:never|not|nothing|did" + _NT + r"|has" + _NT + r"|have" + _NT + r")\b[^.?!\n]{0,20}"
                r"\b(?:received|arrived|delivered|shipped|came|come|sent)\b"
                r"|\b(?:item|order|package|parcel|goods|product)s?\b[^.?!\n]{0,40}"
                r"\b(?:never|not|has" + _NT + r"|did" + _NT + r"|have" + _NT + r")\s+(?:yet\s+)?(?:been\s+)?"
                r"(?:received|arrived|delivered|shipped|came|come)\b"
                r"|\btook\s+my\s+money\b"
            ),
        ),
    }


# --- Configuration -------------------------------------------------------------------------------------


class _ConfigModel(BaseModel):
    # Frozen: one config is shared by every report of a Lambda container. Unknown keys are refused so a
    # misspelt weight fails at cold start instead of being silently ignored; NaN/inf are never weights.
    # Strict: `true` is not 1 and "80" is not 80 (validated as JSON, so arrays still make tuples).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class ThemeVerdictPoints(_ConfigModel):
    """Points for the strategist's verdict on the report's theme: the strongest single factor."""

    # Confirmed fraud on its own lifts a report from the base (20) to exactly the high threshold (50):
    # a strategist has already said this pattern is fraud, so new instances deserve prompt attention.
    fraud: int = 30
    # Abuse (harassment, spam, policy abuse) harms, but less often costs money than fraud.
    abuse: int = 20
    # Someone flagged the theme and nobody has decided yet: a nudge so it gets looked at.
    needs_review: int = 5
    # A strategist judged the pattern harmless: below the base, so benign themes sink, yet a report in a
    # benign theme with several severity cues can still surface (they outweigh the 25).
    benign: int = -25


class MoneyAtRiskConfig(_ConfigModel):
    """Money at risk, as points on a log scale of its USD equivalent."""

    # Below 10 USD a loss is rarely what a risk strategist acts on; points start there.
    floor_usd: float = Field(default=10.0, gt=0)
    # Per tenfold: 100 USD → 8, 1,000 USD → 16. A log scale, because the urgency of 10 USD vs 100 USD
    # differs about as much as that of 1,000 USD vs 10,000 USD.
    points_per_tenfold: float = Field(default=8.0, ge=0)
    # Reached at 10,000 USD: above that, money alone should not outrank cues and reporters.
    cap: int = Field(default=24, ge=0)
    usd_rates: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_USD_RATES))
    # A currency missing from the table is taken at parity with USD: the table holds every circulating
    # currency worth more than a dollar, so parity overstates the rest and never understates the risk.
    # The reason says the rate was assumed.
    unknown_currency_usd_rate: float = Field(default=1.0, gt=0)

    @field_validator("usd_rates")
    @classmethod
    def _iso_codes_and_positive_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        for code, rate in rates.items():
            if code not in ISO_4217_CODES:
                raise ValueError(f"{code!r} is not an ISO 4217 currency code in upper case, e.g. EUR")
            if not rate > 0:
                raise ValueError(f"the rate of {code} must be greater than 0")
        return rates

    def usd_value(self, amount: Amount) -> float:
        """The amount in USD at this config's rates (an unknown currency at the assumed rate)."""
        rate = self.usd_rates.get(amount.currency, self.unknown_currency_usd_rate)
        return float(amount.value) * rate


class DistinctReportersConfig(_ConfigModel):
    """Distinct reporters against the same subject within the window (this report's reporter included)."""

    # Per doubling: 2 reporters → 8, 4 → 16. Independent reporters are the best evidence that a
    # subject is bad, but each extra one adds less: the tenth says little the fifth did not.
    points_per_doubling: float = Field(default=8.0, ge=0)
    # Reached at 8 reporters: a pile-on (or a brigade) should not by itself make a report critical.
    cap: int = Field(default=24, ge=0)


class ThemeVelocityConfig(_ConfigModel):
    """The theme's current hourly rate over its baseline: points once it runs well above normal."""

    # Below twice the usual rate, theme volumes swing by themselves (time of day, campaigns).
    min_ratio: float = Field(default=2.0, ge=1)
    # Per doubling: 2x → 5, 4x → 10. Smaller than the emerging-theme flag, which the recluster stage
    # raises from the same rates with more care.
    points_per_doubling: float = Field(default=5.0, ge=0)
    # Reached at 8x.
    cap: int = Field(default=15, ge=0)


class SeverityCue(_ConfigModel):
    """One entry of the severity lexicon."""

    #: Says in a reason what was found, e.g. "a stolen card".
    label: str = Field(min_length=1)
    #: Case-insensitive regular expression searched in the (redacted) report text.
    pattern: str = Field(min_length=1)
    #: Points when the text matches; 0 switches the cue off.
    points: int = Field(default=10, ge=0)
    _regex: re.Pattern[str] = PrivateAttr()

    @field_validator("pattern")
    @classmethod
    def _compiles_and_is_selective(cls, pattern: str) -> str:
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"is not a valid regular expression: {error}") from None
        if regex.search("") is not None:
            raise ValueError("matches empty text, so every report would carry this cue")
        return pattern

    def model_post_init(self, context: Any, /) -> None:
        self._regex = re.compile(self.pattern, re.IGNORECASE)

    def found_in(self, text: str) -> bool:
        return self._regex.search(text) is not None


class SeverityCuesConfig(_ConfigModel):
    """Severity cues in the report text: each cue counts once, the sum is capped."""

    # Three typical cues: a report that mentions a takeover, a verification code and gift cards is the
    # classic support-impersonation scam, and more words should not outrank a confirmed verdict.
    cap: int = Field(default=30, ge=0)
    # Keyed by name so that a business override can change or add one cue without repeating the rest.
    lexicon: dict[str, SeverityCue] = Field(default_factory=_default_cues)


class Thresholds(_ConfigModel):
    """Score thresholds of the signal queues."""

    # No single factor reaches 75 from the base (the largest, a fraud verdict, gives 50): a critical
    # signal needs at least two independent kinds of evidence, e.g. fraud theme + cues, or many
    # reporters + money + cues. Keeps the critical queue short enough to be paged on.
    critical: int = Field(default=75, ge=1, le=100)
    # A confirmed-fraud theme alone, or two severity cues with ~1,000 USD at risk, is high.
    high: int = Field(default=50, ge=1, le=100)

    @model_validator(mode="after")
    def _high_below_critical(self) -> Self:
        if self.high >= self.critical:
            raise ValueError(f"high ({self.high}) must be below critical ({self.critical})")
        return self

    def priority_for(self, score: int) -> Priority:
        if score >= self.critical:
            return Priority.CRITICAL
        if score >= self.high:
            return Priority.HIGH
        return Priority.NORMAL


class ScoringConfig(_ConfigModel):
    """Weights, caps and thresholds of the priority score. Field names are the reasons' factor names."""

    # A report with no evidence either way sits at 20: well inside normal, with room below it for a
    # benign verdict to sink it and room above for evidence to lift it.
    base: int = Field(default=20, ge=0, le=100)
    theme_verdict: ThemeVerdictPoints = Field(default_factory=ThemeVerdictPoints)
    # The recluster stage flags a theme as emerging when it is new or growing fast and nobody has
    # reviewed it yet: exactly what a strategist wants to see early. Worth a severity cue.
    emerging_theme: int = 10
    money_at_risk: MoneyAtRiskConfig = Field(default_factory=MoneyAtRiskConfig)
    # Users file most reports and are the baseline. A defrauded or taken-over seller puts payouts and
    # many buyers at risk; an impersonated or taken-over creator reaches a whole audience. Both also
    # have an account at stake, so their reports are less often frivolous: +5.
    reporter_role: dict[ReporterRole, int] = Field(
        default_factory=lambda: {ReporterRole.USER: 0, ReporterRole.SELLER: 5, ReporterRole.CREATOR: 5}
    )
    distinct_reporters: DistinctReportersConfig = Field(default_factory=DistinctReportersConfig)
    theme_velocity: ThemeVelocityConfig = Field(default_factory=ThemeVelocityConfig)
    severity_cues: SeverityCuesConfig = Field(default_factory=SeverityCuesConfig)
    thresholds: Thresholds = Field(default_factory=Thresholds)


#: The built-in defaults, used when SCORING_CONFIG is empty and as the base of every override.
DEFAULT_CONFIG: Final = ScoringConfig()


class ScoringPolicy:
    """The scoring config of every business: a default, and per-business partial overrides over it."""

    def __init__(
        self,
        default: ScoringConfig = DEFAULT_CONFIG,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.default = default
        base = default.model_dump(mode="json")
        self._by_business: dict[str, ScoringConfig] = {
            business: _validated(_deep_merge(base, override), f"businesses.{business}")
            for business, override in (overrides or {}).items()
        }

    @classmethod
    def from_json(cls, text: str | None) -> ScoringPolicy:
        """Parse the SCORING_CONFIG document; empty or None gives the defaults.

        Raises ValueError naming the offending field, e.g. `businesses.ads.thresholds.critical`.
        """
        if text is None or not text.strip():
            return cls()
        try:
            document = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"SCORING_CONFIG is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            ) from None
        if not isinstance(document, dict):
            raise ValueError('SCORING_CONFIG must be a JSON object: {"default": {…}, "businesses": {…}}')
        unknown = sorted(set(document) - {"default", "businesses"})
        if unknown:
            raise ValueError(
                f"SCORING_CONFIG: {unknown[0]}: unknown key (expected 'default' and/or 'businesses')"
            )
        default_part = _object_at(document.get("default", {}), "default")
        businesses = _object_at(document.get("businesses", {}), "businesses")
        overrides = {name: _object_at(part, f"businesses.{name}") for name, part in businesses.items()}
        default = _validated(_deep_merge(DEFAULT_CONFIG.model_dump(mode="json"), default_part), "default")
        return cls(default, overrides)

    @property
    def businesses(self) -> frozenset[str]:
        """Businesses with an override of their own."""
        return frozenset(self._by_business)

    def config_for(self, business: str) -> ScoringConfig:
        return self._by_business.get(business, self.default)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: a repeated one would silently drop a part."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"SCORING_CONFIG: {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"SCORING_CONFIG: {name} is not a number a weight can have")


def _object_at(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"SCORING_CONFIG: {where}: must be a JSON object")
    return value


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _validated(document: Mapping[str, Any], where: str) -> ScoringConfig:
    try:
        return ScoringConfig.model_validate_json(json.dumps(document))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join([where, *(str(part) for part in e['loc'])])}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"SCORING_CONFIG: {problems}") from None


# --- Inputs and result ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """What triage knows about a report when it scores it."""

    business: str
    reporter_role: ReporterRole
    #: Already PII-redacted.
    text: str
    amount: Amount | None
    theme_label: str | None
    #: The strategist's verdict on the theme: one of THEME_VERDICTS, or None when there is none.
    theme_verdict: str | None
    theme_emerging: bool
    #: Distinct reporters against the same subject within the window, this one included; 0 without subject.
    distinct_reporters: int
    subject_type: str | None
    window_days: int
    #: The theme's current hourly rate over its baseline; None when unknown.
    theme_velocity: float | None

    def __post_init__(self) -> None:
        if self.theme_verdict is not None and self.theme_verdict not in THEME_VERDICTS:
            raise ValueError(
                f"theme_verdict must be one of {', '.join(sorted(THEME_VERDICTS))} or None, "
                f"not {self.theme_verdict!r}"
            )
        if self.distinct_reporters < 0:
            raise ValueError("distinct_reporters must be 0 or more")
        if self.window_days < 1:
            raise ValueError("window_days must be 1 or more")
        if self.theme_velocity is not None and not (
            math.isfinite(self.theme_velocity) and self.theme_velocity >= 0
        ):
            raise ValueError("theme_velocity must be a finite number ≥ 0, or None")


@dataclass(frozen=True, slots=True)
class ScoreReason:
    factor: str
    #: Unclamped contribution to the score; negative when the factor lowered it.
    points: int
    #: A sentence a strategist can read.
    detail: str


@dataclass(frozen=True, slots=True)
class PriorityScore:
    score: int
    priority: Priority
    #: Every factor with non-zero points, largest absolute contribution first.
    reasons: tuple[ScoreReason, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.score <= 100:
            raise ValueError(f"score must be within 0..100, not {self.score}")


def signal_reasons(score: PriorityScore) -> list[SignalReason]:
    """The reasons of a score as they travel in a `riskradar.models.Signal`."""
    return [SignalReason(factor=r.factor, points=r.points, detail=r.detail) for r in score.reasons]


# --- Scoring -------------------------------------------------------------------------------------------


def score_report(inputs: ScoreInputs, config: ScoringConfig) -> PriorityScore:
    """Score one report: base + every factor's points, clamped to 0..100, routed by the thresholds."""
    reasons = [reason for reason in _factors(inputs, config) if reason.points != 0]
    # Stable sort: ties keep the fixed factor order of _factors, so the result is deterministic.
    reasons.sort(key=lambda reason: -abs(reason.points))
    raw = config.base + sum(reason.points for reason in reasons)
    score = min(100, max(0, raw))
    return PriorityScore(score=score, priority=config.thresholds.priority_for(score), reasons=tuple(reasons))


def _factors(inputs: ScoreInputs, config: ScoringConfig) -> Iterator[ScoreReason]:
    theme = f'Theme "{inputs.theme_label}"' if inputs.theme_label else "This report's theme"
    if inputs.theme_verdict is not None:
        yield _theme_verdict(theme, inputs.theme_verdict, config.theme_verdict)
    if inputs.theme_emerging and inputs.theme_verdict is None:  # once judged, the verdict speaks for it
        yield ScoreReason(
            "emerging_theme",
            config.emerging_theme,
            f"{theme} is emerging: new or growing fast, and not yet reviewed",
        )
    if inputs.amount is not None:
        yield _money_at_risk(inputs.amount, config.money_at_risk)
    role_points = config.reporter_role.get(inputs.reporter_role, 0)
    yield ScoreReason("reporter_role", role_points, f"Reported by a {inputs.reporter_role.value}")
    if inputs.distinct_reporters > 1:
        yield _distinct_reporters(inputs, config.distinct_reporters)
    if inputs.theme_velocity is not None:
        yield _theme_velocity(theme, inputs.theme_velocity, config.theme_velocity)
    yield _severity_cues(inputs.text, config.severity_cues)


def _theme_verdict(theme: str, verdict: str, points: ThemeVerdictPoints) -> ScoreReason:
    detail = {
        "fraud": f"{theme} is confirmed fraud by a strategist",
        "abuse": f"{theme} is confirmed abuse by a strategist",
        "needs_review": f"{theme} is flagged and awaiting a strategist's review",
        "benign": f"{theme} was judged benign by a strategist",
    }[verdict]
    return ScoreReason("theme_verdict", getattr(points, verdict), detail)


def _money_at_risk(amount: Amount, config: MoneyAtRiskConfig) -> ScoreReason:
    stated = f"{amount.value:,f} {amount.currency}"
    rate = config.usd_rates.get(amount.currency)
    usd = config.usd_value(amount)
    raw = config.points_per_tenfold * math.log10(usd / config.floor_usd) if usd > config.floor_usd else 0.0
    points, capped = _capped(raw, config.cap)
    if amount.currency == "USD":
        detail = f"{stated} at risk"
    elif rate is None:
        detail = (
            f"{stated} at risk; no rate on file for {amount.currency}, so it is counted as "
            f"{config.unknown_currency_usd_rate:g} USD a unit to avoid understating it (≈ {usd:,.0f} USD)"
        )
    else:
        detail = f"{stated} at risk (≈ {usd:,.0f} USD)"
    return ScoreReason("money_at_risk", points, detail + _cap_note(capped, config.cap))


def _distinct_reporters(inputs: ScoreInputs, config: DistinctReportersConfig) -> ScoreReason:
    subject = inputs.subject_type.replace("_", " ") if inputs.subject_type else "subject"
    window = "day" if inputs.window_days == 1 else f"{inputs.window_days} days"
    points, capped = _capped(config.points_per_doubling * math.log2(inputs.distinct_reporters), config.cap)
    return ScoreReason(
        "distinct_reporters",
        points,
        f"{inputs.distinct_reporters} distinct reporters against this {subject} in the last {window}"
        + _cap_note(capped, config.cap),
    )


def _theme_velocity(theme: str, ratio: float, config: ThemeVelocityConfig) -> ScoreReason:
    raw = config.points_per_doubling * math.log2(ratio) if ratio >= config.min_ratio else 0.0
    points, capped = _capped(raw, config.cap)
    return ScoreReason(
        "theme_velocity",
        points,
        f"{theme} is arriving at {ratio:.1f} times its usual hourly rate" + _cap_note(capped, config.cap),
    )


def _severity_cues(text: str, config: SeverityCuesConfig) -> ScoreReason:
    # Sorted by name: the same text always yields the same reason, whatever order the config lists cues in.
    found = [cue for cue in config.lexicon.values() if cue.points > 0 and cue.found_in(text)]
    if not found:
        return ScoreReason("severity_cues", 0, "Text mentions no severity cue")
    # Most severe first, then by label: the same text always reads the same, whatever the config order.
    found.sort(key=lambda cue: (-cue.points, cue.label))
    points, capped = _capped(sum(cue.points for cue in found), config.cap)
    mentions = _join([f"{cue.label} (+{cue.points})" for cue in found])
    count = f"{len(found)} severity cue" + ("" if len(found) == 1 else "s")
    return ScoreReason(
        "severity_cues", points, f"Text mentions {mentions}: {count}" + _cap_note(capped, config.cap)
    )


def _capped(raw: float, cap: int) -> tuple[int, bool]:
    """Round half up (deterministic, unlike banker's rounding at .5) and cap; say whether the cap bit."""
    points = math.floor(raw + 0.5)
    return (cap, True) if points > cap else (points, False)


def _cap_note(capped: bool, cap: int) -> str:
    return f"; capped at {cap} points" if capped else ""


def _join(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
