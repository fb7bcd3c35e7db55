"""What the `riskradar` command does to a running stack: a local `riskradar serve` or one on AWS.

Every failure becomes a RemoteError whose message says what went wrong and what to do, so that the
command prints one line instead of a traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from riskradar.local.admin import ServeFile
from riskradar.replay import root_cause

#: The template's logical id of the scheduled job that `riskradar recluster` runs.
RECLUSTER_FUNCTION = "ReclusterFunction"
#: Formats of GET /v1/digests/latest, by the name used on the command line.
DIGEST_FORMATS = {"html": "text/html", "json": "application/json", "md": "text/markdown"}
DIGEST_SUFFIXES = {".html": "html", ".htm": "html", ".json": "json", ".md": "md", ".markdown": "md"}
#: A recluster run may take up to the function's 15-minute timeout.
_LAMBDA_READ_TIMEOUT_S = 960


class RemoteError(Exception):
    """The stack could not do what was asked; the message says why."""


def check_api_url(url: str) -> str:
    """The base URL without a trailing slash; RemoteError unless it is an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port out of range
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[::1" (an unclosed IPv6 host), "http://host:99999"
        usable = False
    if not usable:
        raise RemoteError(
            f"{url!r} is not an API URL: expected http(s)://host[:port], e.g. the stack's ApiUrl output "
            "or the API address `riskradar serve` prints"
        )
    return url.rstrip("/")


# ---------------------------------------------------------------------------- a running `serve`


def running_serve(path: Path) -> ServeFile:
    """The `riskradar serve` that wrote `path`; RemoteError when there is none."""
    try:
        serve = ServeFile.read(path)
    except FileNotFoundError:
        raise RemoteError(
            f"no running `riskradar serve` ({path} does not exist): start one in another terminal, "
            "or name a deployed stack"
        ) from None
    except (OSError, ValueError) as error:
        raise RemoteError(f"cannot read {path}: {error}") from None
    if not _process_exists(serve.pid):
        raise RemoteError(f"the `riskradar serve` that wrote {path} (pid {serve.pid}) is no longer running")
    return serve


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def fire_local_schedule(serve: ServeFile, function_logical_id: str) -> dict[str, Any]:
    """Run a scheduled function of the running `serve` now; its result."""
    url = f"{serve.admin_url}/schedules/{function_logical_id}"
    try:
        response = requests.post(
            url, headers={"Authorization": f"Bearer {serve.admin_token}"}, timeout=_LAMBDA_READ_TIMEOUT_S
        )
    except requests.RequestException as error:
        raise RemoteError(
            f"cannot reach the running `riskradar serve` at {serve.admin_url}: {error}"
        ) from None
    body = _json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else response.text[:200]
        raise RemoteError(f"{function_logical_id} on the local stack: HTTP {response.status_code}: {message}")
    result = body.get("result")
    if not isinstance(result, dict):
        raise RemoteError(f"{function_logical_id} returned {result!r}, not a run summary")
    return result


# ---------------------------------------------------------------------------- a stack on AWS


@dataclass(frozen=True)
class AwsTarget:
    """Which deployed function to run: by name, or by its stack and logical id."""

    function_name: str | None = None
    stack_name: str | None = None
    region: str | None = None
    profile: str | None = None
    #: For tests and other AWS-compatible endpoints (e.g. a local moto server).
    endpoint_url: str | None = None


def invoke_deployed(target: AwsTarget, logical_id: str = RECLUSTER_FUNCTION) -> tuple[str, dict[str, Any]]:
    """Invoke a deployed function synchronously with an on-demand event: (its name, its result).

    One attempt only (a retried recluster would run twice), and a read timeout above the
    function's own 15 minutes.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    name = target.function_name or f"{logical_id} of stack {target.stack_name}"
    try:
        session = boto3.Session(profile_name=target.profile, region_name=target.region)
        name = target.function_name or _physical_id(session, target, logical_id)
        client = session.client(
            "lambda",
            endpoint_url=target.endpoint_url,
            config=Config(read_timeout=_LAMBDA_READ_TIMEOUT_S, retries={"total_max_attempts": 1}),
        )
        answer = client.invoke(FunctionName=name, InvocationType="RequestResponse", Payload=b"{}")
        payload = answer["Payload"].read()
    except ClientError as error:
        raise RemoteError(f"{name}: AWS refused: {error}") from None
    except BotoCoreError as error:  # no credentials or region, an unknown profile, no network
        raise RemoteError(f"{name}: cannot call AWS: {error}") from None
    try:
        result = json.loads(payload or b"null")
    except ValueError:
        raise RemoteError(f"{name} answered something that is not JSON: {payload[:200]!r}") from None
    if answer.get("FunctionError"):
        message = result.get("errorMessage") if isinstance(result, dict) else result
        raise RemoteError(f"{name} failed ({answer['FunctionError']}): {message}")
    if not isinstance(result, dict):
        raise RemoteError(f"{name} returned {result!r}, not a run summary")
    return name, result


def _physical_id(session: Any, target: AwsTarget, logical_id: str) -> str:
    if not target.stack_name:
        raise RemoteError("name the function (--function-name) or its stack (--stack-name)")
    cloudformation = session.client("cloudformation", endpoint_url=target.endpoint_url)
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=target.stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource.get("LogicalResourceId") == logical_id and resource.get("PhysicalResourceId"):
                return str(resource["PhysicalResourceId"])
    raise RemoteError(f"stack {target.stack_name} has no {logical_id}")


# ---------------------------------------------------------------------------- the strategist API


def fetch_digest(api_url: str, token: str, digest_format: str, *, refresh: bool) -> str:
    """The latest digest in `digest_format` (html, json, md); with `refresh`, publish one first."""
    base = check_api_url(api_url)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    if refresh:
        _check(_request(http, "POST", f"{base}/v1/digests", {}), "POST /v1/digests")
    response = _request(http, "GET", f"{base}/v1/digests/latest", {"Accept": DIGEST_FORMATS[digest_format]})
    _check(response, "GET /v1/digests/latest")
    return response.text


def _request(http: requests.Session, method: str, url: str, headers: dict[str, str]) -> requests.Response:
    try:
        return http.request(method, url, headers=headers, timeout=120)
    except requests.ConnectionError as error:
        raise RemoteError(f"cannot reach {url}: {root_cause(error)}") from None
    except requests.RequestException as error:
        raise RemoteError(f"{method} {url}: {error}") from None


def _check(response: requests.Response, what: str) -> None:
    if response.status_code < 400:
        return
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    message = (
        error.get("message")
        if isinstance(error, dict)
        else (body.get("message") if isinstance(body, dict) else None)
    ) or response.text[:200]
    if response.status_code == 401:
        raise RemoteError(
            f"{what}: the API refused the token (HTTP 401: {message}); it is missing, expired, or not "
            "from the issuer and audience the API trusts"
        )
    if response.status_code == 403:
        raise RemoteError(f"{what}: the token is not allowed to (HTTP 403: {message})")
    if response.status_code == 404 and "digest" in str(message):
        raise RemoteError(f"{what}: {message} (or pass --refresh)")
    raise RemoteError(f"{what}: HTTP {response.status_code}: {message}")


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
