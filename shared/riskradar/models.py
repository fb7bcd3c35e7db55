"""Data contracts of riskradar, in one place.

`ReportIn` is what a client may send to the intake API. `QueuedReport` is what intake puts on the
intake queue after validation, PII redaction and id pseudonymisation: nothing downstream ever sees
a raw identifier or unredacted text. Both are strict (unknown fields are refused) because a silently
ignored field is a report a strategist never sees.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from riskradar.currencies import ISO_4217_CODES

QUEUED_REPORT_SCHEMA_VERSION: Literal["1"] = "1"

TEXT_MAX_CHARS = 5000
#: Clocks of reporters' devices drift; a report may claim to be this far in the future.
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Upper bound for a money amount: far above any real order, low enough to catch unit mix-ups
#: (cents sent as units) and overflow probes.
MAX_AMOUNT = Decimal("1000000000")
#: Amounts keep at most this many decimal places (more are rounded half-even). ISO 4217 minor units
#: go to 4 (CLF, UYW); six also absorbs clients' binary-float noise (0.1 + 0.2 = 0.30000000000000004).
#: With MAX_AMOUNT that bounds every amount to a plain decimal of at most 16 digits, which is what
#: DynamoDB can store (38 digits, nothing as small as 1E-200) and what the signal schema's
#: decimal-string pattern accepts (no exponent).
MONEY_DECIMAL_PLACES = 6
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_DECIMAL_PLACES)

# Newlines and tabs are ordinary in free text; every other control character is refused.
_ALLOWED_CONTROL_CHARS = frozenset("\n\r\t")
# The characters SQS message bodies may not hold beyond the control characters (XML 1.0's set).
_NOT_IN_SQS = frozenset("\ufffe\uffff")


def _check_printable(value: str) -> str:
    for char in value:
        # Unpaired surrogates never get here: pydantic refuses them as invalid strings.
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROL_CHARS:
            raise ValueError(f"contains a control character (U+{ord(char):04X})")
        if char in _NOT_IN_SQS:
            # SQS refuses a message holding them: accepted, the report could never be queued.
            raise ValueError(f"contains a noncharacter (U+{ord(char):04X})")
    return value


_PRINTABLE = AfterValidator(_check_printable)

# Characters that show nothing on their own: spaces and separators (Z*), controls (Cc) and format
# characters (Cf: zero-width space and joiners, word joiner, BOM, bidi marks). Trimming removes only
# Unicode white space, so "\u200b\u200b" would otherwise pass as a non-empty text.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def _check_visible(value: str) -> str:
    if all(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in value):
        raise ValueError("must contain visible text, not only spaces or invisible characters")
    return value


def _plain_money(value: Decimal) -> Decimal:
    """The amount as a plain decimal with at most MONEY_DECIMAL_PLACES places, as the reporter wrote
    it otherwise: `1500.00` stays `1500.00`, `1E+3` becomes `1000`, `0.30000000000000004` becomes
    `0.3`, `1E-200` becomes `0`, `-0.0` becomes `0.0`."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN and infinities are refused before this runs
        raise ValueError("must be a finite number")
    if exponent > 0:
        value = value.quantize(Decimal(1))
    elif exponent < -MONEY_DECIMAL_PLACES:
        value = value.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
        # normalize() drops the zeros rounding left behind, but would write an integer as 1E+3.
        value = value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    return value.copy_abs()  # only -0 can be negative here: the value is >= 0


_ISO_DATETIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


_HOURS_ONLY_OFFSET = re.compile(r"(?<=[0-9])([+-][0-9]{2})$")


def _iso_8601_text(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as a Unix time (`0`, `1700000000`, `"1700000000"`):
    the contract is an ISO 8601 date and time, and a number there is a client bug, not 1970."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME_START.match(value):
        # ISO 8601 allows an offset of hours alone (PostgreSQL prints timestamptz so: "+00"),
        # which pydantic refuses: spell it out.
        return _HOURS_ONLY_OFFSET.sub(r"\1:00", value)
    raise ValueError("must be an ISO 8601 date and time with a time zone, e.g. 2024-05-01T12:00:00Z")


Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256), _PRINTABLE
]
ClientReportId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


