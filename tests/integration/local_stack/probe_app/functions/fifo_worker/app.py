"""Probe FIFO worker: Powertools SqsFifoPartialProcessor with partial batch responses.

Records, in EffectsTable, every delivery of every message, the order in which messages were
processed (a counter), each batch with the FIFO attributes Lambda hands over, and — for a message
{"peek": true} — how many messages its own queue gives out while the batch is in flight. A message
{"fail_times": n} fails its first n deliveries; {"poison": true} fails every time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

effects = boto3.resource("dynamodb").Table(os.environ["EFFECTS_TABLE"])
sqs = boto3.client("sqs")
# A failing record fails the later records of its own message group only: other groups go on.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def add(key: str, attribute: str) -> int:
    updated = effects.update_item(
        Key={"pk": key},
        UpdateExpression=f"ADD {attribute} :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(updated["Attributes"][attribute])


def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    deliveries = add(f"fifo-delivery#{message['id']}", "deliveries")
    if message.get("poison") or deliveries <= int(message.get("fail_times", 0)):
        raise ValueError(f"message {message['id']} fails on delivery {deliveries}")
    if message.get("peek"):
        # Lambda's view of FIFO: while this batch is in flight, its message group is locked.
        queue_url = sqs.get_queue_url(QueueName=record.event_source_arn.rsplit(":", 1)[-1])["QueueUrl"]
        seen = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        effects.put_item(Item={"pk": f"fifo-peek#{message['id']}", "visible": len(seen.get("Messages", []))})
    position = add("fifo-order", "processed_count")
    effects.put_item(Item={"pk": f"fifo-processed#{message['id']}", "position": position})


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    effects.put_item(
        Item={
            "pk": f"fifo-batch#{context.aws_request_id}",
            "ids": [json.loads(record["body"])["id"] for record in event["Records"]],
            "groups": [record["attributes"].get("MessageGroupId", "-") for record in event["Records"]],
            "sequence_numbers": [
                record["attributes"].get("SequenceNumber", "-") for record in event["Records"]
            ],
        }
    )
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
