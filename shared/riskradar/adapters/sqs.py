"""SQS adapter: send JSON messages to one queue (standard or FIFO)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: SendMessageBatch takes at most ten entries.
_SEND_BATCH_LIMIT = 10


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
        deduplication_ids: Sequence[str] | None = None,
    ) -> list[str | None]:
        """Send many messages, ten per request (SQS's limit), in order. Returns each body's message
        id, or None where SQS refused that entry — the caller decides what a failed entry means.

        On a FIFO queue every message goes to `group_id`, with its entry of `deduplication_ids`;
        SQS keeps the order of the entries within a request and of the requests, which are sent one
        after the other."""
        if deduplication_ids is not None and len(deduplication_ids) != len(bodies):
            raise ValueError(f"{len(bodies)} bodies but {len(deduplication_ids)} deduplication ids")
        message_ids: list[str | None] = [None] * len(bodies)
        for start in range(0, len(bodies), _SEND_BATCH_LIMIT):
            entries = []
            for index in range(start, min(start + _SEND_BATCH_LIMIT, len(bodies))):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": bodies[index]}
                if attributes is not None:
                    entry["MessageAttributes"] = _message_attributes(attributes[index])
                entry |= _fifo_parameters(
                    group_id, deduplication_ids[index] if deduplication_ids is not None else None
                )
                entries.append(entry)
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for sent in response.get("Successful", []):
                message_ids[int(sent["Id"])] = str(sent["MessageId"])
        return message_ids


def _message_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}


def _fifo_parameters(group_id: str | None, deduplication_id: str | None) -> dict[str, str]:
    parameters: dict[str, str] = {}
    if group_id is not None:
        parameters["MessageGroupId"] = group_id
    if deduplication_id is not None:
        parameters["MessageDeduplicationId"] = deduplication_id
    return parameters
