"""DynamoDB adapters used by triage: the report store and the two sliding-window counters.

Every method works on a whole batch (BatchGetItem, BatchWriteItem, TransactWriteItems, one update per
distinct key), because per-report round trips would cost more than embedding the batch.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

#: Attributes only a pending item has.
_PENDING_ONLY = frozenset(
    {"signal_state", "signal_pending_since", "signal_body", "pending_record", "pending"}
)
#: zlib level of a pending item: the best ratio costs ~0.1 ms a record, far below a write.
_PENDING_COMPRESSION = 9
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
#: BatchGetItem's limit per request.
_BATCH_GET_LIMIT = 100
#: Calls of one batch made at once (subject and theme-hour counters): each is a round trip of its
#: own, and a batch of 100 reports needs dozens; the low-level client is thread-safe and keeps 10
#: connections.
_CONCURRENT_CALLS = 8
_UNPROCESSED_RETRIES = 8
#: TransactWriteItems' limit on actions per request.
_TRANSACTION_LIMIT = 100
#: Times a transaction goes again for actions DynamoDB found in another transaction.
_CONFLICT_RETRIES = 3
#: A cancelled transaction's reasons: the action's condition was not met / the item was in another
#: transaction.
_REFUSED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"


def _each_concurrently(call: Callable[[_Item], _Result], items: Iterable[_Item]) -> list[_Result]:
    """`call` on every item, up to _CONCURRENT_CALLS at a time; the results in the items' order."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(_CONCURRENT_CALLS, len(items))) as pool:
        return list(pool.map(call, items))


def _cancellation_reasons(error: ClientError, actions: int) -> list[str | None]:
    """The code of each action of a cancelled transaction (None: it would have succeeded); the
    error itself, re-raised, if it is not a cancellation that names a reason for every action."""
    response = error.response
    reasons = response.get("CancellationReasons") or []
    if response.get("Error", {}).get("Code") != "TransactionCanceledException" or len(reasons) != actions:
        raise error
    codes = [None if reason.get("Code") in (None, "None") else str(reason["Code"]) for reason in reasons]
    # Throttling, a validation error, a capacity limit: not a question of who owns the report.
    if any(code not in (None, _REFUSED, _CONFLICT) for code in codes) or not any(codes):
        raise error
    return codes


def _condition_failed(error: ClientError) -> bool:
    """A write refused by its condition, told by the error's code, not its class: botocore builds a
    client's error classes on first use without a lock, so threads that meet their first errors at
    once (a new container's first batch of conditional writes) can each build and raise a class of
    their own, which another thread's `except client.exceptions.X` does not catch."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class SignalState(StrEnum):
    """Where a stored report's signal is (the record's `signal_state`)."""

    #: The record was written before its signal was sent; whether SQS accepted the signal is not
    #: known yet. The item holds `signal_pending_since`, and the record and the signal, compressed
    #: together in one attribute (`pending`; see ReportStore.claim_pending).
    PENDING = "pending"
    #: SQS accepted the signal (`signal_message_id`): the report is triaged.
    SENT = "sent"


@dataclass(frozen=True)
class PendingRecord:
    """A report's record as it is stored before its signal is sent."""

    #: The record as it is stored once the signal is sent (report_id included).
    record: Mapping[str, Any]
    #: The signal's message body, resent byte for byte if the first send's outcome is unknown.
    signal_body: str
    #: When the signal was first about to be sent.
    pending_since: datetime

    @property
    def report_id(self) -> str:
        return str(self.record["report_id"])


@dataclass(frozen=True)
class RecordState:
    signal: SignalState
    #: When the first send whose outcome is unknown was attempted (PENDING only).
    pending_since: datetime | None = None
    #: The stored report's content digest (riskradar.triage.content_digest); None: stored before
    #: records kept one.
    content_digest: str | None = None


