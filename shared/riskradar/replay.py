"""Turn a file of complaint texts into realistic intake reports, and send them to an intake API.

Public datasets carry text (and maybe a label) but no marketplace context, so the business,
reporter, subject, amount and time of each report are synthesised here — deterministically from a
seed, so that a replay is reproducible and a second replay of the same file is recognised as
duplicates by intake (report ids are derived from the row number).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import random
import re
import time
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
# A number as people write money: grouped by thousands ("10,000", "2,499.99") or not ("1500",
# "12.50"), or with a decimal comma ("12,50": one or two digits after it, nothing more).
_GROUPED_BY_THOUSANDS = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?"
_MONEY_NUMBER = rf"({_GROUPED_BY_THOUSANDS}|\d{{1,7}}(?:[.,]\d{{1,2}})?)(?![\d,.]*\d)"
_GROUPED = re.compile(_GROUPED_BY_THOUSANDS)
_AMOUNT_AFTER_SYMBOL = re.compile(rf"([£$€])\s?{_MONEY_NUMBER}")
_AMOUNT_BEFORE_WORD = re.compile(rf"\b{_MONEY_NUMBER}\s?(pounds|gbp|dollars|usd|euros|eur)\b", re.IGNORECASE)


class DatasetError(ValueError):
    """The input file cannot be replayed (missing column, bad encoding, empty)."""


@dataclass(frozen=True)
class SourceRow:
    text: str
    label: str | None = None
    #: When the file says the complaint was made; None: the replay spreads it over its days.
    created_at: datetime | None = None
    #: The file's business and reporter, when it has them; None: synthesised.
    business: str | None = None
    reporter: str | None = None


@dataclass(frozen=True)
class Columns:
    """Which columns of a file hold what. Only `text` is required."""

    text: str = "text"
    label: str | None = None
    time: str | None = None
    business: str | None = None
    reporter: str | None = None

    def named(self) -> list[tuple[str, str]]:
        """(option, column) for each column asked for, in the order the user would check them."""
        pairs = [
            ("text", self.text),
            ("label", self.label),
            ("time", self.time),
            ("business", self.business),
            ("reporter", self.reporter),
        ]
        return [(option, column) for option, column in pairs if column is not None]


#: File formats by extension; anything else is read as CSV unless a format is given.
FORMATS_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FORMATS = ("csv", "tsv", "jsonl")


def read_rows(
    path: Path,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    columns: Columns | None = None,
    file_format: str | None = None,
) -> list[SourceRow]:
    """Rows of a CSV, TSV or JSONL file (`file_format`, or by extension), with clear errors for
    unusable files. `columns` names the columns to read (it wins over `text_column` and
    `label_column`, which remain for the demo's callers). Rows with empty text are skipped."""
    columns = columns or Columns(text=text_column, label=label_column)
    file_format = file_format or FORMATS_BY_SUFFIX.get(path.suffix.lower(), "csv")
    if file_format not in FORMATS:
        raise DatasetError(f"unknown format {file_format!r}: use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        # utf-8-sig: spreadsheet programs start their UTF-8 exports with a byte order mark.
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path}: not UTF-8 text (byte {error.start}); convert it first, e.g. "
            f"iconv -f latin1 -t utf-8 {path.name} > converted{path.suffix}"
        ) from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror})") from None
    if not raw.strip():
        raise DatasetError(f"{path}: the file is empty")
    if file_format == "jsonl":
        records: Iterator[tuple[str, dict[str, Any]]] = _jsonl_records(raw, path)
    else:
        records = _csv_records(raw, path, columns, delimiter="\t" if file_format == "tsv" else ",")
    rows = []
    for where, record in records:
        for option, column in columns.named():
            if column not in record:
                raise DatasetError(
                    f"{path}: {where} has no column {column!r} for --{option}-column "
                    f"(it has: {', '.join(map(str, record)) or 'nothing'})"
                )
        text = _text(record[columns.text])
        if not text:
            continue
        rows.append(
            SourceRow(
                text,
                label=_optional_text(record, columns.label),
                created_at=_time(record[columns.time], f"{path}: {where}") if columns.time else None,
                business=_optional_text(record, columns.business),
                reporter=_optional_text(record, columns.reporter),
            )
        )
    if not rows:
        raise DatasetError(f"{path}: no rows with text in column {columns.text!r}")
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _optional_text(record: dict[str, Any], column: str | None) -> str | None:
    if column is None:
        return None
    return _text(record[column]) or None


