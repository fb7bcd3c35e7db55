"""The local HTTP API, over a real socket: routing, the 2.0 event, body encoding, limits, errors."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
from urllib.parse import urlsplit

import pytest
import requests

from riskradar.local import LocalStack
from riskradar.local.http_api import MAX_REQUEST_BYTES
from tests.integration.local_stack.probe_stack import Probe


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> str:
    return stack.serve_http()


def echo_invocations(probe: Probe) -> int:
    found = probe.effect("echo")
    return 0 if found is None else int(found["invocations"])


def test_routes_a_path_parameter_to_the_function_that_reads_moto(api: str, probe: Probe) -> None:
    created = requests.post(f"{api}/items", json={"item_id": "a b", "value": 7}, timeout=10)
    fetched = requests.get(f"{api}/items/a%20b", timeout=10)

    assert created.status_code == 201
    assert probe.effect("item#a b") == {"pk": "item#a b", "value": 7}
    assert fetched.status_code == 200
    assert fetched.json() == {"item_id": "a b", "value": 7, "route_key": "GET /items/{item_id}"}


def test_a_literal_route_wins_over_a_path_variable(api: str) -> None:
    assert requests.get(f"{api}/items/special", timeout=10).json() == {"route_key": "GET /items/special"}


def test_a_greedy_any_route_takes_every_method_and_the_rest_of_the_path(api: str) -> None:
    response = requests.delete(f"{api}/files/reports/2024/a.csv", timeout=10)

    assert response.json() == {
        "route_key": "ANY /files/{proxy+}",
        "path_parameters": {"proxy": "reports/2024/a.csv"},
    }


def test_a_request_no_route_serves_is_api_gateways_404(api: str, probe: Probe) -> None:
    before = echo_invocations(probe)

    unknown_path = requests.get(f"{api}/nowhere", timeout=10)
    wrong_method = requests.get(f"{api}/echo", timeout=10)

    for response in (unknown_path, wrong_method):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
    assert echo_invocations(probe) == before


def test_the_function_receives_a_payload_format_2_event(api: str) -> None:
    started_ms = time.time() * 1000
    response = requests.post(
        f"{api}/echo?tag=a&tag=b&q=x%20y",
        data='{"k": 1}',
        headers={"Content-Type": "application/json", "X-Custom": "Value"},
        cookies={"session": "abc"},
        timeout=10,
    )
    event = response.json()

    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /echo"
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == "tag=a&tag=b&q=x%20y"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
    assert event["cookies"] == ["session=abc"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-custom"] == "Value"
    assert all(name == name.lower() for name in event["headers"])
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/echo"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("python-requests/")
    assert context["routeKey"] == "POST /echo"
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert started_ms - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000


def test_repeated_request_headers_are_comma_joined(api: str) -> None:
    url = urlsplit(api)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    connection.putrequest("POST", "/echo")
    connection.putheader("X-Repeated", "one")
    connection.putheader("X-Repeated", "two")
    connection.putheader("Content-Length", "0")
    connection.endheaders()
    event = json.loads(connection.getresponse().read())
    connection.close()

    assert event["headers"]["x-repeated"] == "one,two"
    assert event["has_body"] is False


def test_the_functions_response_is_written_back_with_headers_and_cookies(api: str) -> None:
    response = requests.post(
        f"{api}/echo", data="{}", headers={"content-type": "application/json"}, timeout=10
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-probe"] == "one, two"
    assert response.cookies.get("first") == "1"
    assert response.cookies.get("second") == "2"


@pytest.mark.parametrize(
    ("content_type", "body", "as_base64"),
    [
        ("text/plain", b"\xff\xfe not utf-8", True),
        ("application/json", b'{"broken": "\xc3"}', True),
        ("application/octet-stream", b"binary but valid utf-8", True),
        ("application/json", '{"name": "Zoë"}'.encode(), False),
        ("application/problem+json", b"{}", False),
        ("application/x-www-form-urlencoded", b"a=1&b=2", False),
        (None, b"no content type", False),
    ],
)
def test_bodies_are_encoded_as_api_gateway_does(
    api: str, content_type: str | None, body: bytes, as_base64: bool
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    event = requests.post(f"{api}/echo", data=body, headers=headers, timeout=10).json()

    assert event["isBase64Encoded"] is as_base64
    assert (base64.b64decode(event["body"]) if as_base64 else event["body"].encode()) == body


def test_a_body_over_10_mib_is_refused_with_413_without_invoking(api: str, probe: Probe) -> None:
    before = echo_invocations(probe)

    too_large = requests.post(f"{api}/echo", data=b"x" * (MAX_REQUEST_BYTES + 1), timeout=30)
    at_limit = requests.post(f"{api}/echo", data=b"x" * MAX_REQUEST_BYTES, timeout=30)

    assert too_large.status_code == 413
    assert too_large.json() == {"message": "Request Entity Too Large"}
    assert at_limit.status_code == 200
    assert at_limit.json()["body_length"] == MAX_REQUEST_BYTES
    assert echo_invocations(probe) == before + 1


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_content_length_that_is_no_length_is_a_400_without_invoking(
    api: str, probe: Probe, length: str
) -> None:
    before = echo_invocations(probe)
    parts = urlsplit(api)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    connection.putrequest("POST", "/echo")
    connection.putheader("Content-Length", length)
    connection.endheaders(b"hello")
    response = connection.getresponse()
    assert response.status == 400
    connection.close()
    assert echo_invocations(probe) == before


def test_a_handler_exception_is_a_bare_500_with_the_traceback_in_the_log(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="riskradar-local"):
        response = requests.get(f"{api}/boom", timeout=10)

    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "internal details" not in response.text
    assert "RuntimeError: boom: internal details" in caplog.text


def test_invoke_http_serves_in_process_without_a_socket(stack: LocalStack) -> None:
    response = stack.invoke_http("GET", "/items/special")

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"route_key": "GET /items/special"}
    assert stack.invoke_http("PATCH", "/items/special")["statusCode"] == 404
