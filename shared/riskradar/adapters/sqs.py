"""SQS adapter: send JSON messages to one queue."""

from __future__ import annotations

from typing import Any


class SqsQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    @property
    def url(self) -> str:
        return self._queue_url

    def send(self, body: str, *, attributes: dict[str, str] | None = None) -> str:
        """Send one message; return its SQS message id."""
        message_attributes = {
            name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
        }
        response = self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=body, MessageAttributes=message_attributes
        )
        return str(response["MessageId"])
