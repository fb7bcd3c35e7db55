"""What one report costs in AWS requests and intake compute: the inputs of benchmarks/cost_model.py
that the other benchmarks do not measure.

On the embedded local stack, N Banking77 reports are posted through the HTTP API in batches (as a
marketplace backend would), triaged (SQS batches as the template configures them) and reclustered
once. Every AWS API call a function makes while it runs is counted by service and operation (at
botocore's one call path; the local stack's own SQS polling happens between invocations and is not
counted), with the sizes that AWS bills by: DynamoDB item sizes (write units per 1 KB),
SQS payloads (one request per 64 KB chunk), S3 objects and the bytes each function logs. Each
handler invocation is timed (wall clock and this process's CPU time).

    .venv/bin/python benchmarks/pipeline_requests.py --reports 300 --json out/pipeline_requests.json

Timings on a shared machine are noisy; the request counts are exact for this code and these
reports. Not counted: what the Lambda service does on the function's behalf (the SQS event
source's ReceiveMessage/DeleteMessageBatch, EventBridge's invocation) — cost_model.py adds those.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import math
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import botocore.client
import requests

from riskradar.local.defaults import PROJECT_ROOT, TEMPLATE

DATASET = PROJECT_ROOT / "data" / "banking77" / "train.csv"
FUNCTIONS = ("IntakeFunction", "TriageFunction", "ReclusterFunction")


class _LogBytes(logging.Handler):
    """Counts what the functions print (their CloudWatch Logs lines), by the running function."""

    def __init__(self, log: CallLog) -> None:
        super().__init__(logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        self._log.count_log_line(record.getMessage())


class CallLog:
    """AWS calls by the function running when they were made."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        #: DynamoDB write units (1 KB each, rounded up per item) and read units, SQS 64 KB
        #: chunks, S3 bytes: by function and operation.
        self.units: dict[str, Counter[str]] = defaultdict(Counter)
        self.invocations: dict[str, list[dict[str, float]]] = defaultdict(list)
        self.failures: list[str] = []

    def observe(self, client: Any, operation_name: str, params: dict[str, Any]) -> None:
        if self.current is None:
            return
        service = client.meta.service_model.service_name
        name = operation_name
        operation = f"{service}:{name}"
        calls, units = self.calls[self.current], self.units[self.current]
        calls[operation] += 1
        if service == "dynamodb":
            # A transactional write costs two units per KB, a plain one one.
            per_kb = 2 if name == "TransactWriteItems" else 1
            for item in _written_items(name, params):
                units[f"{operation}:write_units"] += per_kb * max(1, math.ceil(_size(item) / 1024))
            # Reads: one unit per item read (strongly consistent, items under 4 KB); a Query or Scan
            # counts one, a lower bound.
            keys = 0
            if name == "BatchGetItem":
                keys = sum(len(table.get("Keys", [])) for table in params.get("RequestItems", {}).values())
            if name in ("GetItem", "Query", "Scan") or keys:
                units[f"{operation}:read_units"] += keys or 1
        elif service == "sqs" and name in ("SendMessage", "SendMessageBatch"):
            bodies = [params.get("MessageBody", "")] + [e["MessageBody"] for e in params.get("Entries", [])]
            size = sum(len(str(b).encode()) for b in bodies)
            units[f"{operation}:billed_requests"] += max(1, math.ceil(size / 65536))
            units[f"{operation}:messages"] += len(params.get("Entries", [])) or 1
        elif service == "s3" and name == "PutObject":
            body = params.get("Body", b"")
            units[f"{operation}:bytes"] += len(body) if isinstance(body, bytes | str) else 0

    def count_log_line(self, line: str) -> None:
        if self.current is not None:
            self.units[self.current]["logs:bytes"] += len(line.encode()) + 1

    def timed(self, logical_id: str, invoke: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def wrapper(event: Any) -> Any:  # observes, changes nothing
            self.current = logical_id
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return invoke(event)
            finally:
                self.invocations[logical_id].append(
                    {"wall_s": time.perf_counter() - wall, "process_cpu_s": time.process_time() - cpu}
                )
                self.current = None

        return wrapper


def _size(item: Any) -> int:
    """An item's size, about as DynamoDB counts it: its JSON, a binary value by its bytes."""
    return len(
        json.dumps(item, default=lambda value: "x" * len(value) if isinstance(value, bytes) else str(value))
    )


def _written_items(operation: str, params: dict[str, Any]) -> list[Any]:
    if operation == "PutItem":
        return [params.get("Item", {})]
    if operation == "UpdateItem":
        return [{**params.get("Key", {}), "update": params.get("ExpressionAttributeValues", {})}]
    if operation == "DeleteItem":
        return [params.get("Key", {})]
    if operation == "BatchWriteItem":
        return [
            request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
            for requests_ in params.get("RequestItems", {}).values()
            for request in requests_
        ]
    if operation == "TransactWriteItems":
        # Every action, condition checks too (an upper bound: each is billed as a write here).
        return [
            request.get("Item")
            or {**request.get("Key", {}), "update": request.get("ExpressionAttributeValues", {})}
            for item in params.get("TransactItems", [])
            for request in item.values()
        ]
    return []


def banking77_reports(count: int) -> list[dict[str, Any]]:
    from datetime import UTC, datetime, timedelta

    from riskradar.replay import ReplayPlan, SourceRow, synthesize_reports

    with DATASET.open(encoding="utf-8") as source:
        rows = [
            SourceRow(row["text"], row["category"]) for row in itertools.islice(csv.DictReader(source), count)
        ]
    end = datetime.now(UTC) - timedelta(minutes=1)
    return synthesize_reports(rows, ReplayPlan(end=end, days=7, id_prefix=f"pr{int(time.time())}"))


def per_report(counter: Counter[str], reports: int) -> dict[str, float]:
    return {name: value / reports for name, value in sorted(counter.items())}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=300, help="Banking77 reports to send (default 300)")
    parser.add_argument(
        "--batch-size", type=int, default=100, help="reports per intake request (default 100)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args()

    # Every client, whatever session made it (Powertools' idempotency and parameters utilities make
    # their own): observe each API call at the one place all of them pass.
    log = CallLog()
    make_api_call = botocore.client.BaseClient._make_api_call

    def observed(client: Any, operation_name: str, params: dict[str, Any]) -> Any:
        try:
            log.observe(client, operation_name, params)
        except Exception as error:  # counting must never change what the functions do: report it at the end
            log.failures.append(f"{operation_name}: {error!r}")
        return make_api_call(client, operation_name, params)

    botocore.client.BaseClient._make_api_call = observed
    function_output = logging.getLogger("aws.lambda")
    function_output.setLevel(logging.INFO)
    function_output.addHandler(_LogBytes(log))
    function_output.propagate = False

    from riskradar.local import LocalStack
    from riskradar.local.defaults import local_stack_options

    reports = banking77_reports(args.reports)
    with LocalStack.start(
        TEMPLATE, stack_name="riskradar-pipeline-requests", **local_stack_options()
    ) as stack:
        for logical_id in FUNCTIONS:
            function = stack.function(logical_id)
            function.invoke = log.timed(logical_id, function.invoke)  # type: ignore[method-assign,assignment]
        api_url = stack.serve_http()
        http = requests.Session()
        for start in range(0, len(reports), args.batch_size):
            batch = reports[start : start + args.batch_size]
            response = http.post(f"{api_url}/v1/reports/batch", json={"reports": batch}, timeout=120)
            statuses = Counter(item["status"] for item in response.json()["items"])
            if statuses != Counter({"accepted": len(batch)}):
                raise SystemExit(f"intake did not accept the batch: {dict(statuses)}")
        print(
            f"intake: {len(reports)} reports in {len(log.invocations['IntakeFunction'])} requests",
            file=sys.stderr,
        )
        stack.run_until_idle(timeout_s=max(600.0, len(reports) * 2.0))
        print(f"triage: {len(log.invocations['TriageFunction'])} batches", file=sys.stderr)
        run = stack.fire_schedule("ReclusterFunction")
        print(f"recluster: {run['reports']} reports, {run['themes']} themes", file=sys.stderr)

    if log.failures:
        raise SystemExit(f"the call counting failed {len(log.failures)} times, e.g. {log.failures[0]}")
    intake = log.invocations["IntakeFunction"]
    results: dict[str, Any] = {
        "reports": len(reports),
        "intake_batch_size": args.batch_size,
        "mean_text_chars": statistics.fmean(len(r["text"]) for r in reports),
        "intake": {
            "requests": len(intake),
            "wall_ms_per_request": [1000 * i["wall_s"] for i in intake],
            "process_cpu_ms_per_request": [1000 * i["process_cpu_s"] for i in intake],
            "calls_per_report": per_report(log.calls["IntakeFunction"], len(reports)),
            "units_per_report": per_report(log.units["IntakeFunction"], len(reports)),
        },
        "triage": {
            "batches": len(log.invocations["TriageFunction"]),
            "wall_s_per_batch": [i["wall_s"] for i in log.invocations["TriageFunction"]],
            "calls_per_report": per_report(log.calls["TriageFunction"], len(reports)),
            "units_per_report": per_report(log.units["TriageFunction"], len(reports)),
        },
        "recluster": {
            "window_reports": run["reports"],
            "wall_s": log.invocations["ReclusterFunction"][-1]["wall_s"],
            "calls_per_run": dict(sorted(log.calls["ReclusterFunction"].items())),
            "units_per_run": dict(sorted(log.units["ReclusterFunction"].items())),
        },
    }
    for name in ("intake", "triage"):
        print(f"\n{name}: AWS calls per report")
        for operation, value in results[name]["calls_per_report"].items():
            print(f"  {operation:<40} {value:8.3f}")
    print("\nrecluster: AWS calls per run")
    for operation, value in results["recluster"]["calls_per_run"].items():
        print(f"  {operation:<40} {value:8d}")
    median_ms = statistics.median(results["intake"]["wall_ms_per_request"])
    print(f"\nintake: median {median_ms:.0f} ms per request of {args.batch_size} reports (wall clock)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
