"""How commands in other processes reach a running `riskradar serve`: a small file it writes.

`riskradar serve` writes where its moto server and HTTP API listen and the stack's name to
`~/.cache/riskradar/local-stack.json` (0600, in a 0700 directory) and deletes it at exit;
`riskradar dlq` (and any other command that operates the local stack) reads it and talks to that
moto server with the local stack's fake credentials. The file holds no secret.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalEndpoint:
    #: The moto server: every AWS call of the local stack goes there.
    aws_endpoint: str
    region: str
    stack_name: str
    api_url: str | None
    pid: int

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(prefix=".local-stack-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(asdict(self), file)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def read(cls, path: Path) -> LocalEndpoint:
        content = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            aws_endpoint=str(content["aws_endpoint"]),
            region=str(content["region"]),
            stack_name=str(content["stack_name"]),
            api_url=content.get("api_url"),
            pid=int(content["pid"]),
        )

    def delete(self, path: Path) -> None:
        """Delete `path` if it still describes this endpoint (another serve may have replaced it)."""
        try:
            if LocalEndpoint.read(path) == self:
                path.unlink(missing_ok=True)
        except (OSError, ValueError, KeyError):
            return


def local_endpoint_file() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "riskradar" / "local-stack.json"
