"""The digest as a short Markdown summary for chat and e-mail: emerging themes, the top themes by
priority, counts — and a link to the full page when the caller has one.

Report texts, labels and strategists' words are untrusted: `neutralise` makes each one inert
plain text on one line — Markdown and HTML metacharacters escaped, URL schemes and domains
defanged so no chat client turns them into links or previews, mentions broken so nobody is
pinged — and shortens it.

Pure: no I/O.
"""

# Typography for people: ×, –, − and “quotes” are meant (they are not look-alikes of ASCII).
# ruff: noqa: RUF003
from __future__ import annotations

import re
from typing import Final

from riskradar.digest import formatting as fmt
from riskradar.digest.model import Digest, ThemeCard

__all__ = ["neutralise", "render_markdown"]

#: Top themes by priority listed after the emerging ones.
TOP_THEMES: Final = 5
#: Emerging themes listed (they come first; the rest are counted).
TOP_EMERGING: Final = 5
EXAMPLE_CHARS: Final = 160

_WHITESPACE = re.compile(r"\s+")
# Characters Markdown (CommonMark, GitHub, Slack mrkdwn) gives a meaning to anywhere in a line ...
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()!|~])")
# ... and those that matter only where a line starts (a heading, list, quote or ordered list).
_LINE_START = re.compile(r"^([#>+\-=])")
_ORDERED_LIST_START = re.compile(r"^(\d+)([.)])")
_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]{1,20}):(?=//|[A-Za-z0-9])")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9])\.(?=(?:[A-Za-z]{2,24})\b)")
_MENTION = re.compile(r"([@!])(?=[A-Za-z0-9])")


def neutralise(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """Untrusted text as inert Markdown on one line, at most about `limit` characters."""
    flat = _WHITESPACE.sub(" ", text).strip()
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    # Defang before escaping: "https://x.example" → "https[:]//x[.]example" (the common convention
    # of incident reports), so neither a Markdown renderer nor a chat client's autolinker fires.
    flat = _SCHEME.sub(r"\1[:]", flat)
    flat = _DOMAIN_DOT.sub("[.]", flat)
    flat = _MARKDOWN_SPECIALS.sub(r"\\\1", flat)
    flat = _LINE_START.sub(r"\\\1", flat)
    flat = _ORDERED_LIST_START.sub(r"\1\\\2", flat)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;")
    # A word joiner (U+2060, invisible) after @ and ! keeps "@here", "@channel" and "!everyone" from pinging.
    return _MENTION.sub("\\1\u2060", flat)


def render_markdown(digest: Digest, *, full_digest_url: str | None = None) -> str:
    """A summary of a few lines; `full_digest_url` (ours, trusted) links the HTML page."""
    totals = digest.totals
    lines = [
        f"**Theme digest** · {fmt.moment(digest.generated_at)} · snapshot v{digest.snapshot_version}",
        "",
        " · ".join(
            [
                f"{fmt.plural(totals.reports, 'report')} ({fmt.day_span(digest.days)})",
                fmt.plural(totals.themes, "theme"),
                f"{fmt.count(totals.emerging)} emerging",
                "all new (first run)" if digest.first_run else f"{fmt.count(totals.new_themes)} new",
                f"{fmt.money(totals.money_at_risk_usd)} at risk",
                f"{fmt.count(digest.novelty_pool.reports)} in no theme",
            ]
        ),
    ]
    lines += [f"_{neutralise(caveat, 300)}_" for caveat in digest.caveats]

    emerging = [card for card in digest.themes if card.emerging is not None]
    if emerging:
        lines += ["", f"**Emerging ({fmt.count(totals.emerging)})**"]
        lines += [_line(index, card, digest) for index, card in enumerate(emerging[:TOP_EMERGING], start=1)]
        hidden = totals.emerging - min(len(emerging), TOP_EMERGING)
        if hidden > 0:
            lines.append(f"…and {fmt.plural(hidden, 'more emerging theme')}")
    elif totals.themes:
        lines += ["", "No emerging theme."]

    ranked = [card for card in digest.themes if card.emerging is None]
    if ranked:
        lines += ["", "**Top themes by priority**"]
        lines += [_line(index, card, digest) for index, card in enumerate(ranked[:TOP_THEMES], start=1)]
    remaining = totals.themes - min(len(emerging), TOP_EMERGING) - min(len(ranked), TOP_THEMES)
    if totals.themes == 0:
        lines += ["", "No themes yet."]
    elif remaining > 0:
        lines += ["", f"{fmt.plural(remaining, 'more theme')} in the full digest."]
    if full_digest_url:
        lines += ["", f"Full digest: <{full_digest_url}>"]
    return "\n".join(lines) + "\n"


def _line(index: int, card: ThemeCard, digest: Digest) -> str:
    facts: list[str] = []
    if card.verdict is not None:
        facts.append(card.verdict.verdict.value.replace("_", " "))
    if card.is_new and not digest.first_run:
        facts.append("new")
    if card.emerging is not None:
        growth = f", {fmt.growth(card.emerging.growth)} expected" if card.emerging.growth is not None else ""
        facts.append(
            f"{fmt.plural(card.emerging.recent_reports, 'report')} recently{growth}, "
            f"detected {fmt.ago(card.emerging.detected_at, digest.generated_at)}"
        )
    else:
        facts.append(fmt.plural(card.reports, "report"))
        if card.growth is not None and card.growth >= 1.5:
            facts.append(f"share up {fmt.growth(card.growth)}")
    if card.money_at_risk_usd >= 0.5:
        facts.append(f"{fmt.money(card.money_at_risk_usd)} at risk")
    if card.top_subjects and card.top_subjects[0].distinct_reporters >= 2:
        top = card.top_subjects[0]
        facts.append(f"{top.distinct_reporters} reporters against one {top.subject_type.replace('_', ' ')}")
    active = [item for item in card.interventions if item.status == "active"]
    if active:
        facts.append(fmt.plural(len(active), "active intervention"))
    line = f"{index}. **{neutralise(card.label, 120)}** — " + " · ".join(facts)
    if card.examples:
        line += f"\n   > {neutralise(card.examples[0])}"
    return line
