"""Turn a file of complaint texts into realistic intake reports, and send them to an intake API.

Public datasets carry text (and maybe a label) but no marketplace context, so the business,
reporter, subject, amount and time of each report are synthesised here — deterministically from a
seed, so that a replay is reproducible and a second replay of the same file is recognised as
duplicates by intake (report ids are derived from the row number).
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

#: Share of reports per business, and which kinds of subject a report in that business points at.
BUSINESS_WEIGHTS = {"shop": 0.4, "payments": 0.3, "live": 0.2, "ads": 0.1}
SUBJECT_TYPES_BY_BUSINESS = {
    "shop": ("seller", "listing", "order"),
    "payments": ("order", "user"),
    "live": ("live_stream", "creator"),
    "ads": ("creator", "listing"),
}
ROLE_WEIGHTS = {"user": 0.8, "seller": 0.15, "creator": 0.05}
SUBJECT_SHARE = 0.7
_CURRENCY_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR"}
_CURRENCY_WORDS = {
    "pounds": "GBP",
    "gbp": "GBP",
    "dollars": "USD",
    "usd": "USD",
    "euros": "EUR",
    "eur": "EUR",
}
_AMOUNT_AFTER_SYMBOL = re.compile(r"([£$€])\s?(\d{1,7}(?:[.,]\d{1,2})?)")
_AMOUNT_BEFORE_WORD = re.compile(
    r"\b(\d{1,7}(?:\.\d{1,2})?)\s?(pounds|gbp|dollars|usd|euros|eur)\b", re.IGNORECASE
)


class DatasetError(ValueError):
    """The input file cannot be replayed (missing column, bad encoding, empty)."""


@dataclass(frozen=True)
class SourceRow:
    text: str
    label: str | None = None


def read_rows(path: Path, *, text_column: str = "text", label_column: str | None = None) -> list[SourceRow]:
    """Rows of a CSV or JSONL file (by extension), with clear errors for unusable files."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text (byte {error.start})") from None
    records = _jsonl_records(raw, path) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv_records(raw)
    rows = []
    for number, record in enumerate(records, start=1):
        if text_column not in record:
            raise DatasetError(
                f"{path}: row {number} has no column {text_column!r} (has: {', '.join(record)})"
            )
        if label_column is not None and label_column not in record:
            raise DatasetError(f"{path}: row {number} has no column {label_column!r}")
        text = str(record[text_column] or "").strip()
        if text:
            rows.append(SourceRow(text, str(record[label_column]) if label_column else None))
    if not rows:
        raise DatasetError(f"{path}: no rows with text in column {text_column!r}")
    return rows


def _csv_records(raw: str) -> Iterator[dict[str, Any]]:
    return iter(csv.DictReader(raw.splitlines()))


def _jsonl_records(raw: str, path: Path) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}: line {number} is not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}: line {number} is not a JSON object")
        yield record


def extract_amount(text: str) -> dict[str, str] | None:
    """A money amount the reporter mentions ("£100", "50 dollars"), as the API's amount object."""
    if match := _AMOUNT_AFTER_SYMBOL.search(text):
        value, currency = match.group(2).replace(",", "."), _CURRENCY_SYMBOLS[match.group(1)]
    elif match := _AMOUNT_BEFORE_WORD.search(text):
        value, currency = match.group(1), _CURRENCY_WORDS[match.group(2).lower()]
    else:
        return None
    return {"value": str(Decimal(value)), "currency": currency}


@dataclass(frozen=True)
class SimulatedIntervention:
    """An intervention that worked, played into the replay: from `days_before_end` days before the
    replay's end (at UTC midnight), `reduction` of the reports of `label` in `business` are never
    filed. The label's reports go mostly (`home_share`) to that business, as a payment scam's
    reports come mostly from payments."""

    label: str
    business: str
    days_before_end: int = 8
    reduction: float = 0.6
    home_share: float = 0.8

    def start(self, end: datetime) -> datetime:
        day = (end - timedelta(days=self.days_before_end)).date()
        return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class ReplayPlan:
    """How source rows become reports."""

    seed: int = 7
    days: int = 14
    end: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    id_prefix: str = "replay"
    reporters: int = 4000
    subjects: int = 400
    #: A label held back until the last `emerging_days`, where it appears and grows (linearly
    #: rising rate): a new theme emerging against steady background traffic.
    emerging_label: str | None = None
    emerging_days: float = 2.0
    intervention: SimulatedIntervention | None = None