def _csv_records(
    raw: str, path: Path, columns: Columns, *, delimiter: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(raw, newline=""), delimiter=delimiter)
    try:
        header = reader.fieldnames or []
        # A missing column is a property of the header: say so once, before reading any row.
        for option, column in columns.named():
            if column not in header:
                raise DatasetError(
                    f"{path}: no column {column!r} for --{option}-column "
                    f"(the header has: {', '.join(header) or 'nothing'})"
                )
        for record in reader:
            if delimiter == "\t" and any(
                "\t" in value for value in record.values() if isinstance(value, str)
            ):
                # Read with CSV's quoting rules, a text that merely starts with a double quote
                # swallows the lines after it, tabs and all: refuse rather than merge rows.
                raise DatasetError(
                    f"{path}: line {reader.line_num} holds a tab inside a field: a value starting with "
                    'a double quote (") is read as quoted up to the next quote; save the file as CSV, '
                    "or without quotes around values"
                )
            yield f"line {reader.line_num}", record
    except csv.Error as error:
        raise DatasetError(f"{path}: line {reader.line_num + 1} is not valid CSV ({error})") from None


def _jsonl_records(raw: str, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}: line {number} is not JSON ({error.msg})") from None
        except ValueError as error:  # valid JSON that Python refuses: an integer of over 4,300 digits
            raise DatasetError(f"{path}: line {number} cannot be read ({error})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}: line {number} is not a JSON object")
        yield f"line {number}", record


#: Epoch numbers above this are taken as milliseconds (1e11 seconds is the year 5138).
_EPOCH_MILLISECONDS_FROM = 1e11


def _time(value: Any, where: str) -> datetime:
    """A complaint's time: ISO 8601 (a date alone is midnight), or Unix seconds or milliseconds.
    Times without a zone are taken as UTC."""
    parsed: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an integer beyond any float
            parsed = _from_epoch(float(value))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        # ISO first: "20240501" is a date in ISO 8601's basic format, not 20 million seconds.
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            with contextlib.suppress(ValueError):
                parsed = _from_epoch(float(text))
    if parsed is None:
        raise DatasetError(
            f"{where}: time {value!r} is neither ISO 8601 (2024-05-01T12:00:00Z) nor Unix seconds"
        )
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _from_epoch(seconds: float) -> datetime | None:
    if seconds != seconds or abs(seconds) == float("inf"):  # NaN or infinite
        return None
    if abs(seconds) >= _EPOCH_MILLISECONDS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def extract_amount(text: str) -> dict[str, str] | None:
    """A money amount the reporter mentions ("£100", "50 dollars"), as the API's amount object."""
    if match := _AMOUNT_AFTER_SYMBOL.search(text):
        value, currency = _money_number(match.group(2)), _CURRENCY_SYMBOLS[match.group(1)]
    elif match := _AMOUNT_BEFORE_WORD.search(text):
        value, currency = _money_number(match.group(1)), _CURRENCY_WORDS[match.group(2).lower()]
    else:
        return None
    return {"value": str(Decimal(value)), "currency": currency}


