"""SQS adapter: send JSON messages to one queue."""

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

    def send(self, body: str, *, attributes: dict[str, str] | None = None) -> str:
        """Send one message; return its SQS message id."""
        response = self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes=_message_attributes(attributes or {}),
        )
        return str(response["MessageId"])

    def send_batch(
        self, bodies: Sequence[str], *, attributes: Sequence[dict[str, str]] | None = None
    ) -> list[str | None]:
        """Send many messages, ten per request (SQS's limit). Returns each body's message id, or
        None where SQS refused that entry — the caller decides what a failed entry means."""
        message_ids: list[str | None] = [None] * len(bodies)
        for start in range(0, len(bodies), _SEND_BATCH_LIMIT):
            entries = []
            for index in range(start, min(start + _SEND_BATCH_LIMIT, len(bodies))):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": bodies[index]}
                if attributes is not None:
                    entry["MessageAttributes"] = _message_attributes(attributes[index])
                entries.append(entry)
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for sent in response.get("Successful", []):
                message_ids[int(sent["Id"])] = str(sent["MessageId"])
        return message_ids


def _message_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
