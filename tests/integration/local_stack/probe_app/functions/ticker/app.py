"""Probe scheduled function (an image function): records each firing in EffectsTable."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

effects = boto3.resource("dynamodb").Table(os.environ["EFFECTS_TABLE"])


@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    effects.put_item(
        Item={"pk": f"tick#{event.get_id}", "rule": event.resources[0], "detail_type": event.detail_type}
    )
    return {
        "tick_id": event.get_id,
        "detail_type": event.detail_type,
        "source": event.source,
        "rule": event.resources[0],
        "role": os.environ.get("PROBE_ROLE"),
        "api_only": os.environ.get("API_ONLY"),
        "module_file": __file__,
    }