class ReporterRole(StrEnum):
    USER = "user"
    SELLER = "seller"
    CREATOR = "creator"


class SubjectType(StrEnum):
    SELLER = "seller"
    CREATOR = "creator"
    LISTING = "listing"
    ORDER = "order"
    USER = "user"
    LIVE_STREAM = "live_stream"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reporter(_Strict):
    id: Identifier
    role: ReporterRole


class Subject(_Strict):
    type: SubjectType
    id: Identifier


class Amount(_Strict):
    value: Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), AfterValidator(_plain_money)]
    currency: str

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise ValueError("must be an ISO 4217 currency code in upper case, e.g. USD, EUR, GBP")
        return value


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ReportIn(_Strict):
    """A report as a client files it (POST /v1/reports, or one item of /v1/reports/batch)."""

    report_id: ClientReportId | None = None
    business: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reporter: Reporter
    subject: Subject | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), _PRINTABLE] | None = (
        None
    )
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX_CHARS),
        _PRINTABLE,
        AfterValidator(_check_visible),
    ]
    amount: Amount | None = None
    locale: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{1,8}){0,4}$")] | None
    ) = None
    created_at: Annotated[datetime, BeforeValidator(_iso_8601_text)] = Field(default_factory=_utc_now)

    @field_validator("business")
    @classmethod
    def _allowed_business(cls, value: str, info: ValidationInfo) -> str:
        allowed = _context_value(info, "allowed_businesses")
        if allowed is not None and value not in allowed:
            raise ValueError(f"must be one of: {', '.join(sorted(allowed))}")
        return value

    @field_validator("created_at")
    @classmethod
    def _plausible_time(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a time zone, e.g. 2024-05-01T12:00:00Z")
        now = _context_value(info, "now") or _utc_now()
        if value - now > MAX_CLOCK_SKEW:
            raise ValueError("must not be more than 5 minutes in the future")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is a valid datetime, but not in UTC
            raise ValueError("is out of range") from None


def _context_value(info: ValidationInfo, key: str) -> Any:
    return info.context.get(key) if isinstance(info.context, dict) else None


class PseudonymousReporter(_Strict):
    id_hash: str
    role: ReporterRole


class PseudonymousSubject(_Strict):
    type: SubjectType
    id_hash: str


class QueuedReport(_Strict):
    """The intake queue message (schema version 1): redacted, pseudonymised, ready for triage."""

    schema_version: Literal["1"] = QUEUED_REPORT_SCHEMA_VERSION
    report_id: str
    business: str
    reporter: PseudonymousReporter
    subject: PseudonymousSubject | None = None
    category: str | None = None
    text: str
    amount: Amount | None = None
    locale: str | None = None
    created_at: datetime
    received_at: datetime
    #: How many PII spans of each kind were redacted from text and category (for audit, not content).
    redactions: dict[str, int] = Field(default_factory=dict)


# --- Shard notice (triage → online novelty detection, FIFO queue), schema version 1 -----------------

SHARD_NOTICE_SCHEMA_VERSION: Literal["1"] = "1"


class ShardNotice(_Strict):
    """An embedding shard triage has just written (one per batch and day): the online detector reads
    it from S3. Small on purpose — the vectors stay in S3, the queue carries only the order."""

    schema_version: Literal["1"] = SHARD_NOTICE_SCHEMA_VERSION
    #: The shard's S3 key in the artifacts bucket (embeddings/dt=YYYY-MM-DD/<id>.npz).
    shard_key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    #: Reports in the shard, and how many of them triage left in the novelty pool.
    reports: int = Field(ge=0)
    novelty_pool_reports: int = Field(ge=0)
    written_at: datetime


# --- Signal (triage → strategist queues), schema version 1 -------------------------------------------
#
# The committed JSON Schema of this contract is schemas/signal.v1.json (see schemas/README.md for the
# versioning rule); tests/unit/test_signal_schema.py fails if the model and that file drift apart.

SIGNAL_SCHEMA_VERSION: Literal["1"] = "1"
#: `$id` of the committed schema: a URN, because the schema is identified by name and version, not by
#: where it happens to be hosted.
SIGNAL_SCHEMA_ID = "urn:riskradar:schema:signal:v1"


def _require_time_zone(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone, e.g. 2024-05-01T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is a valid datetime, but not in UTC
        raise ValueError("is out of range") from None


#: A point in time with a time zone, normalised to UTC: a naive time on a queue is a bug upstream.
UtcDatetime = Annotated[datetime, AfterValidator(_require_time_zone)]


class Priority(StrEnum):
    """Which signal queue a report goes to; set by the triage score against its thresholds."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"


class SignalReason(_Strict):
    """One factor of the priority score, with the points it contributed."""

    factor: str = Field(description="Machine name of the factor, e.g. `distinct_reporters`.")
    # strict: a reason's points are integers; "5" or 5.0 is a producer bug, not something to coerce.
    points: Annotated[int, Field(strict=True)] = Field(
        description="Points this factor added to the score (negative when it lowered it), before the "
        "score was clamped to 0..100."
    )
    detail: str = Field(
        description="A sentence a strategist can read, e.g. "
        "'3 distinct reporters against this seller in the last 7 days'."
    )


class Signal(_Strict):
    """A triaged report, routed to the critical, high or normal signal queue (schema version 1).

    Carries no raw identifier and no report text: subject and reporter are pseudonymised upstream,
    and the reasons say why the report scored what it did.
    """

    schema_version: Literal["1"] = Field(
        default=SIGNAL_SCHEMA_VERSION, description="Version of this contract; a reader dispatches on it."
    )
    report_id: str = Field(description="Id of the report, as returned by the intake API.")
    business: str = Field(description="Business the report was filed against, e.g. `shop`.")
    priority: Priority = Field(description="Queue the signal was routed to, implied by `score`.")
    score: Annotated[int, Field(ge=0, le=100, strict=True)] = Field(
        description="Priority score, 0 (least urgent) to 100."
    )
    reasons: list[SignalReason] = Field(
        description="Every factor that moved the score, largest absolute contribution first."
    )
    theme_id: str | None = Field(default=None, description="Stable id of the theme the report joined.")
    theme_label: str | None = Field(default=None, description="Readable label of that theme.")
    subject_type: SubjectType | None = Field(
        default=None, description="Kind of subject reported, when the report names one."
    )
    subject_hash: str | None = Field(
        default=None, description="Keyed pseudonym (HMAC) of the subject id; never the raw id."
    )
    reporter_role: ReporterRole = Field(description="Role of the reporter (user, seller or creator).")
    amount: Amount | None = Field(default=None, description="Money at risk, as the reporter stated it.")
    created_at: UtcDatetime = Field(description="When the report was filed (ISO 8601 with a time zone).")
    triaged_at: UtcDatetime = Field(description="When triage scored and routed it.")


def signal_json_schema() -> dict[str, Any]:
    """The JSON Schema document (draft 2020-12) of `Signal`, as committed in schemas/signal.v1.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SIGNAL_SCHEMA_ID,
        **Signal.model_json_schema(),
    }


THEME_ALERT_SCHEMA_VERSION: Literal["1"] = "1"


class ThemeAlert(_Strict):
    """An emerging-theme alert (alerts queue, schema version 1): a theme whose current rate is
    improbable under its own baseline share of the overall volume."""

    schema_version: Literal["1"] = THEME_ALERT_SCHEMA_VERSION
    alert_id: str
    #: "batch": found by a scheduled recluster run; "online": by novelty detection between runs.
    source: Literal["batch", "online"]
    theme_id: str
    theme_label: str
    keywords: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    #: Surprise in nats (-ln P(X >= observed)) of the theme's recent count.
    surprise: float
    observed: int = Field(ge=0)
    expected: float = Field(ge=0)
    #: Reports in the theme over the whole window.
    size: int = Field(ge=0)
    snapshot_version: int = Field(ge=0)
    detected_at: UtcDatetime
    #: Batch alerts: the provisional ids (`new-…`) under which online alerts announced this theme
    #: before a recluster run found it, oldest first (empty when it was not caught online first).
    provisional_theme_ids: list[str] = Field(default_factory=list)
