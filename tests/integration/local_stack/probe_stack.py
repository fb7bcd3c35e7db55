"""The probe stack's handles for tests: the template, its secret, and what its handlers left in moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskradar.local import LocalStack

PROBE_TEMPLATE = Path(__file__).parent / "probe_app" / "template.yaml"
PROBE_SECRET = "probe-secret-value"
#: The template parameter that holds the JWT authorizers' issuer: the local stack sets it.
PROBE_ISSUER_PARAMETER = "ProbeIssuer"


@dataclass
class Probe:
    """The probe stack seen through moto: what the handlers left behind."""

    stack: LocalStack

    @property
    def work_queue_url(self) -> str:
        return self.stack.physical_id("WorkQueue")

    @property
    def dead_letter_queue_url(self) -> str:
        return self.stack.physical_id("WorkDeadLetterQueue")

    def send(self, *messages: dict[str, Any]) -> None:
        sqs = self.stack.client("sqs")
        for message in messages:
            sqs.send_message(QueueUrl=self.work_queue_url, MessageBody=json.dumps(message))

    def effect(self, key: str) -> dict[str, Any] | None:
        table = self.stack.physical_id("EffectsTable")
        item = self.stack.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")
        return None if item is None else {name: _plain(value) for name, value in item.items()}

    def calls(self, handler: str) -> int:
        """How many times the probe's authorized handler `handler` ran (e.g. "whoami")."""
        found = self.effect(f"calls#{handler}")
        return 0 if found is None else int(found["invocations"])

    def deliveries(self, message_id: str) -> int:
        found = self.effect(f"delivery#{message_id}")
        return 0 if found is None else int(found["deliveries"])

    def batches_with(self, message_ids: set[str]) -> list[list[str]]:
        """The batches (as lists of message ids) the worker saw that hold any of `message_ids`."""
        table = self.stack.physical_id("EffectsTable")
        items = self.stack.client("dynamodb").scan(TableName=table)["Items"]
        batches = [_plain(item["ids"]) for item in items if item["pk"]["S"].startswith("batch#")]
        return [batch for batch in batches if message_ids & set(batch)]

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Receive and delete every visible message; return their bodies."""
        sqs = self.stack.client("sqs")
        bodies: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            bodies += [json.loads(message["Body"]) for message in messages]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        return bodies


def _plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as plain Python."""
    kind, content = next(iter(value.items()))
    if kind == "N":
        return int(content)
    if kind == "L":
        return [_plain(member) for member in content]
    return content