def _pending_item(item: PendingRecord) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "report_id": item.report_id,
        "signal_state": str(SignalState.PENDING),
        "signal_pending_since": item.pending_since.isoformat(),
        "pending": _pack_pending(item),
    }
    if "content_digest" in item.record:
        stored["content_digest"] = item.record["content_digest"]
    # Top level, where DynamoDB's TTL reads it: a record left pending (its report dead-lettered as
    # "signal outcome unknown" and never redriven) expires as a sent one does.
    if "expires_at" in item.record:
        stored["expires_at"] = item.record["expires_at"]
    return stored


def _pack_pending(item: PendingRecord) -> bytes:
    """The record (DynamoDB JSON, so numbers keep their exact Decimal value) and the signal, as one
    compressed attribute. Written in one transaction with its batch, each pending item costs two
    write units per KB: compressed, a Banking77 report's is ~0.7 KB instead of ~1.6 KB (DynamoDB
    JSON's type tags repeat), so it costs 2 units, as a plain put of the uncompressed item did."""
    packed = {"record": _SERIALIZER.serialize(dict(item.record))["M"], "signal": item.signal_body}
    return zlib.compress(json.dumps(packed, separators=(",", ":")).encode(), _PENDING_COMPRESSION)


def _unpack_pending(item: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """(record, signal body) of a stored pending item, whichever version of triage wrote it."""
    if "pending" in item:
        packed = json.loads(zlib.decompress(bytes(item["pending"])))
        return _DESERIALIZER.deserialize({"M": packed["record"]}), str(packed["signal"])
    signal_body = str(item["signal_body"])
    if "pending_record" in item:  # written before the two were one compressed attribute
        return _DESERIALIZER.deserialize({"M": json.loads(str(item["pending_record"]))}), signal_body
    # Written before records were pending compactly: the record's own attributes.
    return {key: value for key, value in item.items() if key not in _PENDING_ONLY}, signal_body


class ReportStore:
    """The reports table: one item per triaged report, keyed by report_id."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._dynamodb = dynamodb
        self._table = dynamodb.Table(table_name)
        self._table_name = table_name

    def states(self, report_ids: Iterable[str]) -> dict[str, RecordState]:
        """The signal state of each of these reports that has a record (absent: never triaged).
        Records written before records had a state are SENT: they were written after the send."""
        items = self._batch_get(
            report_ids,
            projection="report_id, signal_state, signal_pending_since, content_digest",
        )
        states = {}
        for item in items:
            state = SignalState(item.get("signal_state", SignalState.SENT))
            since = item.get("signal_pending_since")
            digest = item.get("content_digest")
            states[str(item["report_id"])] = RecordState(
                state,
                datetime.fromisoformat(str(since)) if state is SignalState.PENDING and since else None,
                str(digest) if digest is not None else None,
            )
        return states

    def existing(self, report_ids: Iterable[str]) -> set[str]:
        """Which of these reports are triaged (their signal was sent)."""
        return {rid for rid, state in self.states(report_ids).items() if state.signal is SignalState.SENT}

    def get_many(self, report_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The whole records of these reports (those that exist)."""
        return {str(item["report_id"]): item for item in self._batch_get(report_ids, projection=None)}

    def _batch_get(self, report_ids: Iterable[str], *, projection: str | None) -> list[dict[str, Any]]:
        wanted = list(dict.fromkeys(report_ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            keys: dict[str, Any] = {
                "Keys": [{"report_id": rid} for rid in wanted[start : start + _BATCH_GET_LIMIT]]
            }
            if projection is not None:
                keys["ProjectionExpression"] = projection
            request: dict[str, Any] = {self._table_name: keys}
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._dynamodb.batch_get_item(RequestItems=request)
                found.extend(response["Responses"].get(self._table_name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)  # DynamoDB asks us to back off
            else:
                raise RuntimeError(
                    f"{self._table_name}: keys still unprocessed after {_UNPROCESSED_RETRIES} tries"
                )
        return found

    def claim_pending(self, pending: Sequence[PendingRecord]) -> set[str]:
        """Store these records *pending*, before their signals are sent, each only if its report
        has no record yet; return the report ids another invocation holds a record of.

        Two invocations can triage one report at once (a standard queue's duplicate delivery in
        another batch) and reach different priorities: both signals would go out, to two queues
        that cannot deduplicate each other. The conditional put makes one of them the owner.
        BatchWriteItem takes no condition, so a batch's puts go in one transaction (up to 100
        actions): one request instead of a PutItem per report, which was most of a batch's AWS calls
        and, on AWS, a dozen round trips one after another even 8 at a time. A transaction costs
        twice the write units of plain puts (see "Cost" in the README). It is all or nothing, so a
        report already claimed cancels it; DynamoDB says which actions were refused, and the
        transaction goes again without them.

        The record and the signal go in compressed, as one attribute (`pending`, see _pack_pending);
        the record is written in full, as attributes, once the signal is sent. Storing ~20
        attributes, some nested, twice per report was the largest cost of a triage batch after the
        embedding (benchmarks/triage_throughput.py)."""
        # One record per report (the last given): a report named twice, in two transactions, would
        # be claimed by the first and found taken by the second, as if another invocation held it.
        unique = list({item.report_id: item for item in pending}.values())
        taken: set[str] = set()
        for start in range(0, len(unique), _TRANSACTION_LIMIT):
            taken |= self._claim_in_one_transaction(unique[start : start + _TRANSACTION_LIMIT])
        return taken

    def _claim_in_one_transaction(self, pending: Sequence[PendingRecord]) -> set[str]:
        """Claim the records in one transaction, tried again without those DynamoDB refused (their
        report has a record) and, after _CONFLICT_RETRIES, without those it still found in another
        transaction (another invocation is claiming that report now). Returns the refused ones."""
        client = self._dynamodb.meta.client  # converts plain values to DynamoDB's types itself
        # Built once (each is serialised and compressed), whatever passes the transaction needs.
        # The caller gives one record per report: a transaction may not name an item twice.
        remaining = {
            item.report_id: {
                "Put": {
                    "TableName": self._table.name,
                    "Item": _pending_item(item),
                    "ConditionExpression": "attribute_not_exists(report_id)",
                }
            }
            for item in pending
        }
        taken: set[str] = set()
        conflicts = 0
        while remaining:
            try:
                client.transact_write_items(TransactItems=list(remaining.values()))
                return taken
            except ClientError as error:
                reasons = _cancellation_reasons(error, len(remaining))
            codes = dict(zip(remaining, reasons, strict=True))
            taken |= {report_id for report_id, code in codes.items() if code == _REFUSED}
            in_conflict = {report_id for report_id, code in codes.items() if code == _CONFLICT}
            if in_conflict and conflicts == _CONFLICT_RETRIES:
                taken |= in_conflict  # still being claimed elsewhere: theirs, or ours on a retry
            elif in_conflict:
                time.sleep(0.05 * 2**conflicts)
                conflicts += 1
            # Each pass drops a refused action or counts a conflict: the loop ends.
            remaining = {report_id: put for report_id, put in remaining.items() if report_id not in taken}
        return taken

    def pending(self, report_ids: Iterable[str]) -> dict[str, PendingRecord]:
        """The pending records of these reports (those whose signal is still pending)."""
        found = {}
        for item in self._batch_get(report_ids, projection=None):
            if item.get("signal_state") != SignalState.PENDING:
                continue
            if "pending" not in item and "signal_body" not in item:
                continue
            record, signal_body = _unpack_pending(item)
            found[str(item["report_id"])] = PendingRecord(
                record, signal_body, datetime.fromisoformat(str(item["signal_pending_since"]))
            )
        return found

    def put_many(self, items: Sequence[Mapping[str, Any]]) -> None:
        # batch_writer retries unprocessed items itself; a put of the same key is idempotent.
        with self._table.batch_writer(overwrite_by_pkeys=["report_id"]) as writer:
            for item in items:
                writer.put_item(Item=dict(item))

    def delete_many(self, report_ids: Iterable[str]) -> None:
        with self._table.batch_writer(overwrite_by_pkeys=["report_id"]) as writer:
            for report_id in dict.fromkeys(report_ids):
                writer.delete_item(Key={"report_id": report_id})

    def get(self, report_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={"report_id": report_id}).get("Item")
        return item


@dataclass(frozen=True)
class SubjectReport:
    subject_hash: str
    reporter_hash: str
    created_at: datetime


#: Expired reporters are pruned from a subject's item once there are this many of them.
_PRUNE_EXPIRED_AT = 50
#: Reporters kept per subject, the most recent: a subject reported by thousands would outgrow
#: DynamoDB's 400 KB item (~9,000 reporters) and fail every batch naming it. The score saturates at
#: 8 reporters, so a count that stops near this many changes nothing but the number shown.
MAX_REPORTERS_KEPT = 1_000
_PRUNE_PER_CALL = 400
#: Prefix of the attribute that holds one reporter's latest report time (`r_<reporter pseudonym>`).
_REPORTER_ATTRIBUTE = "r_"


class SubjectReporterCounter:
    """Distinct reporters against each subject within a sliding window.

    One item per subject, one attribute per reporter (`r_<pseudonym>` = that reporter's latest
    report time), so a batch costs **one** UpdateItem per distinct subject — the same `SET` creates
    the item or extends it, and returns it whole to count from — instead of a write per report plus
    a query (a map of reporters would need a second and third call to create it). The subjects of a
    batch are recorded concurrently: on AWS each call is a network round trip, and one after another
    they took longer than embedding the batch. Reporters that fell out of the window are pruned now
    and then; DynamoDB TTL removes the whole item once the subject has been quiet for a window.
    """

    def __init__(
        self, dynamodb: Any, table_name: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        # The resource's client, not a Table: clients are thread-safe, resources are not (and this
        # client keeps the resource's conversion of plain Python values to DynamoDB's types).
        self._client = dynamodb.meta.client
        self._table_name = table_name
        self._clock = clock

    def record_and_count(self, reports: Sequence[SubjectReport], *, window: timedelta) -> dict[str, int]:
        """Record the batch's reports, then count each subject's distinct reporters in the window
        ending at that subject's latest report in the batch."""
        latest: dict[str, dict[str, int]] = {}
        for report in reports:
            reporters = latest.setdefault(report.subject_hash, {})
            stamp = int(report.created_at.timestamp())
            reporters[report.reporter_hash] = max(reporters.get(report.reporter_hash, stamp), stamp)
        if not latest:
            return {}
        window_s = int(window.total_seconds())
        # The item lives a window past now whatever the reports' own times: a backdated report (a
        # redrive, a late filing) must not expire the subject's recent reporters with it.
        now = int(self._clock().timestamp())
        counted = _each_concurrently(
            lambda item: self._record_and_count(item[0], item[1], window_s, now), latest.items()
        )
        return dict(zip(latest, counted, strict=True))

    def _record_and_count(
        self, subject_hash: str, reporters: Mapping[str, int], window_s: int, now: int
    ) -> int:
        window_end = max(reporters.values())
        stamps = self._record(subject_hash, reporters, expires_at=max(window_end, now) + window_s)
        since = window_end - window_s
        expired = [reporter for reporter, stamp in stamps.items() if stamp < since]
        drop = expired[:_PRUNE_EXPIRED_AT] if len(expired) >= _PRUNE_EXPIRED_AT else []
        if len(stamps) - len(drop) > MAX_REPORTERS_KEPT:
            kept = set(sorted(stamps, key=lambda reporter: stamps[reporter])[-MAX_REPORTERS_KEPT:])
            drop = [reporter for reporter in stamps if reporter not in kept]
        if drop:
            self._prune(subject_hash, drop)
        return sum(1 for stamp in stamps.values() if stamp >= since)

    def _record(self, subject_hash: str, reporters: Mapping[str, int], *, expires_at: int) -> dict[str, int]:
        """Set each reporter's latest time; every reporter of the subject with its time."""
        names = {f"#r{i}": _REPORTER_ATTRIBUTE + reporter for i, reporter in enumerate(reporters)}
        values = {f":t{i}": stamp for i, stamp in enumerate(reporters.values())}
        response = self._client.update_item(
            TableName=self._table_name,
            Key={"subject_hash": subject_hash},
            UpdateExpression="SET "
            + ", ".join(f"{name} = :t{i}" for i, name in enumerate(names))
            + ", expires_at = :expires_at",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":expires_at": expires_at},
            ReturnValues="ALL_NEW",
        )
        return {
            name.removeprefix(_REPORTER_ATTRIBUTE): int(value)
            for name, value in response["Attributes"].items()
            if name.startswith(_REPORTER_ATTRIBUTE)
        }

    def _prune(self, subject_hash: str, reporters: Sequence[str]) -> None:
        # An update expression may hold 4 KB: a few hundred "#rN" names a call.
        for start in range(0, len(reporters), _PRUNE_PER_CALL):
            chunk = reporters[start : start + _PRUNE_PER_CALL]
            names = {f"#r{i}": _REPORTER_ATTRIBUTE + reporter for i, reporter in enumerate(chunk)}
            self._client.update_item(
                TableName=self._table_name,
                Key={"subject_hash": subject_hash},
                UpdateExpression="REMOVE " + ", ".join(names),
                ExpressionAttributeNames=names,
            )


#: Report fingerprints kept per theme-hour; beyond them reports are counted without a fingerprint
#: (about 9 bytes each in a number set: far below DynamoDB's 400 KB item limit, far above any
#: velocity that still changes a score).
_FINGERPRINTS_PER_BUCKET = 20_000


def report_fingerprint(report_id: str) -> int:
    """48 bits of a report id: what a theme-hour bucket remembers of each report it counted."""
    return int.from_bytes(hashlib.blake2b(report_id.encode(), digest_size=6).digest(), "big")


class ThemeActivityCounter:
    """Reports per theme per hour (by report time), for theme velocity.

    Idempotent per report: each bucket holds the fingerprints of the reports it counted (a number
    set, to which DynamoDB's ADD adds each member once), and its count is the set's size. A triage
    batch that is retried after counting — a crash, a timeout, a throttled write further on — counts
    its reports again without inflating the velocity. Past `_FINGERPRINTS_PER_BUCKET` reports in
    one theme-hour the rest are added to a plain `overflow` count (not idempotent, and no longer
    able to move a capped score). A batch's buckets are counted concurrently: a batch of 100
    reports touches dozens of theme-hours, and one round trip after another they took longer on AWS
    than embedding the batch.
    """

    def __init__(self, dynamodb: Any, table_name: str, *, retention: timedelta = timedelta(days=35)) -> None:
        # The resource's client, not a Table: clients are thread-safe, resources are not.
        self._client = dynamodb.meta.client
        self._table_name = table_name
        self._retention = retention

    def add(self, members: Mapping[tuple[str, datetime], Sequence[str]]) -> dict[tuple[str, datetime], int]:
        """Count the report ids of `members`, keyed by (theme id, hour start); return each bucket's total."""
        totals = _each_concurrently(lambda bucket: self._add(*bucket), members.items())
        return dict(zip(members, totals, strict=True))

    def _add(self, bucket: tuple[str, datetime], report_ids: Sequence[str]) -> int:
        theme_id, hour = bucket
        key = {"theme_id": theme_id, "hour": hour.strftime("%Y-%m-%dT%H")}
        expires = int((hour + self._retention).timestamp())
        try:
            response = self._client.update_item(
                TableName=self._table_name,
                Key=key,
                UpdateExpression="ADD report_fingerprints :fingerprints SET expires_at = :expires",
                ConditionExpression=(
                    "attribute_not_exists(report_fingerprints) OR size(report_fingerprints) < :cap"
                ),
                ExpressionAttributeValues={
                    ":fingerprints": {report_fingerprint(rid) for rid in report_ids},
                    ":expires": expires,
                    ":cap": _FINGERPRINTS_PER_BUCKET,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            response = self._client.update_item(
                TableName=self._table_name,
                Key=key,
                UpdateExpression="ADD overflow :n SET expires_at = :expires",
                ExpressionAttributeValues={":n": len(set(report_ids)), ":expires": expires},
                ReturnValues="ALL_NEW",
            )
        item = response["Attributes"]
        return len(item.get("report_fingerprints", ())) + int(item.get("overflow", 0))
