"""SQS adapter: send JSON messages to one queue (standard or FIFO), and what a consumer needs of
its source queue (redrive policy, visibility of failed messages)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

#: SendMessageBatch (and ChangeMessageVisibilityBatch) take at most ten entries.
_SEND_BATCH_LIMIT = 10


@dataclass(frozen=True)
class RedrivePolicy:
    """A queue's RedrivePolicy: after `max_receive_count` receives SQS moves a message to the DLQ."""

    dead_letter_target_arn: str
    max_receive_count: int


class SqsQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    @property
    def url(self) -> str:
        return self._queue_url

    def send(
        self,
        body: str,
        *,
        attributes: dict[str, str] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send one message; return its SQS message id. `group_id` and `deduplication_id` are the
        FIFO queue's MessageGroupId and MessageDeduplicationId (leave them out on a standard queue)."""
        request: dict[str, Any] = {
            "QueueUrl": self._queue_url,
            "MessageBody": body,
            "MessageAttributes": _message_attributes(attributes or {}),
        }
        request |= _fifo_parameters(group_id, deduplication_id)
        response = self._client.send_message(**request)
        return str(response["MessageId"])

    def send_batch(
        self,
        bodies: Sequence[str],
        *,
        attributes: Sequence[dict[str, str]] | None = None,
        group_id: str | None = None,
        group_ids: Sequence[str] | None = None,
        deduplication_ids: Sequence[str] | None = None,
    ) -> list[str | None]:
        """Send many messages, ten per request (SQS's limit), in order. Returns each body's message
        id, or None where SQS refused that entry — the caller decides what a failed entry means.

        On a FIFO queue every message goes to `group_id` (or to its entry of `group_ids`), with its
        entry of `deduplication_ids`; SQS keeps the order of the entries within a request and of the
        requests, which are sent one after the other."""
        for name, values in (("deduplication ids", deduplication_ids), ("group ids", group_ids)):
            if values is not None and len(values) != len(bodies):
                raise ValueError(f"{len(bodies)} bodies but {len(values)} {name}")
        if group_id is not None and group_ids is not None:
            raise ValueError("give group_id or group_ids, not both")
        message_ids: list[str | None] = [None] * len(bodies)
        for start in range(0, len(bodies), _SEND_BATCH_LIMIT):
            entries = []
            for index in range(start, min(start + _SEND_BATCH_LIMIT, len(bodies))):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": bodies[index]}
                if attributes is not None:
                    entry["MessageAttributes"] = _message_attributes(attributes[index])
                entry |= _fifo_parameters(
                    group_ids[index] if group_ids is not None else group_id,
                    deduplication_ids[index] if deduplication_ids is not None else None,
                )
                entries.append(entry)
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for sent in response.get("Successful", []):
                message_ids[int(sent["Id"])] = str(sent["MessageId"])
        return message_ids

    def redrive_policy(self) -> RedrivePolicy | None:
        """The queue's redrive policy (GetQueueAttributes), or None if it has none."""
        attributes = self._client.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        if "RedrivePolicy" not in attributes:
            return None
        policy = json.loads(attributes["RedrivePolicy"])
        return RedrivePolicy(str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"]))

    def change_visibility(self, receipt_handles: Sequence[str], *, timeout_s: int) -> int:
        """Make received messages visible again after `timeout_s` seconds; return how many SQS took."""
        changed = 0
        for start in range(0, len(receipt_handles), _SEND_BATCH_LIMIT):
            chunk = receipt_handles[start : start + _SEND_BATCH_LIMIT]
            response = self._client.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": timeout_s}
                    for i, handle in enumerate(chunk)
                ],
            )
            changed += len(response.get("Successful", []))
        return changed


@dataclass(frozen=True)
class SendFailure:
    """What a failed SQS request means for the messages in it."""

    #: SQS certainly did not take them (it answered 4xx: throttled, denied, invalid, no such queue).
    #: Otherwise (5xx, connection lost, timed out) it may have taken them.
    refused: bool
    summary: str


def send_failure(error: BaseException) -> SendFailure | None:
    """Read a failed send's exception (None: not an SQS/SDK error)."""
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
        code = error.response.get("Error", {}).get("Code", "")
        return SendFailure(status < 500, f"SQS answered {status} {code}".strip())
    if isinstance(error, BotoCoreError):
        return SendFailure(False, f"SQS request failed: {type(error).__name__}")
    return None


def _message_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}


def _fifo_parameters(group_id: str | None, deduplication_id: str | None) -> dict[str, str]:
    parameters: dict[str, str] = {}
    if group_id is not None:
        parameters["MessageGroupId"] = group_id
    if deduplication_id is not None:
        parameters["MessageDeduplicationId"] = deduplication_id
    return parameters
