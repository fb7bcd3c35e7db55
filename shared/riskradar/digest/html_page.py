"""The digest as one self-contained HTML page: no external asset, no network request.

Inline CSS and server-rendered inline SVG (sparklines, split bars), so the page reads fully
without JavaScript; one small inline script adds the business / reporter-role filters from the
counts embedded as JSON (`<script type="application/json">`, every `<`, `>` and `&` escaped as
\\u003c etc., so no text can close the element). A Content-Security-Policy meta tag allows
nothing but that style sheet and that script, by their SHA-256 hashes: no fetch, no image, no
font, no frame, no form — a payload that slipped through escaping still could not run or call
home.

Every text that comes from a report or a person (labels, keywords, examples, notes, actions,
business names) goes through `fill`, which escapes whatever is not already `Markup`: escaping is
the default, trusting is explicit.

Pure: no I/O.
"""

# Typography for people: ×, –, − and “quotes” are meant (they are not look-alikes of ASCII).
# ruff: noqa: RUF001, RUF003
from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date
from typing import Final

from riskradar.digest import formatting as fmt
from riskradar.digest.assets import SCRIPT, SPARK_HEIGHT, SPARK_WIDTH, STYLE
from riskradar.digest.model import (
    CellSeries,
    Digest,
    EmergingView,
    InterventionView,
    SubjectView,
    ThemeCard,
    ThemeSummary,
    VerdictView,
)

__all__ = ["Markup", "content_security_policy", "fill", "render_html"]

#: Categorical colours for businesses and reporter roles: distinct, calm, readable on white.
_PALETTE: Final = ("#3b5bdb", "#2f9e8f", "#e8a23b", "#9c5ad6", "#d6546a", "#5c7080", "#74a838", "#a0714f")
_ROLE_ORDER: Final = ("user", "seller", "creator")


class Markup(str):
    """Text that is already HTML (built here from escaped parts), inserted as is by `fill`."""

    __slots__ = ()


def escape(value: object) -> Markup:
    return value if isinstance(value, Markup) else Markup(html.escape(str(value), quote=True))


def fill(template: str, /, **values: object) -> Markup:
    """`template` (trusted, ours) with each `{name}` replaced by its value, escaped unless Markup."""
    return Markup(template.format(**{name: escape(value) for name, value in values.items()}))


