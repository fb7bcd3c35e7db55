"""DynamoDB adapter of the strategist side: theme curation, interventions and the audit trail.

Every strategist action is written in **one DynamoDB transaction with its audit entry**: both are
stored or neither is — no action without its audit entry, no audit entry for an action that did
not happen. A curation record is written on the condition that it is still at the revision the
action read (no lost update between two strategists); an audit entry on the condition that its key
is new. The functions' IAM policies grant PutItem and Query on the audit table and nothing that
could change or delete an entry, so "append-only" holds for the code and for the credentials.

Records are stored as their JSON document (`doc`) beside the key attributes that queries need, so
the tables never have to follow the models' shape (and no float has to become a Decimal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from botocore.exceptions import ClientError

from riskradar.strategist.models import AuditEntry, Intervention, ThemeCuration

#: Partition of the audit table: strategist actions are few (people, not machines), so one ordered
#: partition is both enough and what makes "the latest entries" a single query.
AUDIT_STREAM: Final = "strategist"
#: Global secondary index of the interventions table: interventions by theme, by start.
INTERVENTIONS_BY_THEME: Final = "by-theme"


class ConcurrentChange(Exception):
    """A record changed between reading it and writing the action (or the audit key exists)."""


class StrategistStore:
    def __init__(
        self, client: Any, *, curation_table: str, interventions_table: str, audit_table: str | None
    ) -> None:
        self._client = client
        self._curation = curation_table
        self._interventions = interventions_table
        self._audit = audit_table

    @classmethod
    def reader(cls, client: Any, *, curation_table: str, interventions_table: str) -> StrategistStore:
        """For jobs that read the strategist's records (curation, interventions) and never act:
        no audit table, so any write fails before it reaches DynamoDB."""
        return cls(
            client, curation_table=curation_table, interventions_table=interventions_table, audit_table=None
        )

    def _audit_table(self) -> str:
        if self._audit is None:
            raise PermissionError("this store reads the strategist's records and cannot write actions")
        return self._audit

    # ------------------------------------------------------------------ curation

    def curation(self, theme_id: str) -> ThemeCuration | None:
        item = self._client.get_item(
            TableName=self._curation, Key={"theme_id": {"S": theme_id}}, ConsistentRead=True
        ).get("Item")
        return ThemeCuration.model_validate_json(item["doc"]["S"]) if item else None

    def all_curation(self) -> dict[str, ThemeCuration]:
        """Every theme's curation record (a strategist-sized table: a scan is fine)."""
        records: dict[str, ThemeCuration] = {}
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._curation, ConsistentRead=True
        ):
            for item in page.get("Items", []):
                record = ThemeCuration.model_validate_json(item["doc"]["S"])
                records[record.theme_id] = record
        return records

    def save_curation(self, records: Sequence[ThemeCuration], audit: AuditEntry) -> None:
        """Write these curation records (each at its new revision, on the condition that the table
        still holds the one before) and the audit entry, atomically."""
        self._transact([*(self._curation_put(record) for record in records), self._audit_put(audit)])

    def _curation_put(self, record: ThemeCuration) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._curation,
            "Item": {
                "theme_id": {"S": record.theme_id},
                "revision": {"N": str(record.revision)},
                "doc": {"S": record.model_dump_json()},
            },
        }
        if record.revision == 1:
            put["ConditionExpression"] = "attribute_not_exists(theme_id)"
        else:
            put["ConditionExpression"] = "revision = :previous"
            put["ExpressionAttributeValues"] = {":previous": {"N": str(record.revision - 1)}}
        return {"Put": put}

    # ------------------------------------------------------------------ interventions

    def intervention(self, intervention_id: str) -> Intervention | None:
        item = self._client.get_item(
            TableName=self._interventions,
            Key={"intervention_id": {"S": intervention_id}},
            ConsistentRead=True,
        ).get("Item")
        return Intervention.model_validate_json(item["doc"]["S"]) if item else None

    def interventions(self, *, theme_id: str | None = None) -> list[Intervention]:
        """Interventions on one theme (by start), or all of them."""
        if theme_id is None:
            pages = self._client.get_paginator("scan").paginate(TableName=self._interventions)
        else:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._interventions,
                IndexName=INTERVENTIONS_BY_THEME,
                KeyConditionExpression="theme_id = :theme",
                ExpressionAttributeValues={":theme": {"S": theme_id}},
            )
        found = [
            Intervention.model_validate_json(item["doc"]["S"]) for page in pages for item in page["Items"]
        ]
        return sorted(found, key=lambda intervention: (intervention.start, intervention.intervention_id))

    def add_intervention(self, intervention: Intervention, audit: AuditEntry) -> None:
        put = {
            "Put": {
                "TableName": self._interventions,
                "Item": {
                    "intervention_id": {"S": intervention.intervention_id},
                    "theme_id": {"S": intervention.theme_id},
                    "start": {"S": intervention.start.isoformat()},
                    "doc": {"S": intervention.model_dump_json()},
                },
                "ConditionExpression": "attribute_not_exists(intervention_id)",
            }
        }
        self._transact([put, self._audit_put(audit)])

    # ------------------------------------------------------------------ audit

    def audit_entries(
        self, *, limit: int = 50, before: str | None = None, target_id: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """The latest audit entries first (at most `limit`), older than the cursor `before`, of one
        target or all. Returns the entries and the cursor of the next page (None at the end)."""
        query: dict[str, Any] = {
            "TableName": self._audit_table(),
            "KeyConditionExpression": "stream = :stream",
            "ExpressionAttributeValues": {":stream": {"S": AUDIT_STREAM}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if target_id is not None:
            query["FilterExpression"] = "target_id = :target OR contains(also_changed, :target)"
            query["ExpressionAttributeValues"][":target"] = {"S": target_id}
        if before is not None:
            query["ExclusiveStartKey"] = {"stream": {"S": AUDIT_STREAM}, "at_id": {"S": before}}
        entries: list[AuditEntry] = []
        last_key: str | None = None
        while True:
            # A filter applies after Limit: ask for what is missing and go on until it is found.
            response = self._client.query(**query, Limit=max(limit - len(entries), 1))
            for item in response.get("Items", []):
                entries.append(AuditEntry.model_validate_json(item["doc"]["S"]))
                last_key = item["at_id"]["S"]
                if len(entries) == limit:
                    return entries, last_key
            if "LastEvaluatedKey" not in response:
                return entries, None
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _audit_put(self, entry: AuditEntry) -> dict[str, Any]:
        item: dict[str, Any] = {
            "stream": {"S": AUDIT_STREAM},
            "at_id": {"S": audit_key(entry)},
            "target_id": {"S": entry.target_id},
            "doc": {"S": entry.model_dump_json()},
        }
        if entry.also_changed:  # a list, for contains() in the filter of audit_entries
            item["also_changed"] = {"L": [{"S": theme_id} for theme_id in entry.also_changed]}
        return {
            "Put": {
                "TableName": self._audit_table(),
                "Item": item,
                "ConditionExpression": "attribute_not_exists(at_id)",
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise ConcurrentChange("the record changed since it was read; reload and retry") from None
            raise


def audit_key(entry: AuditEntry) -> str:
    """Sort key of an entry: its UTC time (ISO, microseconds: sorts as text) and its id."""
    return f"{entry.at.isoformat(timespec='microseconds')}#{entry.audit_id}"
