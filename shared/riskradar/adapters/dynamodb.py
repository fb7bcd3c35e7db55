"""DynamoDB adapters used by triage: the report store and the two sliding-window counters.

Every method works on a whole batch (BatchGetItem / BatchWriteItem, one query per distinct key),
because per-report round trips would cost more than embedding the batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

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


class SubjectReporterCounter:
    """Distinct reporters against each subject within a sliding window.

    One item per (subject, reporter) holding that reporter's latest report time; DynamoDB TTL
    removes items once they fall out of the window, so the table stays the size of the window.
    """

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._table = dynamodb.Table(table_name)

    def record_and_count(self, reports: Sequence[SubjectReport], *, window: timedelta) -> dict[str, int]:
        """Record the batch's reports, then count each subject's distinct reporters in the window
        ending at that subject's latest report in the batch."""
        latest: dict[tuple[str, str], datetime] = {}
        for report in reports:
            key = (report.subject_hash, report.reporter_hash)
            latest[key] = max(latest.get(key, report.created_at), report.created_at)
        with self._table.batch_writer(overwrite_by_pkeys=["subject_hash", "reporter_hash"]) as writer:
            for (subject_hash, reporter_hash), created_at in latest.items():
                writer.put_item(
                    Item={
                        "subject_hash": subject_hash,
                        "reporter_hash": reporter_hash,
                        "last_reported_at": int(created_at.timestamp()),
                        "expires_at": int((created_at + window).timestamp()),
                    }
                )
        window_end: dict[str, datetime] = {}
        for (subject_hash, _), created_at in latest.items():
            window_end[subject_hash] = max(window_end.get(subject_hash, created_at), created_at)
        return {
            subject_hash: self._count(subject_hash, since=int((end - window).timestamp()))
            for subject_hash, end in window_end.items()
        }

    def _count(self, subject_hash: str, *, since: int) -> int:
        count = 0
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("subject_hash").eq(subject_hash),
            "FilterExpression": Attr("last_reported_at").gte(since),
            "Select": "COUNT",
        }
        while True:
            response = self._table.query(**query)
            count += int(response["Count"])
            if "LastEvaluatedKey" not in response:
                return count
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


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