def _money_number(written: str) -> str:
    """ "10,000" is ten thousand, "12,50" twelve and a half."""
    if _GROUPED.fullmatch(written):
        return written.replace(",", "")
    return written.replace(",", ".")


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
    #: What the strategist records as the intervention.
    action: str = "Extra verification step"

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
    """One intake report per row, in time order over `plan.days` days ending at `plan.end`.

    A row's own time, business and reporter (from the file) are kept; what a row lacks is drawn.
    Every row draws the same random numbers either way, so the synthesised parts of a file do not
    change when another column is added.
    """
    rng = random.Random(plan.seed)
    start = plan.end - timedelta(days=plan.days)
    span_seconds = plan.days * 86_400
    emerging_seconds = plan.emerging_days * 86_400
    timed = []
    for row in rows:
        if row.created_at is not None:
            timed.append((row.created_at, row))
            continue
        if plan.emerging_label is not None and row.label == plan.emerging_label:
            # sqrt of a uniform draw: density grows linearly towards the end.
            offset = int(span_seconds - emerging_seconds + emerging_seconds * rng.random() ** 0.5)
        else:
            offset = rng.randrange(span_seconds)
        timed.append((start + timedelta(seconds=min(offset, span_seconds - 1)), row))
    timed.sort(key=lambda pair: pair[0])
    intervention = plan.intervention
    reports = []
    for number, (created_at, row) in enumerate(timed):
        drawn_business = _weighted(rng, BUSINESS_WEIGHTS)
        business = row.business or drawn_business
        prevented = False
        if intervention is not None and row.label == intervention.label:
            if rng.random() < intervention.home_share:
                business = intervention.business
            removed = rng.random() < intervention.reduction
            prevented = (
                removed and business == intervention.business and created_at >= intervention.start(plan.end)
            )
        drawn_reporter = f"reporter-{rng.randrange(plan.reporters)}"
        report: dict[str, Any] = {
            "report_id": f"{plan.id_prefix}-{number:06d}",
            "business": business,
            "reporter": {"id": row.reporter or drawn_reporter, "role": _weighted(rng, ROLE_WEIGHTS)},
            "text": row.text,
            "locale": "en-GB",
            "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        if rng.random() < SUBJECT_SHARE:
            subject_rank = draw_subject_rank(rng, plan.subjects)
            subject_type = rng.choice(SUBJECT_TYPES_BY_BUSINESS.get(business, ("user",)))
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


def draw_subject_rank(rng: random.Random, subjects: int) -> int:
    """Which of `subjects` subjects a report names: a few draw many reports (as bad actors do), low
    ranks far more often than high ones (rank 0 about 1 time in 20 with a pool of 400)."""
    return int(subjects * rng.random() ** 2)


def shift_to_end(rows: Sequence[SourceRow], end: datetime) -> list[SourceRow]:
    """The rows with their times moved together so that the latest is `end` (spacing kept): old
    complaints replayed as if recent, inside the windows that triage and recluster look at."""
    times = [row.created_at for row in rows if row.created_at is not None]
    if not times:
        return list(rows)
    delta = end - max(times)
    return [
        dataclasses.replace(row, created_at=row.created_at + delta) if row.created_at is not None else row
        for row in rows
    ]


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class ReplaySummary:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    #: Requests refused as a whole, by HTTP status.
    refused_requests: Counter[int] = field(default_factory=Counter)
    #: Why reports were not accepted: "text: must not be empty" (the field without its batch
    #: index) for each refused report, and "HTTP 503: ..." for each report of a refused request.
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, other: ReplaySummary) -> None:
        self.sent += other.sent
        self.statuses.update(other.statuses)
        self.refused_requests.update(other.refused_requests)
        self.reasons.update(other.reasons)

    @property
    def accepted(self) -> int:
        return self.statuses["accepted"]

    @property
    def duplicates(self) -> int:
        return self.statuses["duplicate"]

    @property
    def rejected(self) -> int:
        return self.sent - self.accepted - self.duplicates


class ApiUnreachable(Exception):
    """The API could not be reached at all, or refused the very first request as a whole."""


