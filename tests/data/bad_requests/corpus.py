"""The bad-request corpus: load its cases and build each request exactly as it goes on the wire.

The format is described in README.md next to this file; generate.py writes the JSONL files.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent
VALID_NASTY_FILE = "valid_nasty.jsonl"


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    description: str
    request: dict[str, Any]
    expect: dict[str, Any]
    file: str

    @property
    def method(self) -> str:
        return str(self.request.get("method", "POST"))

    @property
    def path(self) -> str:
        return str(self.request["path"])

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.request.get("headers", {}))

    @property
    def chunked(self) -> bool:
        return bool(self.request.get("chunked", False))

    @property
    def json_body(self) -> Any:
        """The request's JSON document, expanded; only for bodies given as `json`."""
        return expand(self.request["body"]["json"])

    def body(self) -> bytes | None:
        spec = self.request.get("body")
        return None if spec is None else body_bytes(spec)


def invalid_cases() -> list[Case]:
    return [case for path in invalid_files() for case in load(path)]


def valid_nasty_cases() -> list[Case]:
    return load(CORPUS_DIR / VALID_NASTY_FILE)


def invalid_files() -> list[Path]:
    return sorted(path for path in CORPUS_DIR.glob("*.jsonl") if path.name != VALID_NASTY_FILE)


def load(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="ascii").splitlines():
        raw = json.loads(line)
        cases.append(
            Case(raw["id"], raw["category"], raw["description"], raw["request"], raw["expect"], path.name)
        )
    return cases


def body_bytes(spec: dict[str, Any]) -> bytes:
    """The exact bytes of a body spec: `json`, `text`, `base64` or `parts` (see README.md)."""
    if "json" in spec:
        # Raw UTF-8 on the wire (emoji, RTL text as bytes, not \\u escapes), as most clients send it.
        return json.dumps(expand(spec["json"]), ensure_ascii=False).encode("utf-8")
    if "text" in spec:
        return str(spec["text"]).encode("utf-8")
    if "base64" in spec:
        return base64.b64decode(spec["base64"], validate=True)
    if "parts" in spec:
        return b"".join(_part_bytes(part) for part in spec["parts"])
    raise ValueError(f"unknown body spec: {sorted(spec)}")


def _part_bytes(part: dict[str, Any]) -> bytes:
    if "repeat" in part:
        unit, count = part["repeat"]
        return str(unit).encode("utf-8") * int(count)
    return body_bytes(part)


def expand(value: Any) -> Any:
    """Replace the generator markers inside a JSON value: {"$repeat": [unit, n]} is the string
    `unit` n times, {"$concat": [piece, ...]} the pieces (strings or markers) joined, and
    {"$copies": [value, n]} a list of n copies of `value`."""
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            unit, count = value["$repeat"]
            return str(unit) * int(count)
        if set(value) == {"$concat"}:
            return "".join(str(expand(piece)) for piece in value["$concat"])
        if set(value) == {"$copies"}:
            item, count = value["$copies"]
            return [expand(copy.deepcopy(item)) for _ in range(int(count))]
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def string_leaves(value: Any) -> Iterator[str]:
    """Every string in a JSON value: object keys and string values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)