def join(parts: Iterable[Markup], separator: str = "") -> Markup:
    return Markup(separator.join(parts))


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy() -> str:
    """The page's policy: its own inline style sheet and script, by hash, and nothing else."""
    return (
        f"default-src 'none'; style-src {_sha256(STYLE)}; script-src {_sha256(SCRIPT)}; "
        "img-src 'none'; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )


def render_html(digest: Digest) -> str:
    """The page. The integrator should also send the same policy as a Content-Security-Policy
    header (with frame-ancestors 'none', which a meta tag cannot set)."""
    title = f"Theme digest · {fmt.moment(digest.generated_at)}"
    return fill(
        """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{header}
{filters}
<main class="wrap">
{caveats}
{emerging}
{priority}
{others}
{pool}
{orphans}
{footer}
</main>
<script type="application/json" id="digest-data">{data}</script>
<script>{script}</script>
</body>
</html>
""",
        csp=content_security_policy(),
        title=title,
        style=Markup(STYLE),
        header=_header(digest),
        filters=_filters(digest),
        caveats=join(fill('<p class="caveat" role="note">{text}</p>', text=text) for text in digest.caveats),
        emerging=_emerging_section(digest),
        priority=_priority_section(digest),
        others=_others_section(digest),
        pool=_pool_section(digest),
        orphans=_orphan_interventions(digest),
        footer=_footer(digest),
        data=Markup(_embedded_json(_filter_data(digest))),
        script=Markup(SCRIPT),
    )


# --- Page parts -----------------------------------------------------------------------------------


def _header(digest: Digest) -> Markup:
    totals = digest.totals
    if totals.themes == 0:
        headline = "No themes yet"
    elif totals.emerging:
        headline = (
            f"{fmt.plural(totals.emerging, 'emerging theme')} among {fmt.plural(totals.themes, 'theme')}"
        )
    else:
        headline = f"{fmt.plural(totals.themes, 'theme')}, none emerging"
    pool_share = f"{digest.novelty_pool.reports / totals.reports:.0%}" if totals.reports else "–"
    return fill(
        """<header class="top"><div class="wrap">
<p class="eyebrow">riskradar · theme digest</p>
<h1>{headline}</h1>
<p class="meta">Generated {generated} · {snapshot} · reports of {span}</p>
<dl class="stats">
<div class="stat"><dt>Reports <span data-total-where></span></dt><dd data-total-reports>{reports}</dd></div>
<div class="stat"><dt>Emerging</dt><dd>{emerging}</dd></div>
<div class="stat"><dt>New this run</dt><dd>{new}</dd></div>
<div class="stat"><dt>Money at risk <span data-total-money-where></span></dt>
<dd data-total-money>{money}</dd></div>
<div class="stat"><dt>Not in a theme</dt>
<dd><span data-total-pool>{pool}</span><small data-total-pool-share>{pool_share}</small></dd></div>
</dl>
</div></header>""",
        headline=headline,
        generated=fmt.moment(digest.generated_at),
        snapshot=(
            f"snapshot v{digest.snapshot_version}, published "
            f"{fmt.ago(digest.snapshot_created_at, digest.generated_at)}"
            if digest.snapshot_version
            else "no theme snapshot published yet"
        ),
        span=fmt.day_span(digest.days),
        reports=fmt.count(totals.reports),
        emerging=fmt.count(totals.emerging),
        new="all" if digest.first_run else fmt.count(totals.new_themes),
        money=fmt.money(totals.money_at_risk_usd),
        pool=fmt.count(digest.novelty_pool.reports),
        pool_share=pool_share,
    )


def _filters(digest: Digest) -> Markup:
    """Hidden until the script shows it: without the script the controls would do nothing."""

    def options(values: Sequence[str], everything: str, label: str) -> Markup:
        return join(
            [fill('<option value="">{text}</option>', text=everything)]
            + [
                fill('<option value="{value}">{text}</option>', value=value, text=label.format(value))
                for value in values
            ]
        )

    return fill(
        """<nav class="filters" data-filters hidden aria-label="Filters"><div class="wrap">
<label>Business <select id="filter-business">{businesses}</select></label>
<label>Reporter <select id="filter-role">{roles}</select></label>
<span class="filter-note" data-filter-note></span>
</div></nav>""",
        businesses=options(digest.businesses, "All businesses", "{}"),
        roles=options(_ordered_roles(digest.roles), "All roles", "{}s"),
    )


def _emerging_section(digest: Digest) -> Markup:
    cards = [card for card in digest.themes if card.emerging is not None]
    if not cards:
        if digest.totals.themes == 0:
            return Markup("")
        return Markup(
            '<section class="group" id="emerging"><h2>Emerging now</h2>'
            '<p class="empty">No theme is emerging: every theme\'s recent volume is within what its usual '
            "share of reports predicts.</p></section>"
        )
    more = digest.totals.emerging - len(cards)
    return fill(
        """<section class="group" id="emerging" data-group>
<h2>Emerging now <span class="count" data-group-count>{count}</span></h2>
<p class="lede">Themes whose recent volume is improbable under their usual share of reports,
most surprising first.{more}</p>
{cards}
<p class="empty" data-none hidden>No emerging theme has reports for this selection.</p>
</section>""",
        count=len(cards),
        more=f" {fmt.plural(more, 'more emerging theme')} in the table below." if more > 0 else "",
        cards=join(_card(card, digest) for card in cards),
    )


def _priority_section(digest: Digest) -> Markup:
    cards = [card for card in digest.themes if card.emerging is None]
    if not cards:
        if digest.totals.themes == 0:
            return Markup(
                '<section class="group"><p class="empty">No themes yet: the recluster job has not found any '
                "in the reports so far.</p></section>"
            )
        return Markup("")
    return fill(
        """<section class="group" id="priority" data-group>
<h2>Themes by priority <span class="count" data-group-count>{count}</span></h2>
<p class="lede">Confirmed fraud and abuse, money at risk, many reporters against one subject and a
growing share of reports come first; benign themes sink.
<a href="#how-priority">How priority is computed</a>.</p>
{cards}
<p class="empty" data-none hidden>No theme in this group has reports for this selection.</p>
</section>""",
        count=len(cards),
        cards=join(_card(card, digest) for card in cards),
    )


def _others_section(digest: Digest) -> Markup:
    if not digest.other_themes:
        return Markup("")
    return fill(
        """<section class="group" id="more" data-group>
<h2>More themes <span class="count" data-group-count>{count}</span></h2>
<p class="lede">The remaining themes in the same order, in short. The JSON digest has their counts by
business and role.</p>
<div class="table-wrap"><table>
<thead><tr><th class="num">#</th><th>Theme</th><th class="num">Reports</th><th>{span}</th>
<th class="num">At risk</th><th class="num">Most reporters on one subject</th><th class="num">Priority</th>
</tr></thead>
<tbody>{rows}</tbody>
</table></div>
<p class="empty" data-none hidden>None of these themes has reports for this selection.</p>
</section>""",
        count=len(digest.other_themes),
        span=fmt.day_span(digest.days) if digest.days else "Per day",
        rows=join(_summary_row(row, digest.first_run) for row in digest.other_themes),
    )


def _summary_row(row: ThemeSummary, first_run: bool) -> Markup:
    badges = join(
        [Markup('<span class="badge badge-emerging">Emerging</span>')] * row.emerging
        + ([_verdict_badge(row.verdict.value)] if row.verdict else [])
        + [Markup('<span class="badge badge-new">New</span>')] * (row.is_new and not first_run)
    )
    return fill(
        """<tr data-theme="{theme_id}"><td class="num faint">{rank}</td><td>{label}{badges}</td>
<td class="num"><span data-count>{reports}</span></td><td>{spark}</td><td class="num" data-money>{money}</td>
<td class="num">{reporters}</td><td class="num">{priority}</td></tr>""",
        theme_id=row.theme_id,
        rank=row.rank,
        label=row.label,
        badges=badges,
        reports=fmt.count(row.reports),
        spark=_sparkline(row.daily, css_class="mini"),
        money=fmt.money(row.money_at_risk_usd),
        reporters=fmt.count(row.max_distinct_reporters) if row.max_distinct_reporters else "–",
        priority=_points(row.priority),
    )


def _pool_section(digest: Digest) -> Markup:
    pool = digest.novelty_pool
    if digest.totals.reports == 0:
        return Markup("")
    return fill(
        """<section class="group" id="novelty-pool">
<h2>Not in a theme</h2>
<p class="lede">{reports} ({share}) matched no theme closely enough: the novelty pool, where the next
recluster run looks for new themes. {money}</p>
</section>""",
        reports=fmt.plural(pool.reports, "report"),
        share=f"{pool.reports / digest.totals.reports:.0%} of the window",
        money=f"They state {fmt.money(pool.money_at_risk_usd)} at risk."
        if pool.money_at_risk_usd >= 0.5
        else "",
    )


def _orphan_interventions(digest: Digest) -> Markup:
    if not digest.other_interventions:
        return Markup("")
    return fill(
        """<section class="group" id="other-interventions">
<h2>Interventions on themes no longer in the snapshot</h2>
<p class="lede">Their theme went dormant or was merged away; their effect is still measured against the
theme id they were recorded for.</p>
<div class="card"><div class="card-foot"><ul class="interventions">{items}</ul></div></div>
</section>""",
        items=join(_intervention(item, digest, show_theme=True) for item in digest.other_interventions),
    )


def _footer(digest: Digest) -> Markup:
    return fill(
        """<footer class="page" id="how-priority">
<p><strong>How priority is computed.</strong> {method}</p>
<p>Counts are reports per UTC day; the last day is today so far (dashed). Growth compares a theme's
share of all reports in the last two days with its share before. Money at risk is what reports state,
converted to USD. Subjects and reporters appear only as keyed pseudonyms. Example reports are redacted
of personal data at intake.</p>
<p class="faint">Digest schema v{schema} · snapshot v{version} · {themes} · {dormant} dormant
· generated {generated}</p>
</footer>""",
        method=digest.priority_method,
        schema=digest.schema_version,
        version=digest.snapshot_version,
        themes=fmt.plural(digest.totals.themes, "theme"),
        dormant=fmt.count(digest.totals.dormant_themes),
        generated=fmt.moment(digest.generated_at),
    )


# --- The theme card ---------------------------------------------------------------------------------


def _card(card: ThemeCard, digest: Digest) -> Markup:
    badges: list[Markup] = []
    if card.emerging is not None:
        badges.append(Markup('<span class="badge badge-emerging">Emerging</span>'))
    if card.verdict is not None:
        badges.append(_verdict_badge(card.verdict.verdict.value))
    if card.is_new and not digest.first_run:
        badges.append(Markup('<span class="badge badge-new">New</span>'))
    if card.merged_into:
        badges.append(Markup('<span class="badge badge-merged">Merged away</span>'))
    return fill(
        """<article class="card{emerging_class}" id="{anchor}" data-theme="{theme_id}">
<header class="card-head">
<div class="badges">{badges}</div>
<div class="rank"><strong>#{rank}</strong>priority {priority}</div>
<h3>{label}</h3>
{keywords}{lineage}{caught_online}
</header>
<div class="card-body">
<div>{activity}</div>
<div>{money}</div>
<div>{split}</div>
</div>
{detail}
<footer class="card-foot">
{verdict}
{interventions}
{reasons}
<p class="id-line"><code>{theme_id}</code>{first_seen}{strategist}</p>
</footer>
</article>""",
        emerging_class=" is-emerging" if card.emerging is not None else "",
        anchor=f"theme-{card.theme_id}",
        theme_id=card.theme_id,
        badges=join(badges),
        rank=card.rank,
        priority=_points(card.priority),
        label=card.label,
        keywords=(
            fill(
                '<p class="keywords">{items}</p>',
                items=join(fill('<span class="kw">{k}</span>', k=k) for k in card.keywords),
            )
            if card.keywords
            else Markup("")
        ),
        lineage=_lineage(card),
        caught_online=_caught_online(card, digest),
        activity=_activity(card, digest),
        money=_money(card),
        split=_split(card, digest),
        detail=_detail(card),
        verdict=_verdict_line(card, digest),
        interventions=(
            fill(
                '<ul class="interventions">{items}</ul>',
                items=join(_intervention(item, digest) for item in card.interventions),
            )
            if card.interventions
            else Markup("")
        ),
        reasons=_reasons(card),
        first_seen=f" · first seen {fmt.ago(card.first_seen, digest.generated_at)}"
        if card.first_seen
        else "",
        strategist=" · named by a strategist" if card.named_by_strategist else "",
    )


def _lineage(card: ThemeCard) -> Markup:
    lineage = card.lineage
    if (
        lineage is None
        or not lineage.this_run
        or not lineage.parents
        or lineage.event.value not in ("merged", "split")
    ):
        return Markup("")
    names = join((fill("“{label}”", label=parent.label) for parent in lineage.parents), ", ")
    text = "Merged this run from" if lineage.event.value == "merged" else "Split this run from"
    return fill('<p class="lineage">{text} {names}</p>', text=text, names=names)


def _caught_online(card: ThemeCard, digest: Digest) -> Markup:
    if not card.caught_online_as:
        return Markup("")
    first = card.caught_online_as[0]
    when = (
        fill(", {ago}", ago=fmt.ago(first.first_alerted_at, digest.generated_at))
        if first.first_alerted_at
        else Markup("")
    )
    ids = join((fill("<code>{id}</code>", id=item.provisional_id) for item in card.caught_online_as), ", ")
    return fill('<p class="lineage">Caught online first, as {ids}{when}</p>', ids=ids, when=when)


def _activity(card: ThemeCard, digest: Digest) -> Markup:
    notes: list[Markup] = []
    if card.emerging is not None:
        notes.append(_emerging_note(card.emerging, digest))
    if card.growth is not None and card.growth >= 1.5 and card.emerging is None:
        notes.append(
            fill(
                '<p class="note"><span class="up">↑ {growth}</span> '
                "its usual share of reports in the last two days</p>",
                growth=fmt.growth(card.growth),
            )
        )
    axis = (
        fill(
            '<div class="axis"><span>{first}</span><span data-peak>peak {peak}/day</span>'
            "<span>today</span></div>",
            first=f"{digest.days[0].day} {digest.days[0]:%b}",
            peak=fmt.count(max(card.daily, default=0)),
        )
        if digest.days
        else Markup("")
    )
    return fill(
        """<div class="figure"><span class="big" data-count>{reports}</span>
<span data-count-unit>{unit}</span><span class="muted">{days}</span>
<span class="muted" data-where></span></div>
{spark}{axis}{notes}""",
        reports=fmt.count(card.reports),
        unit="report" if card.reports == 1 else "reports",
        days=f"since {digest.days[0].day} {digest.days[0]:%b}" if digest.days else "in the window",
        spark=_sparkline(card.daily, label=_spark_label(card.daily, digest.days))
        if digest.days
        else Markup(""),
        axis=axis,
        notes=join(notes),
    )


def _emerging_note(emerging: EmergingView, digest: Digest) -> Markup:
    expected = (
        fill(
            " where {expected} were expected (<strong>{growth}</strong>)",
            expected=f"{emerging.expected_reports:,.1f}",
            growth=fmt.growth(emerging.growth),
        )
        if emerging.growth is not None
        else Markup(" where none were expected")
    )
    return fill(
        '<p class="note">First detected <strong><time datetime="{iso}" title="{exact}">{ago}</time>'
        "</strong>: {recent} since {start}{expected}.</p>",
        iso=emerging.detected_at.isoformat(),
        exact=fmt.moment(emerging.detected_at),
        ago=fmt.ago(emerging.detected_at, digest.generated_at),
        recent=fmt.plural(emerging.recent_reports, "report"),
        start=f"{emerging.window_start.day} {emerging.window_start:%b}",
        expected=expected,
    )


def _money(card: ThemeCard) -> Markup:
    note = (
        f"stated in {fmt.plural(card.reports_with_amount, 'report')}"
        if card.reports_with_amount
        else "no report states an amount"
    )
    return fill(
        """<h4>Money at risk</h4><div class="figure"><span class="big" data-money>{money}</span></div>
<p class="muted note" data-money-note>{note}</p>""",
        money=fmt.money(card.money_at_risk_usd),
        note=note,
    )


def _split(card: ThemeCard, digest: Digest) -> Markup:
    by_business: dict[str, int] = {}
    by_role: dict[str, int] = {}
    for cell in card.cells:
        by_business[cell.business] = by_business.get(cell.business, 0) + sum(cell.counts)
        by_role[cell.role] = by_role.get(cell.role, 0) + sum(cell.counts)
    if not card.cells:
        return Markup('<h4>Who reports it</h4><p class="muted note">No reports in the window.</p>')
    return fill(
        """<div class="split-row" data-split="business"><h4>By business</h4>{business}</div>
<div class="split-row" data-split="role"><h4>By reporter</h4>{role}</div>""",
        business=_bar(digest.businesses, by_business, "{}"),
        role=_bar(_ordered_roles(digest.roles), by_role, "{}s"),
    )


def _bar(keys: Sequence[str], values: Mapping[str, int], label: str) -> Markup:
    """A stacked bar (SVG, widths in %) and its legend; every key of the digest gets a (maybe
    hidden) segment so that the filter script can redraw the bar for another selection."""
    keys = list(keys) + sorted(set(values) - set(keys))
    total = sum(values.values()) or 1
    rects: list[Markup] = []
    items: list[Markup] = []
    x = 0.0
    for index, key in enumerate(keys):
        share = values.get(key, 0) / total
        colour = _PALETTE[index % len(_PALETTE)]
        rects.append(
            fill(
                '<rect data-part-rect="{index}" x="{x}%" y="0" width="{width}%" height="10" '
                'fill="{colour}"/>',
                index=index,
                x=f"{x * 100:.2f}",
                width=f"{share * 100:.2f}",
                colour=colour,
            )
        )
        x += share
        items.append(
            fill(
                '<li data-part="{key}" data-index="{index}"{hidden}>'
                '<svg viewBox="0 0 10 10" aria-hidden="true">'
                '<rect width="10" height="10" rx="2" fill="{colour}"/></svg>'
                "{text} <span data-share>{share}</span></li>",
                key=key,
                index=index,
                hidden=Markup(" hidden") if values.get(key, 0) == 0 else Markup(""),
                colour=colour,
                text=label.format(key),
                share=f"{round(share * 100)}%",
            )
        )
    return fill(
        '<svg class="bar" role="img" aria-label="{aria}" preserveAspectRatio="none">'
        '<rect width="100%" height="10" fill="#eceef2"/>{rects}</svg><ul class="legend">{items}</ul>',
        aria=", ".join(f"{key} {values.get(key, 0)}" for key in keys if values.get(key, 0)),
        rects=join(rects),
        items=join(items),
    )


def _detail(card: ThemeCard) -> Markup:
    """Subjects beside examples; whichever is missing leaves the other the whole width."""
    sections: list[Markup] = []
    if card.top_subjects:
        sections.append(
            fill(
                """<section><h4>Most reported subjects</h4><table>
<thead><tr><th>Subject</th><th class="num">Reporters</th><th class="num">Reports</th>
<th class="num">At risk</th></tr></thead>
<tbody>{rows}</tbody></table></section>""",
                rows=join(_subject_row(subject) for subject in card.top_subjects),
            )
        )
    if card.examples:
        sections.append(
            fill(
                "<section><h4>Example reports</h4>{items}</section>",
                items=join(
                    fill('<blockquote class="example">{text}</blockquote>', text=text)
                    for text in card.examples
                ),
            )
        )
    if not sections:
        return Markup("")
    return fill(
        '<div class="card-detail{single}">{sections}</div>',
        single=" single" if len(sections) == 1 else "",
        sections=join(sections),
    )


def _subject_row(subject: SubjectView) -> Markup:
    return fill(
        '<tr><td>{kind} <code title="{full}">{short}</code></td><td class="num">{reporters}</td>'
        '<td class="num">{reports}</td><td class="num">{money}</td></tr>',
        kind=subject.subject_type.replace("_", " "),
        full=subject.subject_hash,
        short=fmt.short_hash(subject.subject_hash),
        reporters=fmt.count(subject.distinct_reporters),
        reports=fmt.count(subject.reports),
        money=fmt.money(subject.money_at_risk_usd) if subject.money_at_risk_usd >= 0.5 else "–",
    )


def _verdict_line(card: ThemeCard, digest: Digest) -> Markup:
    if card.merged_into:
        return fill(
            "<p>Merged into <code>{into}</code> by a strategist; "
            "its reports join that theme from the next run.</p>",
            into=card.merged_into,
        )
    verdict: VerdictView | None = card.verdict
    if verdict is None:
        return Markup('<p class="muted">No verdict yet.</p>')
    who = ""
    if verdict.updated_by:
        who = f" by {verdict.updated_by}"
    when = f", {fmt.ago(verdict.updated_at, digest.generated_at)}" if verdict.updated_at else ""
    return fill(
        '<p>Verdict {badge}<span class="muted">{who}{when}</span>{note}</p>',
        badge=_verdict_badge(verdict.verdict.value),
        who=who,
        when=when,
        note=fill(' <span class="verdict-note">— “{note}”</span>', note=verdict.note)
        if verdict.note
        else Markup(""),
    )


def _intervention(item: InterventionView, digest: Digest, *, show_theme: bool = False) -> Markup:
    now = digest.generated_at
    if item.status == "scheduled":
        when = f"starts {fmt.ago(item.start, now)}"
    elif item.status == "ended" and item.end is not None:
        when = f"ran from {fmt.day(item.start.astimezone(UTC).date())}, ended {fmt.ago(item.end, now)}"
    else:
        when = f"since {fmt.ago(item.start, now)}" + (f", until {fmt.moment(item.end)}" if item.end else "")
    effect = Markup("")
    if item.effect is not None:
        figures: list[str] = []
        if item.effect.rate_ratio is not None:
            rr = item.effect.rate_ratio
            figures.append(f"rate ratio {rr.value:.2f} (95% CI {rr.ci_low:.2f}–{rr.ci_high:.2f})")
        if item.effect.difference_in_differences is not None:
            did = item.effect.difference_in_differences
            figures.append(
                f"diff-in-diff {did.value:+.1f}/day (95% CI {did.ci_low:+.1f} to {did.ci_high:+.1f})"
            )
        status_label = {"ok": "Effect", "not_enough_data": "Not enough data", "pending": "Effect pending"}
        effect = fill(
            '<p class="effect"><span class="badge badge-ok">{status}</span> {summary}{figures}</p>',
            status=status_label[item.effect.status],
            summary=item.effect.summary,
            figures=fill(' <span class="figures">{text}</span>', text=" · ".join(figures))
            if figures
            else Markup(""),
        )
    return fill(
        """<li class="intervention"><p><span class="badge badge-{status}">{status_text}</span>
<strong>{kind}</strong> in {business}{theme}: <span class="what">{action}</span>
<span class="muted">· {when} · by {by}</span></p>{effect}</li>""",
        status=item.status,
        status_text=item.status,
        kind=item.action_type.value.capitalize(),
        business=item.business,
        theme=fill(" on <code>{theme}</code>", theme=item.theme_id) if show_theme else Markup(""),
        action=item.action,
        when=when,
        by=item.created_by,
        effect=effect,
    )


def _reasons(card: ThemeCard) -> Markup:
    if not card.priority_reasons:
        return Markup("")
    return fill(
        "<details><summary>Why priority {score}</summary><ul>{items}</ul></details>",
        score=_points(card.priority),
        items=join(
            fill(
                '<li><span class="pts {sign}">{points}</span><span>{detail}</span></li>',
                sign="pos" if reason.points > 0 else "neg",
                points=_points(reason.points, signed=True),
                detail=reason.detail,
            )
            for reason in card.priority_reasons
        ),
    )


def _points(value: float, *, signed: bool = False) -> str:
    """Priority points as whole numbers: decimals would suggest a precision the weights lack."""
    return f"{round(value):+d}" if signed else f"{round(value):d}"


def _verdict_badge(verdict: str) -> Markup:
    return fill(
        '<span class="badge badge-{verdict}">{text}</span>', verdict=verdict, text=verdict.replace("_", " ")
    )


# --- Charts -----------------------------------------------------------------------------------------


def _spark_paths(counts: Sequence[int]) -> tuple[str, str, str]:
    """Area, whole-day line and the dashed segment to today (partial): the script's sparkPaths."""
    n = len(counts)
    if n == 0:
        return "", "", ""
    peak = max([*counts, 1])
    points = [
        (
            f"{(i * SPARK_WIDTH / (n - 1)) if n > 1 else SPARK_WIDTH / 2:.1f}",
            f"{SPARK_HEIGHT - 2 - (c / peak) * (SPARK_HEIGHT - 6):.1f}",
        )
        for i, c in enumerate(counts)
    ]
    joined = [f"{x},{y}" for x, y in points]
    whole = joined[:-1] if n > 1 else joined
    area = f"M{points[0][0]},{SPARK_HEIGHT} L" + " L".join(joined) + f" L{points[-1][0]},{SPARK_HEIGHT} Z"
    partial = f"M{joined[-2]} L{joined[-1]}" if n > 1 else ""
    return area, "M" + " L".join(whole), partial


def _sparkline(counts: Sequence[int], *, css_class: str = "spark", label: str = "") -> Markup:
    area, line, partial = _spark_paths(counts)
    return fill(
        '<svg class="{css_class}" data-spark viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" '
        'aria-label="{label}"><path class="area" d="{area}"/><path class="line" d="{line}"/>'
        '<path class="partial" d="{partial}"/></svg>',
        css_class=css_class,
        w=SPARK_WIDTH,
        h=SPARK_HEIGHT,
        label=label or "Reports per day",
        area=area,
        line=line,
        partial=partial,
    )


def _spark_label(counts: Sequence[int], days: Sequence[date]) -> str:
    if not days:
        return "Reports per day"
    return f"Reports per day from {days[0].isoformat()}: " + ", ".join(str(c) for c in counts)


# --- Data for the filter script ---------------------------------------------------------------------


def _cells(cells: Sequence[CellSeries]) -> list[list[object]]:
    return [[cell.business, cell.role, list(cell.counts)] for cell in cells]


def _filter_data(digest: Digest) -> dict[str, object]:
    themes: dict[str, object] = {}
    for card in digest.themes:
        themes[card.theme_id] = {
            "cells": _cells(card.cells),
            "money": card.money_at_risk_usd,
            "money_by_business": card.money_by_business_usd,
            "money_note": (
                f"stated in {fmt.plural(card.reports_with_amount, 'report')}"
                if card.reports_with_amount
                else "no report states an amount"
            ),
        }
    for row in digest.other_themes:
        themes[row.theme_id] = {
            "cells": _cells(row.cells),
            "money": row.money_at_risk_usd,
            "money_by_business": row.money_by_business_usd,
            "money_note": "",
        }
    return {
        "days": [day.isoformat() for day in digest.days],
        "volume": _cells(digest.volume),
        "pool": _cells(digest.novelty_pool.cells),
        "pool_money_by_business": digest.novelty_pool.money_by_business_usd,
        "money": digest.totals.money_at_risk_usd,
        "themes": themes,
    }


def _embedded_json(value: object) -> str:
    """JSON that cannot end its <script> element or open a comment: <, > and & as \\u escapes
    (JSON.parse reads them back unchanged), and the line separators JavaScript once choked on."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, replacement in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, replacement)
    return text


def _ordered_roles(roles: Sequence[str]) -> list[str]:
    return sorted(
        roles, key=lambda role: (_ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER), role)
    )
