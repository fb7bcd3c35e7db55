"""`make demo`: replay the shipped Banking77 data through the embedded local stack, end to end.

Starts the local stack from template.yaml, replays the dataset as reports through the real HTTP API
(spread over businesses and reporter roles), resends a slice as a client retry would, and prints
where every report went.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from riskradar.local import LocalStack
from riskradar.local.defaults import PROJECT_ROOT, TEMPLATE, local_stack_options
from riskradar.replay import ReplayPlan, ReplaySummary, post_batches, read_rows, synthesize_reports

DATASET = PROJECT_ROOT / "data" / "banking77" / "train.csv"


@dataclass(frozen=True)
class DemoOptions:
    dataset: Path = DATASET
    limit: int | None = None
    batch_size: int = 100
    retry_share: float = 0.02
    seed: int = 7


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> ReplaySummary:
    rows = read_rows(options.dataset, text_column="text")
    if options.limit:
        rows = rows[: options.limit]
    reports = synthesize_reports(rows, ReplayPlan(seed=options.seed, id_prefix="b77"))
    print(f"riskradar demo: {len(reports):,} reports from {options.dataset.name}", file=out)
    with LocalStack.start(TEMPLATE, **local_stack_options()) as stack:
        api_url = stack.serve_http()
        print(f"local stack up: API {api_url}  (moto {stack.endpoint_url})", file=out)
        with tqdm(total=len(reports), desc="replay", unit="report", file=sys.stderr) as bar:
            summary = post_batches(api_url, reports, batch_size=options.batch_size, on_batch=bar.update)
        # Clients retry on timeouts: resend a slice, which intake must recognise as duplicates.
        retried = random.Random(options.seed).sample(reports, int(len(reports) * options.retry_share))
        retry_summary = post_batches(api_url, retried, batch_size=options.batch_size)
        summary.sent += retry_summary.sent
        summary.statuses.update(retry_summary.statuses)
        summary.refused_requests.update(retry_summary.refused_requests)
        on_queue = stack.queue_depth("IntakeQueue")
        in_dlq = stack.queue_depth("IntakeDeadLetterQueue")
    print_summary(summary, on_queue=on_queue, in_dlq=in_dlq, retried=len(retried), out=out)
    return summary


def print_summary(summary: ReplaySummary, *, on_queue: int, in_dlq: int, retried: int, out: TextIO) -> None:
    lines = [
        ("sent", summary.sent, f"incl. {retried:,} client retries"),
        ("accepted", summary.accepted, "new reports, redacted and enqueued once"),
        ("duplicate", summary.duplicates, "retries recognised by report_id, not enqueued again"),
        ("rejected", summary.rejected, "refused with a field-level reason"),
        ("on queue", on_queue, "waiting for triage"),
        ("in DLQ", in_dlq, "failed processing, kept for inspection and redrive"),
    ]
    print("", file=out)
    for name, count, meaning in lines:
        print(f"  {name:<10} {count:>7,}   {meaning}", file=out)
    for status, count in sorted(summary.refused_requests.items()):
        print(f"  requests refused with HTTP {status}: {count}", file=out)
