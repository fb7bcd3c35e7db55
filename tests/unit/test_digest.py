"""The digest: order and priority, curation, interventions, caps, edge cases, and that its renderings
show untrusted text as text."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pytest

from riskradar.adapters.s3 import ReportFacts
from riskradar.digest import (
    DigestLimits,
    EffectView,
    build_digest,
    content_security_policy,
    neutralise,
    render_html,
    render_markdown,
)
from riskradar.digest import formatting as fmt
from riskradar.digest.model import Digest
from riskradar.digest.priority import DEFAULT_PRIORITY, PriorityInputs, theme_priority
from riskradar.strategist.models import Intervention, InterventionType, ThemeCuration, Verdict
from riskradar.theme_stats import ThemeStats, compute_theme_stats
from riskradar.themes import EmergingDetail, LineageEvent, ThemeInfo, ThemeLineage, ThemeSnapshot
from tests.digest_samples import HOSTILE_EXAMPLE, sample_inputs

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
SNAPSHOT_AT = NOW - timedelta(minutes=5)


def theme(theme_id: str, **fields: object) -> ThemeInfo:
    defaults: dict[str, object] = {
        "label": f"label of {theme_id}",
        "lineage": ThemeLineage(event=LineageEvent.CONTINUED, version=5),
    }
    return ThemeInfo.model_validate({"theme_id": theme_id, **defaults, **fields})


def emerging(surprise: float) -> dict[str, object]:
    return {
        "emerging": True,
        "emerging_detail": EmergingDetail(
            since=NOW - timedelta(hours=3),
            surprise=surprise,
            recent_reports=20,
            expected_reports=4.0,
            window_start=NOW - timedelta(days=2),
        ),
    }


def snapshot(*themes: ThemeInfo, version: int = 5) -> ThemeSnapshot:
    return ThemeSnapshot(version, SNAPSHOT_AT, themes, np.zeros((len(themes), 2), dtype=np.float32))


Report = tuple[
    str | None, int, str, str, str, str, float
]  # theme, days ago, business, role, reporter, subject, usd


def stats_of(
    reports: list[Report], theme_ids: list[str], *, version: int = 5, window_days: int = 6
) -> ThemeStats:
    def at(days_ago: int) -> float:
        return (NOW - timedelta(days=days_ago, minutes=30)).timestamp()

    return compute_theme_stats(
        [report[0] for report in reports],
        np.array([at(report[1]) for report in reports], dtype=np.float64),
        ReportFacts(
            businesses=tuple(r[2] for r in reports),
            reporter_roles=tuple(r[3] for r in reports),
            reporter_hashes=tuple(r[4] for r in reports),
            subject_types=tuple("seller" if r[5] else "" for r in reports),
            subject_hashes=tuple(r[5] for r in reports),
            amounts_usd=np.array([r[6] for r in reports], dtype=np.float64),
        ),
        theme_ids=theme_ids,
        end=NOW,
        window_days=window_days,
        snapshot_version=version,
    )


def many(
    theme_id: str | None, count: int, *, days_ago: int = 3, business: str = "shop", role: str = "user"
) -> list[Report]:
    return [(theme_id, days_ago, business, role, f"r-{theme_id}-{i}", "", float("nan")) for i in range(count)]


def build(snap: ThemeSnapshot, stats: ThemeStats | None, **kwargs: object) -> Digest:
    options: dict[str, object] = {"curation": {}, "interventions": [], "generated_at": NOW} | kwargs
    return build_digest(snap, stats, **options)  # type: ignore[arg-type]


def order(digest: Digest) -> list[str]:
    return [card.theme_id for card in digest.themes] + [row.theme_id for row in digest.other_themes]


# --- Order and priority ---------------------------------------------------------------------------------


def test_emerging_themes_come_first_most_surprising_first_and_a_benign_one_last_among_them() -> None:
    snap = snapshot(
        theme("thm-fraud", verdict="fraud"),
        theme("thm-mild", **emerging(13.0)),
        theme("thm-wild", **emerging(80.0)),
        theme("thm-benign-burst", verdict="benign", **emerging(200.0)),
        theme("thm-plain"),
    )
    digest = build(snap, stats_of(many(None, 5), ["thm-fraud", "thm-mild", "thm-wild", "thm-benign-burst"]))
    assert order(digest)[:3] == ["thm-wild", "thm-mild", "thm-benign-burst"]
    assert order(digest)[3:] == ["thm-fraud", "thm-plain"]
    assert [card.rank for card in digest.themes] == [1, 2, 3, 4, 5]
    assert digest.totals.emerging == 3


def test_priority_weighs_verdict_money_reporters_growth_and_size_as_documented() -> None:
    base = PriorityInputs(
        verdict=None,
        emerging=False,
        merged_into=None,
        money_at_risk_usd=0.0,
        max_distinct_reporters=0,
        subject_type=None,
        growth=None,
        recent_reports=0,
        reports=0,
    )

    def score(**changes: object) -> float:
        return theme_priority(PriorityInputs(**(base.__dict__ | changes)))[0]

    assert score() == 0
    assert score(verdict=Verdict.FRAUD) == 40
    assert score(verdict=Verdict.BENIGN) == -40
    assert score(money_at_risk_usd=10_000) == 16  # two tenfolds above 100 USD
    assert score(money_at_risk_usd=10**9) == 24  # capped
    assert score(money_at_risk_usd=90) == 0  # below the floor
    assert score(max_distinct_reporters=2) == 0  # two can be a coincidence
    assert score(max_distinct_reporters=8) == 24
    assert score(growth=4.0, recent_reports=10) == 12
    assert score(growth=4.0, recent_reports=2) == 0  # too few recent reports to call it growth
    assert score(growth=1.2, recent_reports=50) == 0
    assert score(reports=1000) == 12
    assert score(merged_into="thm-other", verdict=Verdict.FRAUD) == -60
    _, reasons = theme_priority(
        PriorityInputs(
            **(base.__dict__ | {"verdict": Verdict.ABUSE, "reports": 100, "max_distinct_reporters": 16})
        )
    )
    assert [reason.factor for reason in reasons] == ["verdict", "distinct_reporters", "size"]
    assert "16 distinct reporters against one subject" in reasons[1].detail
    assert "fraud +40" in DEFAULT_PRIORITY.method()


def test_themes_are_ordered_by_priority_benign_sinks_and_ties_go_to_the_larger_theme() -> None:
    ids = ["thm-unjudged-big", "thm-fraud", "thm-benign", "thm-money", "thm-small", "thm-same-small"]
    snap = snapshot(
        theme("thm-benign", verdict="benign"),
        theme("thm-fraud", verdict="fraud"),
        theme("thm-money"),
        theme("thm-unjudged-big"),
        theme("thm-small"),
        theme("thm-same-small"),
    )
    reports = (
        many("thm-benign", 500)
        + many("thm-fraud", 5)
        + [("thm-money", 3, "payments", "user", f"r{i}", "", 5_000.0) for i in range(10)]
        + many("thm-unjudged-big", 400)
        + many("thm-small", 3)
        + many("thm-same-small", 3)
    )
    digest = build(snap, stats_of(reports, ids))
    assert order(digest) == [
        "thm-fraud",
        "thm-money",
        "thm-unjudged-big",
        "thm-same-small",
        "thm-small",
        "thm-benign",
    ]
    priorities = [card.priority for card in digest.themes]
    assert priorities == sorted(priorities, reverse=True)


def test_growth_compares_the_share_of_the_last_two_days_with_the_share_before() -> None:
    # 7 days; the theme holds 10 % of traffic before and 50 % in the last two days.
    reports: list[Report] = []
    for days_ago in range(2, 7):
        reports += many("thm-a", 1, days_ago=days_ago) + many(None, 9, days_ago=days_ago)
    for days_ago in range(2):
        reports += many("thm-a", 10, days_ago=days_ago) + many(None, 10, days_ago=days_ago)
    digest = build(snapshot(theme("thm-a")), stats_of(reports, ["thm-a"]))
    card = digest.themes[0]
    # (20 / 40) / ((5 + 0.5) / 50): the half report keeps a theme that is new this week finite.
    assert card.growth == pytest.approx((20 / 40) / (5.5 / 50), rel=0.01)
    assert any(reason.factor == "growth" for reason in card.priority_reasons)


# --- Curation -----------------------------------------------------------------------------------------


def curation(theme_id: str, *, at: datetime, **fields: object) -> ThemeCuration:
    return ThemeCuration.model_validate(
        {"theme_id": theme_id, "updated_by": "ana", "updated_at": at, **fields}
    )


def test_curation_newer_than_the_snapshot_wins_and_brings_its_note() -> None:
    snap = snapshot(theme("thm-a", verdict="needs_review", label="auto label"))
    record = curation(
        "thm-a",
        at=SNAPSHOT_AT + timedelta(minutes=1),
        verdict=Verdict.FRAUD,
        verdict_note="confirmed",
        name="Named",
    )
    card = build(snap, None, curation={"thm-a": record}).themes[0]
    assert card.label == "Named"
    assert card.named_by_strategist
    assert card.verdict is not None
    assert (card.verdict.verdict, card.verdict.note, card.verdict.updated_by) == (
        Verdict.FRAUD,
        "confirmed",
        "ana",
    )


def test_older_curation_leaves_the_snapshots_verdict_but_fills_what_the_snapshot_lacks() -> None:
    older = SNAPSHOT_AT - timedelta(days=1)
    snap = snapshot(theme("thm-a", verdict="abuse"), theme("thm-b", label="auto"))
    digest = build(
        snap,
        None,
        curation={
            "thm-a": curation("thm-a", at=older, verdict=Verdict.BENIGN, verdict_note="old reasoning"),
            "thm-b": curation("thm-b", at=older, verdict=Verdict.NEEDS_REVIEW, name="Strategist name"),
        },
    )
    cards = {card.theme_id: card for card in digest.themes}
    verdict_a = cards["thm-a"].verdict
    assert verdict_a is not None
    # The snapshot's verdict stands, without the note of a different, older verdict.
    assert (verdict_a.verdict, verdict_a.note, verdict_a.updated_by) == (Verdict.ABUSE, "", None)
    assert cards["thm-b"].label == "Strategist name"
    assert cards["thm-b"].verdict is not None
    assert cards["thm-b"].verdict.verdict is Verdict.NEEDS_REVIEW


def test_a_theme_merged_away_sinks_and_says_where_it_went() -> None:
    snap = snapshot(theme("thm-gone"), theme("thm-kept"))
    record = curation("thm-gone", at=NOW, merged_into="thm-kept")
    digest = build(
        snap,
        stats_of(many("thm-gone", 50) + many("thm-kept", 2), ["thm-gone", "thm-kept"]),
        curation={"thm-gone": record},
    )
    assert order(digest) == ["thm-kept", "thm-gone"]
    assert digest.themes[1].merged_into == "thm-kept"
    assert "Merged into" in render_html(digest)


def test_an_emerging_theme_merged_away_is_counted_and_shown_as_emerging_nowhere() -> None:
    snap = snapshot(theme("thm-gone", **emerging(30.0)), theme("thm-kept", **emerging(20.0)))
    digest = build(
        snap,
        stats_of(many("thm-gone", 20) + many("thm-kept", 20), ["thm-gone", "thm-kept"]),
        curation={"thm-gone": curation("thm-gone", at=NOW, merged_into="thm-kept")},
    )
    assert digest.totals.emerging == 1
    assert [card.theme_id for card in digest.themes if card.emerging is not None] == ["thm-kept"]
    assert "**Emerging (1)**" in render_markdown(digest)
    assert "thm-gone" not in render_markdown(digest).split("**Emerging (1)**")[1].split("**")[0]


# --- Interventions ------------------------------------------------------------------------------------


def intervention(
    intervention_id: str, theme_id: str, start: datetime, end: datetime | None = None
) -> Intervention:
    return Intervention(
        intervention_id=intervention_id,
        theme_id=theme_id,
        business="shop",
        action_type=InterventionType.BLOCK,
        action="block it",
        start=start,
        end=end,
        created_by="ana",
        created_at=start,
    )


def test_interventions_are_placed_on_their_theme_with_status_and_effect() -> None:
    effect = EffectView(status="ok", summary="Reports fell.")
    snap = snapshot(theme("thm-a"), theme("thm-b"))
    digest = build(
        snap,
        stats_of(many("thm-a", 3), ["thm-a", "thm-b"]),
        curation={"thm-old": curation("thm-old", at=NOW, merged_into="thm-b")},
        interventions=[
            (
                intervention("i-ended-long-ago", "thm-a", NOW - timedelta(days=30), NOW - timedelta(days=20)),
                None,
            ),
            (intervention("i-ended", "thm-a", NOW - timedelta(days=4), NOW - timedelta(days=1)), effect),
            (intervention("i-scheduled", "thm-a", NOW + timedelta(days=1)), None),
            (intervention("i-active", "thm-a", NOW - timedelta(days=2)), effect),
            (intervention("i-merged", "thm-old", NOW - timedelta(days=1)), None),
            (intervention("i-orphan", "thm-dormant", NOW - timedelta(days=1)), None),
        ],
    )
    cards = {card.theme_id: card for card in digest.themes}
    assert [(i.intervention_id, i.status) for i in cards["thm-a"].interventions] == [
        ("i-active", "active"),
        ("i-scheduled", "scheduled"),
        ("i-ended", "ended"),
    ]
    assert cards["thm-a"].interventions[0].effect == effect
    assert [i.intervention_id for i in cards["thm-b"].interventions] == ["i-merged"]
    assert [i.intervention_id for i in digest.other_interventions] == ["i-orphan"]
    assert "ran from 16 Nov 2026, ended yesterday" in render_html(digest)


# --- Caps, filters' data and edge cases ---------------------------------------------------------------


def test_a_large_snapshot_is_capped_and_the_rest_summarised_in_the_same_order() -> None:
    themes = [theme(f"thm-{i:03d}", **(emerging(100.0 - i) if i < 12 else {})) for i in range(150)]
    reports = [r for i in range(150) for r in many(f"thm-{i:03d}", 1 + i % 7)]
    digest = build(
        snapshot(*themes),
        stats_of(reports, [t.theme_id for t in themes]),
        limits=DigestLimits(max_cards=15, max_emerging_cards=8),
    )
    assert len(digest.themes) == 15
    assert len(digest.other_themes) == 135
    assert sum(card.emerging is not None for card in digest.themes) == 8
    # The emerging themes that did not fit lead the summary, still flagged.
    assert [row.emerging for row in digest.other_themes[:4]] == [True] * 4
    assert not any(row.emerging for row in digest.other_themes[4:])
    assert [card.rank for card in digest.themes] + [row.rank for row in digest.other_themes] == list(
        range(1, 151)
    )
    page = render_html(digest)
    assert page.count('<article class="card') == 15
    assert page.count("<tr data-theme=") == 135


def test_a_theme_with_an_open_intervention_keeps_its_card_whatever_its_rank() -> None:
    themes = [theme(f"thm-{i:03d}") for i in range(40)]
    reports = [r for i in range(40) for r in many(f"thm-{i:03d}", 40 - i)]  # thm-039 ranks last
    digest = build(
        snapshot(*themes),
        stats_of(reports, [t.theme_id for t in themes]),
        limits=DigestLimits(max_cards=5, max_emerging_cards=2),
        interventions=[
            (intervention("i-active", "thm-039", NOW - timedelta(days=2)), None),
            (intervention("i-over", "thm-038", NOW - timedelta(days=4), NOW - timedelta(days=1)), None),
        ],
    )
    cards = [card.theme_id for card in digest.themes]
    assert cards[:5] == [f"thm-{i:03d}" for i in range(5)]
    assert cards[5:] == ["thm-039"]
    assert "thm-038" in [row.theme_id for row in digest.other_themes]
    assert [i.intervention_id for i in digest.themes[5].interventions] == ["i-active"]


def test_each_theme_carries_its_cells_and_they_add_up_to_its_daily_counts() -> None:
    inputs = sample_inputs(extra_themes=3)
    digest = build_digest(
        inputs.snapshot, inputs.stats, curation={}, interventions=[], generated_at=inputs.generated_at
    )
    for card in digest.themes:
        activity = inputs.stats.theme(card.theme_id)
        assert activity is not None
        assert list(card.daily) == activity.daily(len(digest.days))
        assert [sum(day) for day in zip(*(cell.counts for cell in card.cells), strict=True)] == list(
            card.daily
        )
        for business in digest.businesses:
            per_cell = sum(sum(cell.counts) for cell in card.cells if cell.business == business)
            assert per_cell == sum(activity.daily(len(digest.days), business=business))
    assert digest.businesses == ("ads", "live", "payments", "shop")
    assert set(digest.roles) == {"user", "seller", "creator"}
    assert digest.totals.reports == sum(inputs.stats.volume_daily())


def test_the_page_embeds_every_themes_cells_for_the_filters() -> None:
    inputs = sample_inputs(extra_themes=30)
    digest = build_digest(
        inputs.snapshot, inputs.stats, curation={}, interventions=[], generated_at=inputs.generated_at
    )
    page = render_html(digest)
    embedded = re.search(r'<script type="application/json" id="digest-data">(.*?)</script>', page, re.S)
    assert embedded is not None
    data = json.loads(embedded.group(1))
    assert set(data["themes"]) == {card.theme_id for card in digest.themes} | {
        row.theme_id for row in digest.other_themes
    }
    first = digest.themes[0]
    assert data["themes"][first.theme_id]["cells"] == [
        [c.business, c.role, list(c.counts)] for c in first.cells
    ]
    assert data["days"] == [day.isoformat() for day in digest.days]


def test_an_empty_snapshot_without_stats_makes_a_digest_that_says_so() -> None:
    digest = build(ThemeSnapshot.empty(4), None)
    assert digest.themes == ()
    assert digest.other_themes == ()
    assert digest.totals.themes == 0
    assert not digest.first_run
    assert digest.caveats  # no statistics
    page = render_html(digest)
    assert "No themes yet" in page
    assert "no theme snapshot published yet" in page
    assert "No themes yet." in render_markdown(digest)


def test_stats_without_any_report_give_zero_counts_and_no_growth() -> None:
    snap = snapshot(theme("thm-a", size=12), theme("thm-b"))
    digest = build(snap, stats_of([], ["thm-a", "thm-b"]))
    assert [card.reports for card in digest.themes] == [0, 0]
    assert all(card.growth is None and card.cells == () for card in digest.themes)
    assert digest.totals.reports == 0
    assert digest.caveats == ()
    render_html(digest)
    render_markdown(digest)


def test_on_a_first_run_every_theme_is_new_and_no_card_is_badged_new() -> None:
    born = ThemeLineage(event=LineageEvent.BORN, version=1)
    digest = build(snapshot(theme("thm-a", lineage=born), theme("thm-b", lineage=born), version=1), None)
    assert digest.first_run
    assert [ref.theme_id for ref in digest.new_themes] == ["thm-a", "thm-b"]
    assert '<span class="badge badge-new">' not in render_html(digest)
    later = build(
        snapshot(theme("thm-a", lineage=ThemeLineage(event=LineageEvent.BORN, version=5)), theme("thm-b")),
        None,
    )
    assert not later.first_run
    assert [ref.theme_id for ref in later.new_themes] == ["thm-a"]
    assert render_html(later).count('<span class="badge badge-new">New</span>') == 1


def test_stats_of_another_snapshot_are_used_with_a_caveat() -> None:
    digest = build(snapshot(theme("thm-a"), version=6), stats_of(many("thm-a", 2), ["thm-a"], version=5))
    assert digest.themes[0].reports == 2
    assert any("snapshot v5" in caveat for caveat in digest.caveats)


# --- Untrusted text in the renderings -----------------------------------------------------------------

HOSTILE_LABEL = '<img src=x onerror="alert(1)">Label'
HOSTILE_NOTE = "</p><script>alert('note')</script>"
HOSTILE_BUSINESS = 'shop"><svg onload=alert(2)>'


def hostile_digest() -> Digest:
    snap = snapshot(
        theme(
            "thm-a",
            label=HOSTILE_LABEL,
            keywords=("</script><script>alert(3)</script>", "<b>bold</b>"),
            examples=(
                "[click](javascript:alert(4)) <b>https://evil.example/login</b> @here",
                HOSTILE_EXAMPLE,
            ),
        )
    )
    reports = [
        ("thm-a", 1, HOSTILE_BUSINESS, "user", "r1", "", 10.0),
        ("thm-a", 2, "live", "seller", "r2", "", 1.0),
    ]
    return build(
        snap,
        stats_of(reports, ["thm-a"]),
        curation={"thm-a": curation("thm-a", at=NOW, verdict=Verdict.FRAUD, verdict_note=HOSTILE_NOTE)},
        interventions=[
            (
                intervention("i-1", "thm-a", NOW - timedelta(days=1)).model_copy(
                    update={"action": "<iframe src=//evil.example>", "business": HOSTILE_BUSINESS}
                ),
                EffectView(status="ok", summary="<a href=javascript:alert(5)>fell</a>"),
            )
        ],
    )


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_untrusted_text_is_escaped_in_the_html_page() -> None:
    page = render_html(hostile_digest())
    parsed = _Elements()
    parsed.feed(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"img", "iframe", "b", "svg"} - {"svg"}
    assert [attrs.get("href") for tag, attrs in parsed.tags if tag == "a"] == ["#how-priority"]
    assert [tag for tag, _ in parsed.tags].count("script") == 2
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert not any("javascript:" in (value or "") for _, attrs in parsed.tags for value in attrs.values())
    # The example is there, escaped, verbatim once unescaped.
    assert "&lt;script&gt;window.__pwned = &#x27;script&#x27;" in page
    # The embedded data cannot end its element early; it still parses to the hostile business name.
    data = json.loads(parsed.scripts[0])
    assert HOSTILE_BUSINESS in {cell[0] for cell in data["volume"]}
    assert "<" not in parsed.scripts[0]


def test_the_pages_policy_allows_exactly_its_own_style_and_script() -> None:
    page = render_html(hostile_digest())
    parsed = _Elements()
    parsed.feed(page)
    csp = next(attrs["content"] for tag, attrs in parsed.tags if tag == "meta" and attrs.get("http-equiv"))
    assert csp == content_security_policy()
    assert "default-src 'none'" in csp
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert style is not None
    assert script is not None

    def digest_of(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"style-src {digest_of(style.group(1))};" in csp
    assert f"script-src {digest_of(script.group(1))};" in csp
    assert "http" not in page.split("<body>")[0].replace('http-equiv="Content-Security-Policy"', "")


def test_untrusted_text_is_neutralised_in_markdown() -> None:
    summary = render_markdown(hostile_digest(), full_digest_url="https://digests.internal/latest")
    body = summary.replace("<https://digests.internal/latest>", "")
    assert "<" not in body  # no HTML, no autolink, no Slack <!here>
    assert "](" not in body.replace("\\](", "")  # no Markdown link
    assert "https://" not in body
    assert "javascript:" not in body
    assert "evil[.]example" in body.replace("\\", "")
    assert "@here" not in body  # a word joiner breaks the mention
    assert "&lt;img src=x" in body  # the label, as text
    assert all(not line.startswith(("#", "<")) for line in summary.splitlines())


def test_neutralise_keeps_the_words_on_one_short_line() -> None:
    text = neutralise("line one\n# heading\n- item *bold* `code` http://a.example/x", limit=200)
    assert "\n" not in text
    assert text.replace("\\", "").replace("[:]", ":").replace("[.]", ".") == (
        "line one # heading - item *bold* `code` http://a.example/x"
    )
    assert len(neutralise("x" * 500)) < 200


def test_the_markdown_summary_leads_with_emerging_themes_then_the_top_ones() -> None:
    inputs = sample_inputs()
    digest = build_digest(
        inputs.snapshot,
        inputs.stats,
        curation=inputs.curation,
        interventions=inputs.interventions,
        generated_at=inputs.generated_at,
    )
    summary = render_markdown(digest)
    emerging_at = summary.index("**Emerging (2)**")
    top_at = summary.index("**Top themes by priority**")
    assert emerging_at < top_at
    assert summary.index("support impersonation gift card codes") < top_at
    assert summary.index("Non-delivery by brand-new sellers") > top_at
    assert f"{fmt.count(digest.totals.reports)} reports" in summary
    assert "more themes in the full digest" in summary


# --- Formatting for people ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "text"),
    [
        (0, "$0"),
        (0.2, "< $1"),  # a real amount, if small, is never shown as nothing
        (0.5, "$1"),  # halves round up, as the page's script rounds them
        (2.5, "$3"),
        (1_250, "$1.3k"),
        (950, "$950"),
        (12_345, "$12.3k"),
        (999_950, "$1.0M"),
        (123_456, "$123k"),
        (2.5e9, "$2.5B"),
    ],
)
def test_money_reads_like_a_person_would_write_it(usd: float, text: str) -> None:
    assert fmt.money(usd) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(minutes=5), "5 minutes ago"),
        (timedelta(hours=3, minutes=50), "3 hours ago"),
        (timedelta(hours=30), "yesterday"),
        (timedelta(days=4), "4 days ago"),
        (timedelta(days=20), "2 weeks ago"),
        (timedelta(days=-2), "in 2 days"),
    ],
)
def test_times_are_relative_to_the_digest(delta: timedelta, text: str) -> None:
    assert fmt.ago(NOW - delta, NOW) == text