#: Whole-request answers worth a retry: throttled, or the service briefly unavailable.
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
_BATCH_INDEX = re.compile(r"^reports\[\d+\]\.?")


def post_batches(
    api_url: str,
    reports: Sequence[dict[str, Any]],
    *,
    batch_size: int = 100,
    session: requests.Session | None = None,
    on_batch: Callable[[int], None] = lambda n: None,
    timeout_s: float = 60.0,
    retry_delays_s: Sequence[float] = (0.5, 2.0, 8.0),
) -> ReplaySummary:
    """POST the reports to `{api_url}/v1/reports/batch`, `batch_size` at a time.

    Throttled or unavailable answers (429, 502-504) are retried after `retry_delays_s`; intake
    recognises a resent report by its id, so a retry never files one twice. ApiUnreachable when
    nothing answers, or when the first request is refused as a whole (a wrong URL, a missing
    authorizer token): sending the rest would only repeat that answer.
    """
    http = session or requests.Session()
    url = f"{api_url.rstrip('/')}/v1/reports/batch"
    summary = ReplaySummary()
    for batch in _chunks(reports, batch_size):
        response = _post_with_retries(http, url, {"reports": batch}, timeout_s, retry_delays_s)
        body = _json_body(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            reason = f"HTTP {response.status_code}: {_error_message(body, response)}"
            if summary.sent == 0:
                raise ApiUnreachable(f"POST {url} was refused: {reason}")
            summary.refused_requests[response.status_code] += 1
            summary.reasons[reason] += len(batch)
        else:
            for item in items:
                status = str(item.get("status")) if isinstance(item, dict) else "unknown"
                summary.statuses[status] += 1
                if status not in ("accepted", "duplicate"):
                    errors = item.get("errors") if isinstance(item, dict) else None
                    summary.reasons.update(_item_reasons(status, errors))
        summary.sent += len(batch)
        on_batch(len(batch))
    return summary


def _post_with_retries(
    http: requests.Session, url: str, body: Any, timeout_s: float, retry_delays_s: Sequence[float]
) -> requests.Response:
    for delay in [*retry_delays_s, None]:
        try:
            response = http.post(url, json=body, timeout=timeout_s)
        except requests.ConnectionError as error:
            raise ApiUnreachable(f"cannot reach {url}: {root_cause(error)}") from None
        except requests.Timeout:
            raise ApiUnreachable(f"{url} did not answer within {timeout_s:g} s") from None
        except requests.RequestException as error:  # an URL requests refuses, a broken answer
            raise ApiUnreachable(f"cannot send to {url}: {root_cause(error)}") from None
        if response.status_code not in RETRIED_STATUSES or delay is None:
            return response
        time.sleep(delay)
    raise AssertionError("unreachable: the last attempt always returns")


def _json_body(response: requests.Response) -> Any:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _error_message(body: Any, response: requests.Response) -> str:
    """The API's own explanation of a refused request, else the start of what it answered."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            details = "; ".join(
                f"{d.get('field')}: {d.get('reason')}"
                for d in error.get("details") or []
                if isinstance(d, dict)
            )
            return f"{error['message']}" + (f" ({details})" if details else "")
        if isinstance(body.get("message"), str):  # API Gateway's own answers: {"message": "Not Found"}
            return str(body["message"])
    text = " ".join(response.text.split())
    return (text[:200] + "...") if len(text) > 200 else (text or response.reason or "no answer body")


def _item_reasons(status: str, errors: Any) -> list[str]:
    if not isinstance(errors, list) or not errors:
        return [status]
    return [
        f"{_BATCH_INDEX.sub('', str(error.get('field', ''))) or '(report)'}: {error.get('reason')}"
        for error in errors
        if isinstance(error, dict)
    ] or [status]


def root_cause(error: BaseException) -> str:
    """The innermost reason of a connection error ("Connection refused"), not urllib3's layers."""
    while error.__context__ is not None or error.__cause__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    text = str(error)
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
