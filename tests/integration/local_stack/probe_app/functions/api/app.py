"""Probe HTTP API function: Powertools' APIGatewayHttpResolver behind the local HTTP API."""

from __future__ import annotations

import os
from typing import Any

import boto3
import probe_shared  # from ProbeLayer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.shared.cookies import Cookie
from aws_lambda_powertools.utilities.typing import LambdaContext

# Read at cold start, as riskradar's intake reads its HMAC key: the local stack must have created
# the SecureString before importing this module.
SECRET = boto3.client("ssm").get_parameter(Name=os.environ["SECRET_PARAMETER"], WithDecryption=True)[
    "Parameter"
]["Value"]
ROLE_AT_IMPORT = os.environ["PROBE_ROLE"]
effects = boto3.resource("dynamodb").Table(os.environ["EFFECTS_TABLE"])
app = APIGatewayHttpResolver()


@app.post("/items")
def put_item() -> Response[dict[str, Any]]:
    item = app.current_event.json_body
    effects.put_item(Item={"pk": f"item#{item['item_id']}", "value": item["value"]})
    return Response(201, content_types.APPLICATION_JSON, {"item_id": item["item_id"]})


@app.get("/items/special")
def get_special_item() -> dict[str, Any]:
    return {"route_key": app.current_event.raw_event["routeKey"]}


@app.get("/items/<item_id>")
def get_item(item_id: str) -> dict[str, Any]:
    found = effects.get_item(Key={"pk": f"item#{item_id}"}).get("Item")
    if found is None:
        raise NotFoundError(item_id)
    return {
        "item_id": item_id,
        "value": int(found["value"]),
        "route_key": app.current_event.raw_event["routeKey"],
    }


@app.post("/echo")
def echo() -> Response[dict[str, Any]]:
    effects.update_item(
        Key={"pk": "echo"}, UpdateExpression="ADD invocations :one", ExpressionAttributeValues={":one": 1}
    )
    event = app.current_event.raw_event
    body = event.get("body")
    echoed = {key: event.get(key) for key in ("version", "routeKey", "rawPath", "rawQueryString", "cookies")}
    echoed |= {key: event.get(key) for key in ("headers", "queryStringParameters", "requestContext")}
    echoed |= {"isBase64Encoded": event["isBase64Encoded"], "has_body": "body" in event}
    echoed |= {"body": body if body is None or len(body) <= 1024 else None, "body_length": len(body or "")}
    return Response(
        200,
        content_types.APPLICATION_JSON,
        echoed,
        headers={"x-probe": ["one", "two"]},
        cookies=[Cookie(name="first", value="1"), Cookie(name="second", value="2")],
    )


@app.get("/env")
def environment() -> dict[str, Any]:
    context = app.lambda_context
    return {
        "role": os.environ.get("PROBE_ROLE"),
        "role_at_import": ROLE_AT_IMPORT,
        "api_only": os.environ.get("API_ONLY"),
        "colors": os.environ.get("COLORS"),
        "secret": SECRET,
        "layer": probe_shared.GREETING,
        "module_file": __file__,
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
    }


@app.get("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("boom: internal details that must not reach the client")


def _authorized_call(name: str) -> dict[str, Any]:
    """Count the call (so tests can tell that a rejected request never got here) and echo what
    the authorizer passed on."""
    effects.update_item(
        Key={"pk": f"calls#{name}"},
        UpdateExpression="ADD invocations :one",
        ExpressionAttributeValues={":one": 1},
    )
    context = app.current_event.raw_event["requestContext"]
    return {"route_key": context["routeKey"], "authorizer": context.get("authorizer")}


@app.get("/whoami")
def whoami() -> dict[str, Any]:
    return _authorized_call("whoami")


@app.post("/act")
def act() -> dict[str, Any]:
    return _authorized_call("act")


@app.get("/guarded/default")
def guarded_default() -> dict[str, Any]:
    return _authorized_call("guarded-default")


@app.get("/guarded/own-scopes")
def guarded_own_scopes() -> dict[str, Any]:
    return _authorized_call("guarded-own-scopes")


@app.get("/guarded/open")
def guarded_open() -> dict[str, Any]:
    return _authorized_call("guarded-open")


@app.route("/files/.+", method=["GET", "PUT", "POST", "DELETE", "PATCH"])
def files() -> dict[str, Any]:
    event = app.current_event.raw_event
    return {"route_key": event["routeKey"], "path_parameters": event.get("pathParameters")}


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
