"""Every published data contract and its committed JSON Schema file (schemas/).

One registry, so that regenerating the files after a model change is one command and one test
keeps all of them equal to the models:

    .venv/bin/python -m riskradar.contracts          # rewrite every file in schemas/
    .venv/bin/python -m riskradar.contracts --check  # exit 1 if any file differs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Contract:
    file: str
    schema_id: str
    #: Imported only when the schema is made, so that reading the registry stays cheap.
    model: Callable[[], type[BaseModel]]
    what: str

    def schema(self) -> dict[str, Any]:
        return {"$schema": DRAFT_2020_12, "$id": self.schema_id, **self.model().model_json_schema()}

    def rendered(self) -> str:
        return json.dumps(self.schema(), indent=2, ensure_ascii=False) + "\n"


def _report() -> type[BaseModel]:
    from riskradar.models import ReportIn

    return ReportIn


def _queued_report() -> type[BaseModel]:
    from riskradar.models import QueuedReport

    return QueuedReport


def _shard_notice() -> type[BaseModel]:
    from riskradar.models import ShardNotice

    return ShardNotice


def _signal() -> type[BaseModel]:
    from riskradar.models import Signal

    return Signal


def _alert() -> type[BaseModel]:
    from riskradar.models import ThemeAlert

    return ThemeAlert


def _snapshot() -> type[BaseModel]:
    from riskradar.themes import SnapshotManifest

    return SnapshotManifest


def _stats() -> type[BaseModel]:
    from riskradar.theme_stats import ThemeStats

    return ThemeStats


def _effect() -> type[BaseModel]:
    from riskradar.effect import InterventionEffect

    return InterventionEffect


def _digest() -> type[BaseModel]:
    from riskradar.digest import Digest

    return Digest


CONTRACTS: tuple[Contract, ...] = (
    Contract("report.v1.json", "urn:riskradar:schema:report:v1", _report, "a report as clients post it"),
    Contract(
        "queued-report.v1.json",
        "urn:riskradar:schema:queued-report:v1",
        _queued_report,
        "the intake queue message (redacted, pseudonymised)",
    ),
    Contract(
        "signal.v1.json", "urn:riskradar:schema:signal:v1", _signal, "a triaged report on a signal queue"
    ),
    Contract("alert.v1.json", "urn:riskradar:schema:alert:v1", _alert, "an emerging-theme alert"),
    Contract(
        "shard-notice.v1.json",
        "urn:riskradar:schema:shard-notice:v1",
        _shard_notice,
        "an embedding shard announced on the novelty queue",
    ),
    Contract(
        "snapshot.v1.json", "urn:riskradar:schema:snapshot:v1", _snapshot, "a theme snapshot's manifest"
    ),
    Contract(
        "theme-stats.v1.json",
        "urn:riskradar:schema:theme-stats:v1",
        _stats,
        "per-theme activity published with a snapshot",
    ),
    Contract(
        "effect.v1.json", "urn:riskradar:schema:effect:v1", _effect, "an intervention's measured effect"
    ),
    Contract("digest.v1.json", "urn:riskradar:schema:digest:v1", _digest, "the theme digest's JSON"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or check) the JSON Schemas in schemas/.")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file differs")
    args = parser.parse_args(argv)
    stale = []
    for contract in CONTRACTS:
        path = SCHEMAS_DIR / contract.file
        rendered = contract.rendered()
        if not path.is_file() or path.read_text(encoding="utf-8") != rendered:
            stale.append(contract.file)
            if not args.check:
                path.write_text(rendered, encoding="utf-8")
    if stale:
        print(("stale: " if args.check else "rewrote: ") + ", ".join(stale))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
