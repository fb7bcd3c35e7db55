"""A running `riskradar serve`, reachable from other commands of the same user.

`riskradar serve` runs the local stack until Ctrl-C. Other commands (`riskradar recluster`,
`riskradar digest`) act on it through:

- the HTTP API it serves (the same routes as on AWS), and
- a tiny admin endpoint on 127.0.0.1 that does what on AWS the operator does with the Lambda
  console or EventBridge: fire a function's schedule now (`POST /schedules/<FunctionLogicalId>`).

Any local user can connect to a loopback port, so the admin endpoint wants a bearer secret. The
secret, both URLs and the issuer file are written to a serve file readable by this user only
(0600, as the issuer file), and deleted when `serve` stops.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Protocol

from riskradar.local.logs import logger
from riskradar.local.private_files import write_private_json
from riskradar.local.schedules import Schedule


class ScheduleFirer(Protocol):
    """What the admin endpoint needs of a LocalStack."""

    def schedules(self) -> list[Schedule]: ...

    def fire_schedule(self, function_logical_id: str, *, rule_name: str | None = None) -> Any: ...


@dataclass(frozen=True)
class ServeFile:
    """What `riskradar serve` tells the other commands of its user."""

    pid: int
    api_url: str
    admin_url: str
    admin_token: str
    issuer_file: str | None
    #: The moto server every AWS call of the local stack goes to, its region and the stack's name:
    #: what commands that operate the stack's resources directly (`riskradar dlq`) need.
    aws_endpoint: str
    region: str
    stack_name: str

    def write(self, path: Path) -> Path:
        """Write atomically, 0600 in a 0700 directory (the admin token is a secret)."""
        return write_private_json(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> ServeFile:
        """ValueError when the file is not a serve file; OSError when it cannot be read."""
        content = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(content, dict):
            raise ValueError(f"{path} is not a serve file")
        try:
            return cls(
                pid=int(content["pid"]),
                api_url=str(content["api_url"]),
                admin_url=str(content["admin_url"]),
                admin_token=str(content["admin_token"]),
                issuer_file=str(content["issuer_file"]) if content.get("issuer_file") else None,
                aws_endpoint=str(content["aws_endpoint"]),
                region=str(content["region"]),
                stack_name=str(content["stack_name"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path} is not a serve file") from None

    def delete_if_mine(self, path: Path) -> None:
        """Delete `path` if it is still this serve's (another serve may have replaced it since)."""
        try:
            current = ServeFile.read(path)
        except (OSError, ValueError):
            return
        if hmac.compare_digest(current.admin_token, self.admin_token):
            path.unlink(missing_ok=True)


class AdminServer:
    """Serves the admin endpoint of `stack` on 127.0.0.1 from a daemon thread."""

    def __init__(self, stack: ScheduleFirer, *, port: int = 0, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)
        handler = type("BoundAdminHandler", (_AdminHandler,), {"stack": stack, "token": self.token})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        host, bound_port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="riskradar-local-admin", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AdminServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class _AdminHandler(BaseHTTPRequestHandler):
    stack: ClassVar[ScheduleFirer]
    token: ClassVar[str]
    protocol_version = "HTTP/1.1"
    server_version = "riskradar-local-admin"

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/schedules":
            self._answer(404, {"message": f"no such admin resource: {self.path}"})
            return
        schedules = [
            {"rule": s.rule_name, "expression": s.expression, "function": s.function_logical_id}
            for s in self.stack.schedules()
        ]
        self._answer(200, {"schedules": schedules})

    def do_POST(self) -> None:
        self._discard_body()
        if not self._authorized():
            return
        parts = [part for part in self.path.split("/") if part]
        if len(parts) != 2 or parts[0] != "schedules":
            self._answer(404, {"message": f"no such admin resource: {self.path}"})
            return
        function = parts[1]
        if function not in {schedule.function_logical_id for schedule in self.stack.schedules()}:
            self._answer(404, {"message": f"{function} has no schedule in the template"})
            return
        try:
            result = self.stack.fire_schedule(function)
        except Exception as error:  # the handler failed: say how, as Lambda's Invoke would
            logger.exception("scheduled run of %s failed", function)
            self._answer(500, {"message": f"{function} failed: {type(error).__name__}: {error}"})
            return
        self._answer(200, {"function": function, "result": result})

    def _authorized(self) -> bool:
        scheme, _, presented = (self.headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), self.token):
            return True
        self._answer(401, {"message": "missing or wrong admin token (it is in the serve file)"})
        return False

    def _discard_body(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if 0 < length <= 1024 * 1024:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("admin %s", format % args)
