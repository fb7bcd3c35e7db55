"""Realistic digest inputs: a snapshot, its activity computed by the real riskradar.theme_stats from
synthetic reports, strategists' curation and interventions with effects. Shared by the digest's
unit tests and the real-browser test (and handy for looking at the page: see `write_sample_page`)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from riskradar.adapters.s3 import ReportFacts
from riskradar.digest import EffectView, Estimate
from riskradar.strategist.models import Intervention, InterventionType, ThemeCuration, Verdict
from riskradar.theme_stats import ThemeStats, compute_theme_stats
from riskradar.themes import (
    EmergingDetail,
    LineageEvent,
    LineageParent,
    ThemeInfo,
    ThemeLineage,
    ThemeSnapshot,
)

GENERATED_AT = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
SNAPSHOT_AT = GENERATED_AT - timedelta(minutes=7)
VERSION = 42
WINDOW_DAYS = 14

#: An example report that tries every way into a page; the digest must show it as text.
HOSTILE_EXAMPLE = (
    "Seller sent me this: <script>window.__pwned = 'script'; document.title = 'pwned'</script> "
    "<img src=x onerror=\"window.__pwned = 'img'\"> "
    "<a href=\"javascript:window.__pwned='link'\">claim refund</a> "
    "<svg onload=\"window.__pwned='svg'\"></svg> </style></blockquote> and then the code [EMAIL]"
)


@dataclass
class SampleTheme:
    theme_id: str
    label: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    #: Reports per day, oldest first (WINDOW_DAYS + 1 values; the last is the partial today).
    daily: Sequence[int]
    businesses: dict[str, float]
    roles: dict[str, float]
    #: Probability a report states an amount, and the amounts' median in USD.
    amount_share: float = 0.0
    amount_median: float = 0.0
    #: (subject type, pool size): reports pick a subject from the pool, the first ones most often.
    subjects: tuple[str, int] | None = None
    verdict: str | None = None
    named_by_strategist: bool = False
    emerging: EmergingDetail | None = None
    lineage: ThemeLineage | None = None
    first_seen: datetime = field(default_factory=lambda: GENERATED_AT - timedelta(days=60))


def _flat(level: int, rng: random.Random, days: int = WINDOW_DAYS + 1) -> list[int]:
    counts = [max(0, round(rng.gauss(level, level**0.5))) for _ in range(days)]
    counts[-1] = round(counts[-1] * 0.65)  # today so far
    return counts


def sample_themes(extra: int = 30) -> list[SampleTheme]:
    rng = random.Random(7)
    born = ThemeLineage(event=LineageEvent.BORN, version=VERSION)
    gift_cards = [0] * (WINDOW_DAYS - 2) + [9, 31, 27]
    themes = [
        SampleTheme(
            "thm-5e1f0a9c",
            "support impersonation gift card codes",
            ("gift card", "support", "code", "verify account", "whatsapp"),
            (
                "Someone posing as marketplace support asked me to buy gift cards to 'verify' my payout.",
                "Got a call from 'seller support', they wanted the code on the back of a $200 gift card.",
                HOSTILE_EXAMPLE,
            ),
            gift_cards,
            {"payments": 0.55, "live": 0.3, "shop": 0.15},
            {"user": 0.5, "seller": 0.4, "creator": 0.1},
            amount_share=0.8,
            amount_median=180,
            subjects=("user", 6),
            emerging=EmergingDetail(
                since=GENERATED_AT - timedelta(hours=26),
                surprise=61.2,
                recent_reports=58,
                expected_reports=0.9,
                window_start=GENERATED_AT - timedelta(days=2),
            ),
            lineage=ThemeLineage(event=LineageEvent.BORN, version=VERSION - 1),
            first_seen=GENERATED_AT - timedelta(days=1, hours=2),
        ),
        SampleTheme(
            "thm-77c2d310",
            "verification code account takeover",
            ("verification code", "sms", "locked out", "password", "hacked"),
            (
                "I got a verification code I never asked for and now I can't log in to my seller account.",
                "My account was taken over after someone got my SMS code, they changed the payout bank.",
            ),
            [6, 5, 7, 6, 5, 6, 8, 7, 6, 7, 9, 14, 22, 30, 16],
            {"shop": 0.6, "payments": 0.3, "ads": 0.1},
            {"seller": 0.6, "user": 0.3, "creator": 0.1},
            amount_share=0.35,
            amount_median=950,
            subjects=("seller", 30),
            emerging=EmergingDetail(
                since=GENERATED_AT - timedelta(hours=5),
                surprise=19.4,
                recent_reports=46,
                expected_reports=13.2,
                window_start=GENERATED_AT - timedelta(days=2),
            ),
        ),
        SampleTheme(
            "thm-2b9a44e0",
            "Non-delivery by brand-new sellers",
            ("never shipped", "paid", "seller", "tracking", "refund"),
            (
                "Paid $340 for a console three weeks ago, the seller never shipped and stopped answering.",
                "Tracking number is fake, the package never existed. Seller account created last week.",
                "Ordered two phones, nothing arrived, seller says 'be patient' every day.",
            ),
            _flat(38, rng),
            {"shop": 0.85, "live": 0.15},
            {"user": 0.92, "seller": 0.08},
            amount_share=0.7,
            amount_median=220,
            subjects=("seller", 40),
            verdict="fraud",
            named_by_strategist=True,
        ),
        SampleTheme(
            "thm-90d1c6b7",
            "counterfeit branded sneakers",
            ("counterfeit", "fake", "brand", "sneakers", "replica"),
            (
                "The 'original' sneakers are obviously replicas, wrong logo and stitching.",
                "Listing says authentic with receipt, arrived as a counterfeit.",
            ),
            _flat(17, rng),
            {"shop": 0.7, "live": 0.2, "ads": 0.1},
            {"user": 0.8, "seller": 0.15, "creator": 0.05},
            amount_share=0.5,
            amount_median=130,
            subjects=("listing", 25),
            verdict="abuse",
        ),
        SampleTheme(
            "thm-c3e8f201",
            "harassment live chat creator",
            ("harassment", "live chat", "threats", "stream", "ban"),
            (
                "A group of accounts keeps spamming threats in my live chat every stream.",
                "Viewer sent me threatening messages after I banned him from my stream.",
            ),
            _flat(12, rng),
            {"live": 0.9, "ads": 0.1},
            {"creator": 0.75, "user": 0.25},
            subjects=("user", 12),
            verdict="abuse",
        ),
        SampleTheme(
            "thm-41aa07d5",
            "fake giveaway stream crypto",
            ("giveaway", "crypto", "double your", "stream", "wallet"),
            ("Live stream promises to double any crypto sent to a wallet, uses a famous creator's face.",),
            [0, 0, 0, 1, 0, 2, 1, 3, 2, 4, 3, 5, 6, 7, 4],
            {"live": 0.8, "ads": 0.2},
            {"user": 0.7, "creator": 0.3},
            amount_share=0.4,
            amount_median=600,
            subjects=("live_stream", 4),
            lineage=ThemeLineage(
                event=LineageEvent.SPLIT,
                version=VERSION,
                parents=(
                    LineageParent(theme_id="thm-0c0ffee0", label="crypto scam stream", shared_reports=14),
                ),
            ),
        ),
        SampleTheme(
            "thm-b5d0e6f4",
            "refund delayed payout",
            ("refund", "delayed", "days", "payout", "waiting"),
            ("My refund was approved five days ago and it is still not on my card.",),
            _flat(55, rng),
            {"payments": 0.7, "shop": 0.3},
            {"user": 0.85, "seller": 0.15},
            amount_share=0.6,
            amount_median=45,
            verdict="benign",
        ),
        SampleTheme(
            "thm-e2f7a8b9",
            "app login error update",
            ("login", "error", "update", "app", "crash"),
            ("Since the last update the app crashes when I log in.",),
            _flat(20, rng),
            {"shop": 0.4, "live": 0.3, "payments": 0.2, "ads": 0.1},
            {"user": 0.7, "seller": 0.2, "creator": 0.1},
            lineage=born,
            first_seen=SNAPSHOT_AT,
        ),
    ]
    filler_words = [
        ("shipping label printer", "label", "print"),
        ("ad rejected policy review", "ad", "rejected"),
        ("coupon not applied checkout", "coupon", "checkout"),
        ("seller rating dispute", "rating", "review"),
        ("stream audio out of sync", "audio", "sync"),
        ("payout bank details change", "bank", "payout"),
        ("duplicate charge card", "charge", "duplicate"),
        ("listing removed wrongly", "removed", "listing"),
        ("return label missing", "return", "label"),
        ("creator fund eligibility", "fund", "eligibility"),
    ]
    businesses = ["shop", "live", "payments", "ads"]
    for index in range(extra):
        words = filler_words[index % len(filler_words)]
        business = businesses[index % len(businesses)]
        themes.append(
            SampleTheme(
                f"thm-{0xF0000000 + index * 7919:08x}",
                f"{words[0]} {index // len(filler_words) + 1}" if index >= len(filler_words) else words[0],
                words[1:],
                (f"Question about {words[0]}.",),
                _flat(rng.randint(1, 9), rng),
                {business: 0.8, businesses[(index + 1) % 4]: 0.2},
                {"user": 0.8, "seller": 0.2},
                amount_share=0.2 if index % 3 == 0 else 0.0,
                amount_median=30,
                verdict="benign" if index % 4 == 0 else None,
            )
        )
    return themes


@dataclass(frozen=True)
class SampleInputs:
    snapshot: ThemeSnapshot
    stats: ThemeStats
    curation: dict[str, ThemeCuration]
    interventions: list[tuple[Intervention, EffectView | None]]
    generated_at: datetime


def _pick(weights: dict[str, float], rng: random.Random) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def sample_inputs(extra_themes: int = 30, *, seed: int = 3) -> SampleInputs:
    rng = random.Random(seed)
    themes = sample_themes(extra_themes)
    first_day = GENERATED_AT.date() - timedelta(days=WINDOW_DAYS)
    theme_of: list[str | None] = []
    times: list[float] = []
    rows: list[tuple[str, str, str, str, str, float]] = []

    def add(
        theme_id: str | None, day: int, business: str, role: str, subject: tuple[str, str], usd: float
    ) -> None:
        start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) + timedelta(days=day)
        latest = min(start + timedelta(days=1), GENERATED_AT) - start
        if day == 0:  # the window starts at the time of day of GENERATED_AT
            offset = GENERATED_AT - datetime.combine(GENERATED_AT.date(), datetime.min.time(), UTC)
            moment = start + offset + (timedelta(days=1) - offset) * rng.random()
        else:
            moment = start + latest * rng.random()
        theme_of.append(theme_id)
        times.append(moment.timestamp())
        # Some reporters file more than once: distinct reporters stay below reports.
        reporter = f"r{rng.randrange(40)}" if rng.random() < 0.2 else f"r{rng.randrange(10**9)}"
        rows.append((business, role, reporter, subject[0], subject[1], usd))

    for theme in themes:
        for day, reports in enumerate(theme.daily):
            for _ in range(reports):
                subject = ("", "")
                if theme.subjects is not None:
                    kind, pool = theme.subjects
                    # The first subjects of the pool draw most reports (and distinct reporters).
                    which = min(int(rng.expovariate(0.35)), pool - 1)
                    subject = (kind, hashlib.sha256(f"{theme.theme_id}/{which}".encode()).hexdigest())
                usd = float("nan")
                if rng.random() < theme.amount_share:
                    usd = round(theme.amount_median * rng.lognormvariate(0, 0.8), 2)
                add(theme.theme_id, day, _pick(theme.businesses, rng), _pick(theme.roles, rng), subject, usd)
    for day in range(WINDOW_DAYS + 1):
        for _ in range(rng.randint(25, 40) if day < WINDOW_DAYS else 15):
            add(
                None,
                day,
                _pick({"shop": 4, "live": 2, "payments": 2, "ads": 1}, rng),
                "user",
                ("", ""),
                float("nan"),
            )

    stats = compute_theme_stats(
        theme_of,
        np.array(times),
        ReportFacts(
            businesses=tuple(row[0] for row in rows),
            reporter_roles=tuple(row[1] for row in rows),
            reporter_hashes=tuple(row[2] for row in rows),
            subject_types=tuple(row[3] for row in rows),
            subject_hashes=tuple(row[4] for row in rows),
            amounts_usd=np.array([row[5] for row in rows], dtype=np.float64),
        ),
        theme_ids=[theme.theme_id for theme in themes],
        end=GENERATED_AT - timedelta(minutes=7),
        window_days=WINDOW_DAYS,
        snapshot_version=VERSION,
    )
    infos = tuple(
        ThemeInfo(
            theme_id=theme.theme_id,
            label=theme.label,
            keywords=theme.keywords,
            examples=theme.examples,
            named_by_strategist=theme.named_by_strategist,
            verdict=theme.verdict,
            emerging=theme.emerging is not None,
            emerging_detail=theme.emerging,
            size=sum(theme.daily),
            first_seen=theme.first_seen,
            last_seen=SNAPSHOT_AT,
            lineage=theme.lineage or ThemeLineage(event=LineageEvent.CONTINUED, version=VERSION),
        )
        for theme in themes
    )
    snapshot = ThemeSnapshot(
        VERSION, SNAPSHOT_AT, infos, np.zeros((len(infos), 4), dtype=np.float32), dormant=()
    )
    curation = {
        "thm-2b9a44e0": ThemeCuration(
            theme_id="thm-2b9a44e0",
            verdict=Verdict.FRAUD,
            verdict_note="Confirmed with payments: sellers under 14 days old, payouts to prepaid cards.",
            name="Non-delivery by brand-new sellers",
            updated_by="maria.k",
            updated_at=GENERATED_AT - timedelta(days=9),
        ),
        "thm-77c2d310": ThemeCuration(
            theme_id="thm-77c2d310",
            verdict=Verdict.NEEDS_REVIEW,
            verdict_note="Looks like SIM swap; checking with account security.",
            updated_by="dev.r",
            updated_at=GENERATED_AT - timedelta(minutes=3),
        ),
    }
    interventions: list[tuple[Intervention, EffectView | None]] = [
        (
            Intervention(
                intervention_id="int-001",
                theme_id="thm-2b9a44e0",
                business="shop",
                action_type=InterventionType.LIMIT,
                action="Hold payouts of sellers younger than 14 days until the buyer confirms delivery",
                start=GENERATED_AT - timedelta(days=6),
                created_by="maria.k",
                created_at=GENERATED_AT - timedelta(days=6),
            ),
            EffectView(
                status="ok",
                summary="Reports in shop fell 41% against the other businesses since the hold started.",
                rate_ratio=Estimate(value=0.59, ci_low=0.44, ci_high=0.79),
                difference_in_differences=Estimate(value=-14.2, ci_low=-20.5, ci_high=-7.9),
            ),
        ),
        (
            Intervention(
                intervention_id="int-002",
                theme_id="thm-90d1c6b7",
                business="shop",
                action_type=InterventionType.TAKEDOWN,
                action="Remove listings of 12 sneaker brands without proof of purchase",
                start=GENERATED_AT + timedelta(days=1),
                created_by="li.w",
                created_at=GENERATED_AT - timedelta(hours=3),
            ),
            None,
        ),
        (
            Intervention(
                intervention_id="int-003",
                theme_id="thm-c3e8f201",
                business="live",
                action_type=InterventionType.WARN,
                action="Warn viewers before they send a message to a creator who blocked them",
                start=GENERATED_AT - timedelta(days=2),
                created_by="sam.o",
                created_at=GENERATED_AT - timedelta(days=2),
            ),
            EffectView(status="pending", summary="Too recent: the effect is measured after 3 full days."),
        ),
    ]
    return SampleInputs(snapshot, stats, curation, interventions, GENERATED_AT)


def write_sample_page(path: Path) -> Path:
    """Render the sample digest to `path` (for looking at it: `python -m tests.digest_samples`)."""
    from riskradar.digest import build_digest, render_html

    inputs = sample_inputs()
    digest = build_digest(
        inputs.snapshot,
        inputs.stats,
        curation=inputs.curation,
        interventions=inputs.interventions,
        generated_at=inputs.generated_at,
    )
    path.write_text(render_html(digest), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_sample_page(Path("/tmp/digest-sample.html")))