def synthesize_reports(rows: Sequence[SourceRow], plan: ReplayPlan) -> list[dict[str, Any]]:
    """One intake report per row, in time order over `plan.days` days ending at `plan.end`."""
    rng = random.Random(plan.seed)
    start = plan.end - timedelta(days=plan.days)
    span_seconds = plan.days * 86_400
    emerging_seconds = plan.emerging_days * 86_400
    timed = []
    for row in rows:
        if plan.emerging_label is not None and row.label == plan.emerging_label:
            # sqrt of a uniform draw: density grows linearly towards the end.
            offset = int(span_seconds - emerging_seconds + emerging_seconds * rng.random() ** 0.5)
        else:
            offset = rng.randrange(span_seconds)
        timed.append((min(offset, span_seconds - 1), row))
    timed.sort(key=lambda pair: pair[0])
    intervention = plan.intervention
    reports = []
    for number, (offset, row) in enumerate(timed):
        business = _weighted(rng, BUSINESS_WEIGHTS)
        created_at = start + timedelta(seconds=offset)
        prevented = False
        if intervention is not None and row.label == intervention.label:
            if rng.random() < intervention.home_share:
                business = intervention.business
            removed = rng.random() < intervention.reduction
            prevented = (
                removed and business == intervention.business and created_at >= intervention.start(plan.end)
            )
        report: dict[str, Any] = {
            "report_id": f"{plan.id_prefix}-{number:06d}",
            "business": business,
            "reporter": {
                "id": f"reporter-{rng.randrange(plan.reporters)}",
                "role": _weighted(rng, ROLE_WEIGHTS),
            },
            "text": row.text,
            "locale": "en-GB",
            "created_at": created_at.isoformat().replace("+00:00", "Z"),
        }
        if rng.random() < SUBJECT_SHARE:
            # A few subjects draw many reports (as bad actors do): low ranks are picked far more
            # often than high ones (rank 0 about 1 time in 20 with the default pool of 400).
            subject_rank = int(plan.subjects * rng.random() ** 2)
            subject_type = rng.choice(SUBJECT_TYPES_BY_BUSINESS[business])
            report["subject"] = {"type": subject_type, "id": f"{subject_type}-{subject_rank}"}
        if row.label:
            report["category"] = row.label
        if amount := extract_amount(row.text):
            report["amount"] = amount
        # Decided only now: every report draws the same random numbers whether it is filed or not,
        # so a simulated intervention changes nothing but the reports it prevents.
        if not prevented:
            reports.append(report)
    return reports


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class ReplaySummary:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    #: Requests refused as a whole, by HTTP status.
    refused_requests: Counter[int] = field(default_factory=Counter)

    def add(self, other: ReplaySummary) -> None:
        self.sent += other.sent
        self.statuses.update(other.statuses)
        self.refused_requests.update(other.refused_requests)

    @property
    def accepted(self) -> int:
        return self.statuses["accepted"]

    @property
    def duplicates(self) -> int:
        return self.statuses["duplicate"]

    @property
    def rejected(self) -> int:
        return self.sent - self.accepted - self.duplicates


def post_batches(
    api_url: str,
    reports: Sequence[dict[str, Any]],
    *,
    batch_size: int = 100,
    session: requests.Session | None = None,
    on_batch: Callable[[int], None] = lambda n: None,
    timeout_s: float = 60.0,
) -> ReplaySummary:
    """POST the reports to `{api_url}/v1/reports/batch`, `batch_size` at a time."""
    http = session or requests.Session()
    summary = ReplaySummary()
    for batch in _chunks(reports, batch_size):
        response = http.post(
            f"{api_url.rstrip('/')}/v1/reports/batch", json={"reports": batch}, timeout=timeout_s
        )
        summary.sent += len(batch)
        body = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        items = body.get("items") if isinstance(body, dict) else None
        if isinstance(items, list):
            summary.statuses.update(str(item.get("status")) for item in items)
        else:
            summary.refused_requests[response.status_code] += 1
        on_batch(len(batch))
    return summary


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
