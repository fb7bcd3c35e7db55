"""Small helpers shared by test modules (observing AWS state, never replacing our own code)."""

from __future__ import annotations

import json
from typing import Any

from riskradar.local import LocalStack


def drain(stack: LocalStack, logical_id: str) -> list[dict[str, Any]]:
    """Receive and delete every message on a queue; return the parsed bodies in arrival order."""
    sqs = stack.client("sqs")
    url = stack.physical_id(logical_id)
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(
            json.loads(m["Body"]) | {"_attributes": m.get("MessageAttributes", {})} for m in messages
        )
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
