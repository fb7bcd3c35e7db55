"""Priority score: every factor moves the score the right way and says why; caps, clamps, routing, config."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from riskradar.models import MAX_AMOUNT, Amount, Priority, ReporterRole, SignalReason
from riskradar.scoring import (
    DEFAULT_CONFIG,
    PriorityScore,
    ScoreInputs,
    ScoreReason,
    ScoringConfig,
    ScoringPolicy,
    score_report,
    signal_reasons,
)

PROPERTY = settings(max_examples=300, deadline=None)
BASE = DEFAULT_CONFIG.base

PLAIN = ScoreInputs(
    business="shop",
    reporter_role=ReporterRole.USER,
    text="The listing photo is blurry.",
    amount=None,
    theme_label=None,
    theme_verdict=None,
    theme_emerging=False,
    distinct_reporters=1,
    subject_type="seller",
    window_days=7,
    theme_velocity=None,
)


def inputs(**changes: Any) -> ScoreInputs:
    return dataclasses.replace(PLAIN, **changes)


def usd(value: str, currency: str = "USD") -> Amount:
    return Amount(value=Decimal(value), currency=currency)


def reason(score: PriorityScore, factor: str) -> ScoreReason:
    matches = [r for r in score.reasons if r.factor == factor]
    assert len(matches) == 1, f"expected one {factor} reason in {score.reasons}"
    return matches[0]


def factors(score: PriorityScore) -> set[str]:
    return {r.factor for r in score.reasons}


def config(**overrides: Any) -> ScoringConfig:
    """The default config with a partial override, merged as SCORING_CONFIG would merge it."""
    return ScoringPolicy.from_json(json.dumps({"default": overrides})).default


def test_a_report_without_evidence_scores_the_base_with_no_reasons() -> None:
    score = score_report(PLAIN, DEFAULT_CONFIG)
    assert score == PriorityScore(score=BASE, priority=Priority.NORMAL, reasons=())


# Each factor alone: (change to the plain report, factor, the reason's exact detail, direction).
FACTORS: dict[str, tuple[dict[str, Any], str, str, int]] = {
    "fraud verdict": (
        {"theme_label": "Fake support", "theme_verdict": "fraud"},
        "theme_verdict",
        'Theme "Fake support" is confirmed fraud by a strategist',
        +1,
    ),
    "abuse verdict": (
        {"theme_label": "Spam DMs", "theme_verdict": "abuse"},
        "theme_verdict",
        'Theme "Spam DMs" is confirmed abuse by a strategist',
        +1,
    ),
    "needs review": (
        {"theme_verdict": "needs_review"},
        "theme_verdict",
        "This report's theme is flagged and awaiting a strategist's review",
        +1,
    ),
    "benign verdict": (
        {"theme_label": "Late delivery", "theme_verdict": "benign"},
        "theme_verdict",
        'Theme "Late delivery" was judged benign by a strategist',
        -1,
    ),
    "emerging theme": (
        {"theme_label": "Fake support", "theme_emerging": True},
        "emerging_theme",
        'Theme "Fake support" is emerging: new or growing fast, and not yet reviewed',
        +1,
    ),
    "money at risk": ({"amount": usd("500")}, "money_at_risk", "500 USD at risk", +1),
    "money in another currency": (
        {"amount": usd("1500.00", "EUR")},
        "money_at_risk",
        "1,500.00 EUR at risk (≈ 1,620 USD)",
        +1,
    ),
    "seller reporter": ({"reporter_role": ReporterRole.SELLER}, "reporter_role", "Reported by a seller", +1),
    "creator reporter": (
        {"reporter_role": ReporterRole.CREATOR},
        "reporter_role",
        "Reported by a creator",
        +1,
    ),
    "distinct reporters": (
        {"distinct_reporters": 3},
        "distinct_reporters",
        "3 distinct reporters against this seller in the last 7 days",
        +1,
    ),
    "theme velocity": (
        {"theme_label": "Fake support", "theme_velocity": 4.0},
        "theme_velocity",
        'Theme "Fake support" is arriving at 4.0 times its usual hourly rate',
        +1,
    ),
    "severity cue": (
        {"text": "She asked me to pay with a gift card."},
        "severity_cues",
        "Text mentions gift cards (+10): 1 severity cue",
        +1,
    ),
}


@pytest.mark.parametrize(("change", "factor", "detail", "direction"), FACTORS.values(), ids=FACTORS.keys())
def test_each_factor_moves_the_score_and_says_why(
    change: dict[str, Any], factor: str, detail: str, direction: int
) -> None:
    score = score_report(inputs(**change), DEFAULT_CONFIG)
    [only] = score.reasons
    assert (only.factor, only.detail) == (factor, detail)
    assert only.points * direction > 0
    assert (score.score - BASE) * direction > 0


def test_verdicts_order_fraud_abuse_needs_review_none_benign() -> None:
    def scored(verdict: str | None) -> int:
        return score_report(inputs(theme_label="T", theme_verdict=verdict), DEFAULT_CONFIG).score

    assert scored("fraud") > scored("abuse") > scored("needs_review") > scored(None) > scored("benign")


def test_an_unknown_verdict_is_a_bug_not_a_silent_zero() -> None:
    with pytest.raises(ValueError, match="theme_verdict must be one of abuse, benign, fraud, needs_review"):
        inputs(theme_verdict="spam")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"distinct_reporters": -1}, "distinct_reporters"),
        ({"window_days": 0}, "window_days"),
        ({"theme_velocity": -0.5}, "theme_velocity"),
        ({"theme_velocity": float("nan")}, "theme_velocity"),
    ],
)
def test_impossible_inputs_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inputs(**change)


# --- money at risk -------------------------------------------------------------------------------------


def money_points(amount: Amount) -> int:
    score = score_report(inputs(amount=amount), DEFAULT_CONFIG)
    return score.score - BASE


def test_money_points_grow_on_a_log_scale_from_the_floor_to_the_cap() -> None:
    points = [money_points(usd(v)) for v in ("0", "10", "100", "1000", "10000", "1000000000")]
    assert points == [0, 0, 8, 16, 24, 24]
    assert money_points(usd("9.99")) == 0
    assert 0 < money_points(usd("20")) < money_points(usd("50")) < 8


def test_money_is_converted_to_usd_before_scoring() -> None:
    assert money_points(usd("1000", "JPY")) == 0  # about 6.60 USD
    assert money_points(usd("150000", "JPY")) == money_points(usd("990"))
    assert money_points(usd("1000", "KWD")) > money_points(usd("1000"))


def test_an_unknown_currency_is_taken_at_parity_and_the_reason_says_so() -> None:
    # XAF (CFA franc) is not in the rate table.
    score = score_report(inputs(amount=usd("5000", "XAF")), DEFAULT_CONFIG)
    assert score.score - BASE == money_points(usd("5000"))
    assert reason(score, "money_at_risk").detail == (
        "5,000 XAF at risk; no rate on file for XAF, so it is counted as 1 USD a unit to avoid "
        "understating it (≈ 5,000 USD)"
    )


def test_money_cap_holds_and_is_mentioned() -> None:
    detail = reason(score_report(inputs(amount=usd("250000")), DEFAULT_CONFIG), "money_at_risk").detail
    assert detail == "250,000 USD at risk; capped at 24 points"


# --- distinct reporters, velocity ----------------------------------------------------------------------


def test_distinct_reporters_count_from_the_second_one_on_a_log2_scale_up_to_the_cap() -> None:
    def points(n: int) -> int:
        return score_report(inputs(distinct_reporters=n), DEFAULT_CONFIG).score - BASE

    assert [points(n) for n in (0, 1, 2, 3, 4, 8, 1000)] == [0, 0, 8, 13, 16, 24, 24]


def test_distinct_reporters_detail_names_the_subject_and_the_window() -> None:
    score = score_report(
        inputs(distinct_reporters=40, subject_type="live_stream", window_days=1), DEFAULT_CONFIG
    )
    assert reason(score, "distinct_reporters").detail == (
        "40 distinct reporters against this live stream in the last day; capped at 24 points"
    )


def test_theme_velocity_counts_only_from_the_minimum_ratio_and_is_capped() -> None:
    def points(ratio: float) -> int:
        return score_report(inputs(theme_velocity=ratio), DEFAULT_CONFIG).score - BASE

    assert [points(r) for r in (0.0, 1.0, 1.99, 2.0, 4.0, 8.0, 500.0)] == [0, 0, 0, 5, 10, 15, 15]


# --- severity cues -------------------------------------------------------------------------------------

CUE_EXAMPLES = {
    "account_takeover": [
        "My account was hacked and the password was changed",
        "Someone logged into my account from another country",
        "hackers took over my seller account",
    ],
    "phishing_code": [
        "He asked me for the verification code I got by SMS",
        "they wanted my OTP to 'unlock' the order",
        "this link is a phishing page",
    ],
    "gift_card": ["asked me to pay with Steam cards", "buy a Gift Card and send the numbers"],
    "stolen_card": ["my card was stolen yesterday", "the buyer used a stolen credit card"],
    "unauthorised_payment": [
        "There is a payment I didn\u2019t make",  # typographic apostrophe
        "unauthorised charge on my statement",
        "Why is there a charge I don't recognize?",
        "I did not authorize this payment",
    ],
    "threat": ["he threatened to leak my address", "the buyer is blackmailing me"],
    "support_impersonation": [
        "a man pretending to be customer service called me",
        "someone posing as support messaged me",
        "it was a fake support agent",
    ],
    "paid_not_received": [
        "paid, never shipped",
        "I paid two weeks ago and the item never arrived",
        "seller took my money and vanished",
        "my order has not been delivered",
    ],
}
CUE_CASES = [(cue, text) for cue, texts in CUE_EXAMPLES.items() for text in texts]
HARMLESS = [
    "The listing photo is blurry.",
    "Great seller, fast shipping!",
    "How do I change my password?",
    "I received my order, thanks.",
    "I never received the newsletter I signed up for.",
    "The stream had bad audio.",
]


def test_the_examples_cover_the_whole_default_lexicon() -> None:
    assert set(CUE_EXAMPLES) == set(DEFAULT_CONFIG.severity_cues.lexicon)


@pytest.mark.parametrize(("cue", "text"), CUE_CASES)
def test_each_default_cue_finds_its_phrases(cue: str, text: str) -> None:
    assert DEFAULT_CONFIG.severity_cues.lexicon[cue].found_in(text)


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_carries_no_cue(text: str) -> None:
    assert "severity_cues" not in factors(score_report(inputs(text=text), DEFAULT_CONFIG))


def test_a_cue_counts_once_however_often_it_appears() -> None:
    once = score_report(inputs(text="gift card"), DEFAULT_CONFIG)
    thrice = score_report(inputs(text="gift card, gift card, GIFT CARDS"), DEFAULT_CONFIG)
    assert once == thrice


def test_cues_add_up_to_the_cap_and_list_the_most_severe_first() -> None:
    two = score_report(inputs(text="He threatened me and asked for gift cards."), DEFAULT_CONFIG)
    assert reason(two, "severity_cues") == ScoreReason(
        "severity_cues", 22, "Text mentions threats (+12) and gift cards (+10): 2 severity cues"
    )
    everything = " ".join(texts[0] for texts in CUE_EXAMPLES.values())
    capped = reason(score_report(inputs(text=everything), DEFAULT_CONFIG), "severity_cues")
    assert capped.points == DEFAULT_CONFIG.severity_cues.cap == 30
    assert capped.detail.startswith("Text mentions account takeover (+12), threats (+12), ")
    assert capped.detail.endswith(": 8 severity cues; capped at 30 points")


@pytest.mark.parametrize("verdict", ["fraud", "abuse", "benign", "needs_review"])
def test_an_emerging_theme_with_a_verdict_gets_no_not_yet_reviewed_points(verdict: str) -> None:
    reasons = score_report(inputs(theme_emerging=True, theme_verdict=verdict), DEFAULT_CONFIG).reasons
    assert [r.factor for r in reasons if r.factor.startswith("theme_") or r.factor == "emerging_theme"] == [
        "theme_verdict"
    ]


# --- clamping, routing, ordering -----------------------------------------------------------------------

EVERYTHING = inputs(
    reporter_role=ReporterRole.SELLER,
    text=" ".join(texts[0] for texts in CUE_EXAMPLES.values()),
    amount=usd("1000000"),
    theme_label="Fake support",
    theme_verdict="fraud",
    theme_emerging=True,
    distinct_reporters=500,
    theme_velocity=100.0,
)


def test_the_score_is_clamped_to_100_but_the_reasons_keep_their_points() -> None:
    score = score_report(EVERYTHING, DEFAULT_CONFIG)
    assert score.score == 100
    assert score.priority is Priority.CRITICAL
    assert BASE + sum(r.points for r in score.reasons) == 148
    # Every factor but emerging_theme: a theme with a verdict was reviewed.
    assert len(score.reasons) == 6


def test_the_score_is_clamped_to_0() -> None:
    score = score_report(inputs(theme_verdict="benign"), DEFAULT_CONFIG)
    assert BASE + sum(r.points for r in score.reasons) == -5
    assert score.score == 0
    assert score.priority is Priority.NORMAL


@pytest.mark.parametrize(
    ("base", "priority"),
    [
        (0, Priority.NORMAL),
        (49, Priority.NORMAL),
        (50, Priority.HIGH),
        (74, Priority.HIGH),
        (75, Priority.CRITICAL),
        (100, Priority.CRITICAL),
    ],
)
def test_thresholds_route_the_score(base: int, priority: Priority) -> None:
    score = score_report(PLAIN, config(base=base))
    assert (score.score, score.priority) == (base, priority)


def test_no_single_factor_makes_a_report_critical_by_default() -> None:
    for change, *_ in FACTORS.values():
        assert score_report(inputs(**change), DEFAULT_CONFIG).priority is not Priority.CRITICAL
    assert score_report(inputs(theme_verdict="fraud"), DEFAULT_CONFIG).priority is Priority.HIGH


def test_a_typical_scam_report_is_critical() -> None:
    score = score_report(
        inputs(
            text="Someone posing as support asked for my verification code, then my account was hacked.",
            theme_label="Fake support",
            theme_verdict="fraud",
            amount=usd("300"),
        ),
        DEFAULT_CONFIG,
    )
    assert score.priority is Priority.CRITICAL
    assert [r.factor for r in score.reasons] == ["theme_verdict", "severity_cues", "money_at_risk"]


def test_reasons_are_ordered_by_absolute_points() -> None:
    score = score_report(
        inputs(theme_verdict="benign", reporter_role=ReporterRole.SELLER, distinct_reporters=2),
        DEFAULT_CONFIG,
    )
    assert [(r.factor, r.points) for r in score.reasons] == [
        ("theme_verdict", -25),
        ("distinct_reporters", 8),
        ("reporter_role", 5),
    ]


def test_scoring_is_deterministic_and_independent_of_lexicon_order() -> None:
    lexicon = DEFAULT_CONFIG.severity_cues.lexicon
    reversed_cues = DEFAULT_CONFIG.severity_cues.model_copy(
        update={"lexicon": dict(reversed(list(lexicon.items())))}
    )
    shuffled = DEFAULT_CONFIG.model_copy(update={"severity_cues": reversed_cues})
    assert score_report(EVERYTHING, DEFAULT_CONFIG) == score_report(EVERYTHING, DEFAULT_CONFIG)
    assert score_report(EVERYTHING, shuffled) == score_report(EVERYTHING, DEFAULT_CONFIG)


def test_signal_reasons_carry_the_reasons_unchanged() -> None:
    score = score_report(EVERYTHING, DEFAULT_CONFIG)
    assert signal_reasons(score) == [
        SignalReason(factor=r.factor, points=r.points, detail=r.detail) for r in score.reasons
    ]


# --- per-business configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("document", [None, "", "  \n", "{}"])
def test_no_document_means_the_defaults(document: str | None) -> None:
    policy = ScoringPolicy.from_json(document)
    assert policy.config_for("shop") == DEFAULT_CONFIG
    assert policy.businesses == frozenset()


def test_a_business_override_changes_only_that_business() -> None:
    policy = ScoringPolicy.from_json(
        json.dumps({"businesses": {"payments": {"money_at_risk": {"points_per_tenfold": 10}}}})
    )
    payments = policy.config_for("payments")
    assert payments.money_at_risk.points_per_tenfold == 10
    assert payments.money_at_risk.cap == DEFAULT_CONFIG.money_at_risk.cap  # deep-merged, not replaced
    assert payments.money_at_risk.usd_rates == DEFAULT_CONFIG.money_at_risk.usd_rates
    assert payments.model_copy(update={"money_at_risk": DEFAULT_CONFIG.money_at_risk}) == DEFAULT_CONFIG
    for business in ("shop", "live", "ads", "unheard-of"):
        assert policy.config_for(business) == DEFAULT_CONFIG
    report = inputs(business="payments", amount=usd("1000"))
    assert score_report(report, payments).score == BASE + 20
    assert score_report(report, policy.config_for("shop")).score == BASE + 16


def test_business_overrides_apply_over_the_overridden_default() -> None:
    policy = ScoringPolicy.from_json(
        json.dumps(
            {
                "default": {"base": 10, "thresholds": {"critical": 80}},
                "businesses": {
                    "live": {
                        "thresholds": {"high": 40},
                        "severity_cues": {
                            "lexicon": {
                                "gift_card": {"points": 0},
                                "coins_scam": {"label": "a free-coins offer", "pattern": r"free\s+coins"},
                            }
                        },
                    }
                },
            }
        )
    )
    shop, live = policy.config_for("shop"), policy.config_for("live")
    assert (shop.base, shop.thresholds.critical, shop.thresholds.high) == (10, 80, 50)
    assert (live.base, live.thresholds.critical, live.thresholds.high) == (10, 80, 40)
    assert live.severity_cues.lexicon.keys() == shop.severity_cues.lexicon.keys() | {"coins_scam"}
    text = "Free coins if you buy a gift card!"
    assert reason(score_report(inputs(text=text), live), "severity_cues").detail == (
        "Text mentions a free-coins offer (+10): 1 severity cue"
    )
    assert reason(score_report(inputs(text=text), shop), "severity_cues").detail == (
        "Text mentions gift cards (+10): 1 severity cue"
    )


BAD_DOCUMENTS = {
    "not JSON": ('{"default": ', "SCORING_CONFIG is not valid JSON"),
    "not an object": ("[1, 2]", "SCORING_CONFIG must be a JSON object"),
    "unknown top-level key": ('{"defaults": {}}', "defaults: unknown key"),
    "business not an object": ('{"businesses": {"ads": 5}}', "businesses.ads: must be a JSON object"),
    "NaN": ('{"default": {"base": NaN}}', "NaN"),
    "wrong type": ('{"default": {"base": "high"}}', "default.base: Input should be a valid integer"),
    "misspelt field": ('{"default": {"bsae": 5}}', "default.bsae: Extra inputs are not permitted"),
    "fractional points": ('{"default": {"emerging_theme": 1.5}}', "default.emerging_theme"),
    "true as a number": ('{"default": {"emerging_theme": true}}', "default.emerging_theme"),
    "a number in quotes": (
        '{"businesses": {"ads": {"thresholds": {"critical": "80"}}}}',
        "businesses.ads.thresholds.critical: Input should be a valid integer",
    ),
    "a business twice": (
        '{"businesses": {"payments": {"base": 30}, "payments": {"emerging_theme": 5}}}',
        "'payments' appears twice in one object",
    ),
    "negative cap": (
        '{"businesses": {"ads": {"money_at_risk": {"cap": -1}}}}',
        "businesses.ads.money_at_risk.cap: Input should be greater than or equal to 0",
    ),
    "high above critical": (
        '{"businesses": {"ads": {"thresholds": {"critical": 40}}}}',
        "businesses.ads.thresholds: Value error, high (50) must be below critical (40)",
    ),
    "bad regex": (
        '{"businesses": {"live": {"severity_cues": {"lexicon": {"x": {"label": "x", "pattern": "("}}}}}}',
        "businesses.live.severity_cues.lexicon.x.pattern: Value error, is not a valid regular expression",
    ),
    "regex matching everything": (
        '{"default": {"severity_cues": {"lexicon": {"x": {"label": "x", "pattern": ".*"}}}}}',
        "default.severity_cues.lexicon.x.pattern: Value error, matches empty text",
    ),
    "new cue without a label": (
        '{"default": {"severity_cues": {"lexicon": {"x": {"pattern": "scam"}}}}}',
        "default.severity_cues.lexicon.x.label: Field required",
    ),
    "lower-case currency": (
        '{"default": {"money_at_risk": {"usd_rates": {"usd": 1}}}}',
        "default.money_at_risk.usd_rates: Value error, 'usd' is not an ISO 4217 currency code",
    ),
    "unknown reporter role": ('{"default": {"reporter_role": {"admin": 5}}}', "default.reporter_role.admin"),
    "nested model replaced by a number": ('{"default": {"thresholds": 75}}', "default.thresholds"),
}


@pytest.mark.parametrize(("document", "message"), BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_a_bad_document_names_the_field(document: str, message: str) -> None:
    with pytest.raises(ValueError, match="SCORING_CONFIG") as error:
        ScoringPolicy.from_json(document)
    assert message in str(error.value)


# --- properties ----------------------------------------------------------------------------------------

PHRASES = [text for texts in CUE_EXAMPLES.values() for text in texts] + HARMLESS
texts = st.lists(st.sampled_from(PHRASES), max_size=5).map(" ".join) | st.text(max_size=300)
amounts = st.none() | st.builds(
    Amount,
    value=st.decimals(min_value=0, max_value=MAX_AMOUNT, places=2, allow_nan=False, allow_infinity=False),
    currency=st.sampled_from(["USD", "EUR", "JPY", "KWD", "XAF", "VND"]),
)
score_inputs = st.builds(
    ScoreInputs,
    business=st.sampled_from(["shop", "live", "payments", "ads"]),
    reporter_role=st.sampled_from(ReporterRole),
    text=texts,
    amount=amounts,
    theme_label=st.none() | st.text(min_size=1, max_size=30),
    theme_verdict=st.sampled_from([None, "fraud", "abuse", "benign", "needs_review"]),
    theme_emerging=st.booleans(),
    distinct_reporters=st.integers(min_value=0, max_value=10_000),
    subject_type=st.none() | st.sampled_from(["seller", "listing", "live_stream"]),
    window_days=st.integers(min_value=1, max_value=90),
    theme_velocity=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
CONFIGS = [
    DEFAULT_CONFIG,
    # Pushes most scores above 100 or below 0.
    config(
        base=90,
        emerging_theme=60,
        theme_verdict={"benign": -200, "fraud": 80},
        money_at_risk={"cap": 80, "points_per_tenfold": 40},
    ),
    config(base=0, reporter_role={"user": -10, "seller": -5}, thresholds={"critical": 30, "high": 10}),
]


@PROPERTY
@given(score_inputs, st.sampled_from(CONFIGS))
def test_score_is_within_0_and_100_and_consistent_with_its_reasons(
    report: ScoreInputs, scoring: ScoringConfig
) -> None:
    score = score_report(report, scoring)
    raw = scoring.base + sum(r.points for r in score.reasons)
    assert 0 <= score.score <= 100
    assert score.score == min(100, max(0, raw))
    assert score.priority is scoring.thresholds.priority_for(score.score)
    assert all(r.points != 0 and r.detail for r in score.reasons)
    sizes = [abs(r.points) for r in score.reasons]
    assert sizes == sorted(sizes, reverse=True)
    assert len({r.factor for r in score.reasons}) == len(score.reasons)


@PROPERTY
@given(score_inputs)
def test_without_clamping_the_reasons_sum_to_score_minus_base(report: ScoreInputs) -> None:
    score = score_report(report, DEFAULT_CONFIG)
    raw = DEFAULT_CONFIG.base + sum(r.points for r in score.reasons)
    assume(0 <= raw <= 100)
    assert sum(r.points for r in score.reasons) == score.score - DEFAULT_CONFIG.base


@PROPERTY
@given(score_inputs, st.integers(min_value=1, max_value=100), st.floats(min_value=1, max_value=100))
def test_more_evidence_never_lowers_the_score(report: ScoreInputs, more: int, factor: float) -> None:
    before = score_report(report, DEFAULT_CONFIG).score
    stronger = dataclasses.replace(
        report,
        distinct_reporters=report.distinct_reporters + more,
        theme_velocity=None if report.theme_velocity is None else report.theme_velocity * factor,
        amount=None
        if report.amount is None
        else Amount(value=min(MAX_AMOUNT, report.amount.value * 2), currency=report.amount.currency),
    )
    assert score_report(stronger, DEFAULT_CONFIG).score >= before
