"""SQS and CloudFormation access for operating a stack's queues (`riskradar dlq`): which queues a
stack has and how they are wired, and receiving, releasing, sending and deleting messages."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskradar.adapters.sqs import RedrivePolicy

_QUEUE = "AWS::SQS::Queue"
#: ReceiveMessage and the *Batch calls take at most ten messages.
_BATCH = 10


@dataclass(frozen=True)
class QueueInfo:
    logical_id: str
    url: str
    arn: str
    fifo: bool
    redrive: RedrivePolicy | None


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    #: String message attributes.
    attributes: Mapping[str, str]
    #: SQS's own attributes (ApproximateReceiveCount, SentTimestamp, MessageGroupId ...).
    system: Mapping[str, str] = field(default_factory=dict)


class StackQueues:
    """The SQS queues of a CloudFormation stack (deployed by SAM, or by the local stack into moto)."""

    def __init__(self, cloudformation: Any, sqs: Any) -> None:
        self._cloudformation = cloudformation
        self._sqs = sqs

    def queues(self, stack_name: str) -> list[QueueInfo]:
        found = []
        paginator = self._cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=stack_name):
            for row in page["StackResourceSummaries"]:
                if row.get("ResourceType") != _QUEUE or not row.get("PhysicalResourceId"):
                    continue
                url = str(row["PhysicalResourceId"])
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy", "FifoQueue"]
                )["Attributes"]
                policy = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None
                found.append(
                    QueueInfo(
                        logical_id=str(row["LogicalResourceId"]),
                        url=url,
                        arn=str(attributes["QueueArn"]),
                        fifo=attributes.get("FifoQueue") == "true",
                        redrive=RedrivePolicy(
                            str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])
                        )
                        if policy
                        else None,
                    )
                )
        return found


class QueueAdmin:
    """Message-level operations on any queue."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def depth(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def receive(self, queue_url: str, *, max_messages: int, visibility_s: int) -> list[ReceivedMessage]:
        """Up to `max_messages` (at most 10) messages, invisible to others for `visibility_s` seconds."""
        response = self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(_BATCH, max_messages)),
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        return [
            ReceivedMessage(
                message_id=str(message["MessageId"]),
                receipt_handle=str(message["ReceiptHandle"]),
                body=str(message["Body"]),
                attributes={
                    name: str(value["StringValue"])
                    for name, value in message.get("MessageAttributes", {}).items()
                    if "StringValue" in value
                },
                system={name: str(value) for name, value in message.get("Attributes", {}).items()},
            )
            for message in response.get("Messages", [])
        ]

    def release(self, queue_url: str, receipt_handles: Sequence[str]) -> None:
        """Make received messages visible again at once."""
        for start in range(0, len(receipt_handles), _BATCH):
            chunk = receipt_handles[start : start + _BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(chunk)
                ],
            )

    def send(
        self,
        queue_url: str,
        body: str,
        *,
        attributes: Mapping[str, str],
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        request: dict[str, Any] = {
            "QueueUrl": queue_url,
            "MessageBody": body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        }
        if group_id is not None:
            request["MessageGroupId"] = group_id
        if deduplication_id is not None:
            request["MessageDeduplicationId"] = deduplication_id
        return str(self._sqs.send_message(**request)["MessageId"])

    def delete(self, queue_url: str, receipt_handle: str) -> None:
        self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)
