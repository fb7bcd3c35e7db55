"""A real socket in front of the local HTTP API, for curl, browsers and HTTP clients in tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from riskradar.local.http_api import MAX_REQUEST_BYTES, HttpApi, HttpRequest, HttpResponse, error_response
from riskradar.local.logs import logger

#: How much of an oversized body is read and discarded before answering 413, so that the client
#: finishes sending and reads the answer instead of failing on a reset connection.
_MAX_DISCARDED_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


class HttpApiServer:
    """Serves `api` on 127.0.0.1 from a daemon thread."""

    def __init__(self, api: HttpApi, port: int = 0) -> None:
        handler = type("BoundHttpApiHandler", (_HttpApiHandler,), {"api": api})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        host, bound_port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="riskradar-local-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _HttpApiHandler(BaseHTTPRequestHandler):
    api: ClassVar[HttpApi]
    # Keep-alive needs HTTP/1.1 and an exact Content-Length on every response.
    protocol_version = "HTTP/1.1"
    server_version = "riskradar-local"

    def version_string(self) -> str:
        return self.server_version

    def do_request(self) -> None:
        try:
            body = self._read_body()
        except ValueError:  # a Content-Length or chunk size that is no number, or negative
            self.close_connection = True
            self._write(error_response(400, "Bad Request", "local"))
            return
        if body is None:
            response = error_response(413, "Request Entity Too Large", "local")
        else:
            request = HttpRequest(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            response = self.api.handle(request)
        self._write(response)

    # BaseHTTPRequestHandler dispatches on these names; every method goes to the API's router.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request  # noqa: N815

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's limit."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError(f"negative Content-Length {length}")
        if length > MAX_REQUEST_BYTES:
            self._discard(length)
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        received = bytearray()
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()  # the blank line after the last chunk (no trailers expected)
                return bytes(received) if total <= MAX_REQUEST_BYTES else None
            total += size
            if total > _MAX_DISCARDED_BYTES:
                self.close_connection = True
                return None
            chunk = self.rfile.read(size)
            self.rfile.readline()
            if total <= MAX_REQUEST_BYTES:
                received += chunk

    def _discard(self, length: int) -> None:
        if length > _MAX_DISCARDED_BYTES:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http %s", format % args)
