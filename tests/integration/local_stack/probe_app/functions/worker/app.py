"""Probe SQS worker: Powertools BatchProcessor with partial batch responses.

Every delivery of every message is counted in EffectsTable, so that tests can see how often
the local event source handed each message over. A message {"poison": true} fails alone; a
message {"crash": true} makes the handler raise, which fails its whole batch; a message
{"report_unknown": true} makes it report a failure for a message id not in the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

ROLE_AT_IMPORT = os.environ["PROBE_ROLE"]
effects = boto3.resource("dynamodb").Table(os.environ["EFFECTS_TABLE"])
processor = BatchProcessor(event_type=EventType.SQS)


def count_delivery(message_id: str) -> None:
    effects.update_item(
        Key={"pk": f"delivery#{message_id}"},
        UpdateExpression="ADD deliveries :one",
        ExpressionAttributeValues={":one": 1},
    )


def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    if message.get("poison"):
        raise ValueError(f"poison message {message['id']}")
    effects.update_item(
        Key={"pk": f"processed#{message['id']}"},
        UpdateExpression="ADD times :one",
        ExpressionAttributeValues={":one": 1},
    )


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    messages = [json.loads(record["body"]) for record in event["Records"]]
    for message in messages:
        count_delivery(message["id"])
    effects.put_item(
        Item={
            "pk": f"batch#{context.aws_request_id}",
            "ids": [message["id"] for message in messages],
            "role": os.environ["PROBE_ROLE"],
            "role_at_import": ROLE_AT_IMPORT,
            "api_only": os.environ.get("API_ONLY", "-"),
        }
    )
    if any(message.get("crash") for message in messages):
        raise RuntimeError("this batch crashes before any record is processed")
    if any(message.get("report_unknown") for message in messages):
        return {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]}
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
