"""DynamoDB adapters used by triage: the report store and the two sliding-window counters.

Every method works on a whole batch (BatchGetItem / BatchWriteItem, one update per distinct key),
because per-report round trips would cost more than embedding the batch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: BatchGetItem's limit per request.
_BATCH_GET_LIMIT = 100
_UNPROCESSED_RETRIES = 8


class ReportStore:
    """The reports table: one item per triaged report, keyed by report_id."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._dynamodb = dynamodb
        self._table = dynamodb.Table(table_name)
        self._table_name = table_name

    def existing(self, report_ids: Iterable[str]) -> set[str]:
        """Which of these reports are already stored (i.e. already triaged and signalled)."""
        wanted = list(dict.fromkeys(report_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table_name: {
                    "Keys": [{"report_id": rid} for rid in wanted[start : start + _BATCH_GET_LIMIT]],
                    "ProjectionExpression": "report_id",
                }
            }
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._dynamodb.batch_get_item(RequestItems=request)
                found.update(item["report_id"] for item in response["Responses"].get(self._table_name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)  # DynamoDB asks us to back off
            else:
                raise RuntimeError(
                    f"{self._table_name}: keys still unprocessed after {_UNPROCESSED_RETRIES} tries"
                )
        return found

    def put_many(self, items: Sequence[Mapping[str, Any]]) -> None:
        # batch_writer retries unprocessed items itself; a put of the same key is idempotent.
        with self._table.batch_writer(overwrite_by_pkeys=["report_id"]) as writer:
            for item in items:
                writer.put_item(Item=dict(item))

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


class SubjectReporterCounter:
    """Distinct reporters against each subject within a sliding window.

    One item per subject holding a map reporter → that reporter's latest report time, so a batch
    costs one UpdateItem per distinct subject (which returns the whole map to count from) instead
    of a write per report plus a query. Reporters that fell out of the window are pruned from the
    map now and then; DynamoDB TTL removes the whole item once the subject has been quiet for a
    window.
    """

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._table = dynamodb.Table(table_name)
        self._conditional_check_failed = dynamodb.meta.client.exceptions.ConditionalCheckFailedException

    def record_and_count(self, reports: Sequence[SubjectReport], *, window: timedelta) -> dict[str, int]:
        """Record the batch's reports, then count each subject's distinct reporters in the window
        ending at that subject's latest report in the batch."""
        latest: dict[str, dict[str, int]] = {}
        for report in reports:
            reporters = latest.setdefault(report.subject_hash, {})
            stamp = int(report.created_at.timestamp())
            reporters[report.reporter_hash] = max(reporters.get(report.reporter_hash, stamp), stamp)
        window_s = int(window.total_seconds())
        counts = {}
        for subject_hash, reporters in latest.items():
            window_end = max(reporters.values())
            stamps = self._record(subject_hash, reporters, expires_at=window_end + window_s)
            since = window_end - window_s
            counts[subject_hash] = sum(1 for stamp in stamps.values() if int(stamp) >= since)
            expired = [reporter for reporter, stamp in stamps.items() if int(stamp) < since]
            if len(expired) >= _PRUNE_EXPIRED_AT:
                self._prune(subject_hash, expired[:_PRUNE_EXPIRED_AT])
        return counts

    def _record(self, subject_hash: str, reporters: Mapping[str, int], *, expires_at: int) -> dict[str, Any]:
        names = {f"#r{i}": reporter for i, reporter in enumerate(reporters)}
        values: dict[str, Any] = {f":t{i}": stamp for i, stamp in enumerate(reporters.values())}
        assignments = ", ".join(f"reporters.#r{i} = :t{i}" for i in range(len(reporters)))
        update = {
            "Key": {"subject_hash": subject_hash},
            "UpdateExpression": f"SET {assignments}, expires_at = :expires_at",
            # A nested path can only be set inside an existing map: create the item first if needed.
            "ConditionExpression": "attribute_exists(reporters)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**values, ":expires_at": expires_at},
            "ReturnValues": "ALL_NEW",
        }
        try:
            response = self._table.update_item(**update)
        except self._conditional_check_failed:
            # If another invocation creates it in between, that item is just as good.
            with contextlib.suppress(self._conditional_check_failed):
                self._table.put_item(
                    Item={"subject_hash": subject_hash, "reporters": {}, "expires_at": expires_at},
                    ConditionExpression="attribute_not_exists(subject_hash)",
                )
            response = self._table.update_item(**update)
        stamps: dict[str, Any] = response["Attributes"]["reporters"]
        return stamps

    def _prune(self, subject_hash: str, reporters: Sequence[str]) -> None:
        names = {f"#r{i}": reporter for i, reporter in enumerate(reporters)}
        self._table.update_item(
            Key={"subject_hash": subject_hash},
            UpdateExpression="REMOVE " + ", ".join(f"reporters.{name}" for name in names),
            ExpressionAttributeNames=names,
        )


class ThemeActivityCounter:
    """Reports per theme per hour (by report time), for theme velocity."""

    def __init__(self, dynamodb: Any, table_name: str, *, retention: timedelta = timedelta(days=35)) -> None:
        self._table = dynamodb.Table(table_name)
        self._retention = retention

    def add(self, counts: Mapping[tuple[str, datetime], int]) -> dict[tuple[str, datetime], int]:
        """Add `counts` keyed by (theme id, hour start); return each bucket's new total."""
        totals = {}
        for (theme_id, hour), increment in counts.items():
            response = self._table.update_item(
                Key={"theme_id": theme_id, "hour": hour.strftime("%Y-%m-%dT%H")},
                UpdateExpression="ADD reports :n SET expires_at = :expires",
                ExpressionAttributeValues={
                    ":n": increment,
                    ":expires": int((hour + self._retention).timestamp()),
                },
                ReturnValues="UPDATED_NEW",
            )
            totals[(theme_id, hour)] = int(response["Attributes"]["reports"])
        return totals
