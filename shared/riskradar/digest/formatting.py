"""Numbers, money and times as a person reads them, shared by the HTML and Markdown renderers."""

# Typography for people: ×, –, − and “quotes” are meant (they are not look-alikes of ASCII).
# ruff: noqa: RUF001, RUF002, RUF003
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["ago", "count", "day_span", "growth", "moment", "money", "plural", "short_hash"]


def count(value: int) -> str:
    """1234 → '1,234'."""
    return f"{value:,}"


def plural(value: int, one: str, many: str | None = None) -> str:
    """'1 report', '1,234 reports'."""
    return f"{count(value)} {one if value == 1 else (many or one + 's')}"


def money(usd: float) -> str:
    """USD for people: '$0', '< $1', '$950', '$12.3k', '$1.2M'. Halves round up, as the page's
    filter script rounds them (JavaScript's Math.round and toFixed): a figure reads the same
    before a filter is applied and after it is cleared."""
    if usd <= 0:
        return "$0"
    if usd < 0.5:  # a real amount, if a small one: never shown as nothing
        return "< $1"
    if usd < 1_000:
        return f"${_half_up(usd, 0):,}"
    for size, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B")):
        scaled = usd / size
        text = f"{_half_up(scaled, 1)}" if scaled < 99.95 else f"{_half_up(scaled, 0):,}"
        # 999,950 would read "$1,000k": step up to "$1.0M" instead.
        if suffix == "B" or float(text.replace(",", "")) < 1000:
            return f"${text}{suffix}"
    raise AssertionError("unreachable: the last unit always returns")


def _half_up(value: float, places: int) -> Decimal:
    # The float's exact binary value, rounded half up: what toFixed does with the same double.
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def growth(ratio: float) -> str:
    """2.04 → '2.0×', 37.5 → '38×'."""
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:,.0f}×"


def ago(moment_: datetime, now: datetime) -> str:
    """'just now', '5 minutes ago', '3 hours ago', 'yesterday', '4 days ago', '3 weeks ago',
    'in 2 days' (a future moment)."""
    seconds = (now - moment_).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    if seconds < 60:
        return "just now"
    if 86_400 <= seconds < 2 * 86_400:
        return "yesterday"
    return _span(seconds) + " ago"


def _span(seconds: float) -> str:
    for unit, length in (("year", 365 * 86_400), ("week", 7 * 86_400), ("day", 86_400), ("hour", 3600)):
        if seconds >= length * (2 if unit in ("year", "week") else 1):
            return plural(int(seconds // length), unit)
    return plural(max(1, int(seconds // 60)), "minute")


def moment(value: datetime) -> str:
    """'20 Nov 2026, 15:30 UTC'."""
    utc = value.astimezone(UTC)
    return f"{day(utc.date())}, {utc:%H:%M} UTC"


def day(value: date) -> str:
    """'20 Nov 2026'."""
    return f"{value.day} {value:%b %Y}"


def day_span(days: tuple[date, ...]) -> str:
    """'6–20 Nov 2026', '28 Oct – 11 Nov 2026', '20 Dec 2026 – 3 Jan 2027'."""
    if not days:
        return "no activity window"
    first, last = days[0], days[-1]
    if first == last:
        return f"{last.day} {last:%b %Y}"
    if first.year != last.year:
        return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day}–{last.day} {last:%b %Y}"


def short_hash(value: str, keep: int = 10) -> str:
    return value if len(value) <= keep + 1 else value[:keep] + "…"
