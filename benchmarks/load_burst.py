"""Load burst: a bounded burst of reports through the local stack's HTTP API, while triage consumes.

Starts the embedded local stack (as `riskradar demo` does), warms the triage model (the burst hits a
warm system; the cold model load is timed on its own), then posts `--reports` synthetic reports
(Banking77 texts with synthesised marketplace context, `riskradar.replay`) to 127.0.0.1 only, from
`--threads` client threads: most in batches of `--batch-size`, a share (`--single-share`) one per
request, interleaved. Triage consumes the intake queue in the background meanwhile, and a signal
consumer takes every signal off the three signal queues, counting them per report id.

It prints the machine, per-request latency (p50 / p95 / p99, single and batch requests), intake
throughput (reports accepted per second of sending), end-to-end throughput (until every accepted
report is stored) and a conservation check: every accepted report id is stored exactly once or sits
in the intake DLQ (0 lost), every stored report has exactly one signal (0 duplicated, 0 missing),
and nothing is stored that was not accepted. The exit status is 1 when conservation fails or a
request failed (5xx, connection error): a load run that loses a report is a failed run.

    .venv/bin/python benchmarks/load_burst.py                       # 10,000 reports, 6 threads
    .venv/bin/python benchmarks/load_burst.py --reports 1000 --threads 4

Locally every function invocation runs in one process under one lock (`riskradar.local.runtime`),
so an intake request waits while a triage batch runs: intake latency here includes that wait,
which on AWS (separate containers) it would not. Timings on the shared 2-core machines are noisy;
the CPU share other processes took during the run is printed next to the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import requests
from triage_throughput import OtherProcesses, machine, peak_rss_mb

from riskradar.demo import SIGNAL_LEVELS, SignalTap
from riskradar.local.defaults import PROJECT_ROOT, TEMPLATE
from riskradar.replay import ReplayPlan, SourceRow, read_rows, synthesize_reports

if TYPE_CHECKING:
    from riskradar.local import LocalStack

DATASET = PROJECT_ROOT / "data" / "banking77" / "train.csv"
INTAKE_FUNCTION = "IntakeFunction"
TRIAGE_FUNCTION = "TriageFunction"
#: A stack of its own: its resource names never meet a demo's or a test's in moto.
STAGE = "load"
#: Above this share of the CPU taken by other processes, the figures are flagged as skewed.
NOISY = 0.10


# ---------------------------------------------------------------- the burst


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request of the burst: a single report, or a batch."""

    reports: tuple[dict[str, Any], ...]
    single: bool

    @property
    def kind(self) -> str:
        return "single" if self.single else "batch"


@dataclass(frozen=True)
class RequestResult:
    kind: str
    size: int
    seconds: float
    #: HTTP status, or 0 when no answer came (connection error, client timeout).
    status: int
    #: (report id, status) of each report the answer names: accepted, duplicate, rejected, ...
    items: tuple[tuple[str, str], ...]
    error: str | None = None


def synthetic_reports(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` intake reports from Banking77 texts, each with a unique report id.

    Banking77 is sorted by label, so rows are sampled; past its size the rows repeat (same text,
    new report: a new id, reporter and time), as recurring complaints do.
    """
    rows = read_rows(DATASET, text_column="text", label_column="category")
    rng = random.Random(seed)
    picked: list[SourceRow] = []
    while len(picked) < count:
        picked += rng.sample(rows, min(len(rows), count - len(picked)))
    return synthesize_reports(picked, ReplayPlan(seed=seed, days=14, id_prefix="load"))


def plan_requests(
    reports: Sequence[dict[str, Any]], *, batch_size: int, single_share: float, seed: int
) -> list[PlannedRequest]:
    """Singles and batches, interleaved at random so both kinds meet the same system state."""
    singles = round(len(reports) * single_share)
    planned = [PlannedRequest((report,), single=True) for report in reports[:singles]]
    rest = reports[singles:]
    planned += [
        PlannedRequest(tuple(rest[start : start + batch_size]), single=False)
        for start in range(0, len(rest), batch_size)
    ]
    random.Random(seed).shuffle(planned)
    return planned


class BurstClient:
    """Sends the planned requests from a few threads, each with its own keep-alive session."""

    def __init__(self, api_url: str, *, threads: int, timeout_s: float) -> None:
        if not api_url.startswith("http://127.0.0.1:"):
            raise ValueError(f"the burst only ever goes to loopback, not to {api_url}")
        self._api_url = api_url.rstrip("/")
        self._threads = threads
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._progress_lock = threading.Lock()
        self.reports_sent = 0

    def send_all(self, planned: Sequence[PlannedRequest]) -> list[RequestResult]:
        with ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="burst") as pool:
            return list(pool.map(self._send, planned))

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, request: PlannedRequest) -> RequestResult:
        if request.single:
            url, payload = f"{self._api_url}/v1/reports", request.reports[0]
        else:
            url, payload = f"{self._api_url}/v1/reports/batch", {"reports": list(request.reports)}
        started = time.perf_counter()
        try:
            response = self._session().post(url, json=payload, timeout=self._timeout_s)
            seconds = time.perf_counter() - started
        except requests.RequestException as error:
            seconds = time.perf_counter() - started
            return RequestResult(request.kind, len(request.reports), seconds, 0, (), type(error).__name__)
        finally:
            with self._progress_lock:
                self.reports_sent += len(request.reports)
        return RequestResult(
            request.kind,
            len(request.reports),
            seconds,
            response.status_code,
            _item_statuses(request, response),
            None if response.status_code == 202 else response.text[:300],
        )


def _item_statuses(request: PlannedRequest, response: requests.Response) -> tuple[tuple[str, str], ...]:
    try:
        body = response.json()
    except ValueError:
        return ()
    if not isinstance(body, dict):
        return ()
    if request.single:
        if "status" in body and "report_id" in body:
            return ((str(body["report_id"]), str(body["status"])),)
        return ()
    items = body.get("items")
    if not isinstance(items, list):
        return ()
    return tuple(
        (str(item.get("report_id") or request.reports[int(item["index"])]["report_id"]), str(item["status"]))
        for item in items
    )


# ---------------------------------------------------------------- what the system did meanwhile


@dataclass
class Invocations:
    """Each invocation of a function: as its caller waited for it (the wait for the local stack's
    invocation lock included) and the handler alone (what Lambda would bill and time out)."""

    seconds: list[float] = field(default_factory=list)
    #: (kind, seconds) of the handler alone; kind: "sqs" (records), "single" or "batch" (HTTP).
    handler: list[tuple[str, float]] = field(default_factory=list)
    records: list[int] = field(default_factory=list)

    def handler_seconds(self, kind: str) -> list[float]:
        return [seconds for k, seconds in self.handler if k == kind]


def observe_invocations(stack: LocalStack, logical_id: str) -> Invocations:
    """Record every invocation of a function; the invocation itself is unchanged."""
    function = stack.function(logical_id)
    original_invoke = function.invoke
    # The runtime keeps the imported handler privately; wrapping it times the handler alone.
    original_handler = function._handler
    seen = Invocations()

    def timed_invoke(event: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_invoke(event)
        finally:
            seen.seconds.append(time.perf_counter() - started)
            seen.records.append(len(event.get("Records", [])) if isinstance(event, dict) else 0)

    def timed_handler(event: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_handler(event, context)
        finally:
            seen.handler.append((_event_kind(event), time.perf_counter() - started))

    function.invoke = timed_invoke  # type: ignore[method-assign]
    function._handler = timed_handler
    return seen


def _event_kind(event: Any) -> str:
    if not isinstance(event, dict) or "Records" in event:
        return "sqs"
    return "batch" if str(event.get("rawPath", "")).endswith("/batch") else "single"


class WarningCounter(logging.Handler):
    """Counts the local stack's warnings and errors (a handler past its timeout, a failed batch)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        # The message without its numbers: one line per kind of trouble, with a count.
        text = record.getMessage()
        self.messages["".join("#" if c.isdigit() else c for c in text)[:160]] += 1


class Progress:
    """A line on stderr every `interval_s` while the burst runs: reports sent, intake queue depth."""

    def __init__(self, stack: LocalStack, client: BurstClient, total: int, interval_s: float = 60.0) -> None:
        self._stack = stack
        self._client = client
        self._total = total
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="burst-progress", daemon=True)

    def __enter__(self) -> Progress:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            print(
                f"  {time.perf_counter() - self._started:5.0f} s: {self._client.reports_sent:,} of "
                f"{self._total:,} reports sent, "
                f"{self._stack.queue_depth('IntakeQueue'):,} on the intake queue",
                file=sys.stderr,
                flush=True,
            )


def scan_report_ids(stack: LocalStack) -> Counter[str]:
    paginator = stack.client("dynamodb").get_paginator("scan")
    stored: Counter[str] = Counter()
    for page in paginator.paginate(
        TableName=stack.physical_id("ReportsTable"), ProjectionExpression="report_id"
    ):
        stored.update(item["report_id"]["S"] for item in page["Items"])
    return stored


def dead_letter_report_ids(stack: LocalStack, logical_id: str) -> Counter[str]:
    """Report ids of the messages in a dead-letter queue (received, left in place)."""
    sqs = stack.client("sqs")
    url = stack.physical_id(logical_id)
    found: Counter[str] = Counter()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
        "Messages", []
    ):
        for message in messages:
            try:
                found[str(json.loads(message["Body"])["report_id"])] += 1
            except (ValueError, KeyError, TypeError):
                found["(unreadable message)"] += 1
    return found


def embedding_rows_by_report(stack: LocalStack) -> Counter[str]:
    """How many embedding-shard rows triage wrote for each report (a redelivered batch writes its
    rows again; recluster reads each report once, so this is reported, not a conservation failure).
    A day's compacted shard, a copy written by the recluster job, is not counted."""
    from riskradar.adapters.s3 import EMBEDDINGS_PREFIX, EmbeddingShardStore
    from riskradar.shard_compaction import compacted_sequence

    s3 = stack.client("s3")
    bucket = stack.physical_id("ArtifactsBucket")
    store = EmbeddingShardStore(s3, bucket)
    rows: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=EMBEDDINGS_PREFIX):
        for item in page.get("Contents", []):
            if compacted_sequence(item["Key"]) is None:
                rows.update(store.read(item["Key"]).report_ids)
    return rows


# ---------------------------------------------------------------- conservation


@dataclass(frozen=True)
class Conservation:
    accepted: int
    stored: int
    in_intake_dlq: int
    #: Accepted, not stored, not in the DLQ.
    lost: int
    #: Stored, but never answered `accepted` (e.g. enqueued by a request whose answer was lost).
    stored_not_accepted: int
    #: Accepted more than once (a second `accepted` for one id means a duplicate enqueue).
    accepted_twice: int
    signals: int
    #: Stored reports with no signal, and reports with more than one.
    without_signal: int
    duplicated_signals: int
    #: Signals for a report that is not stored.
    orphan_signals: int
    in_signal_dlqs: int
    left_on_intake_queue: int

    @property
    def holds(self) -> bool:
        return (
            self.lost == 0
            and self.stored_not_accepted == 0
            and self.accepted_twice == 0
            and self.without_signal == 0
            and self.duplicated_signals == 0
            and self.orphan_signals == 0
            and self.left_on_intake_queue == 0
        )


def check_conservation(
    accepted: Counter[str],
    stored: Counter[str],
    in_dlq: Counter[str],
    signals: Counter[str],
    *,
    in_signal_dlqs: int,
    left_on_intake_queue: int,
) -> Conservation:
    accepted_ids, stored_ids = set(accepted), set(stored)
    return Conservation(
        accepted=len(accepted_ids),
        stored=len(stored_ids),
        in_intake_dlq=sum(in_dlq.values()),
        lost=len(accepted_ids - stored_ids - set(in_dlq)),
        stored_not_accepted=len(stored_ids - accepted_ids),
        accepted_twice=sum(1 for count in accepted.values() if count > 1),
        signals=sum(signals.values()),
        without_signal=len(stored_ids - set(signals)),
        duplicated_signals=sum(count - 1 for count in signals.values() if count > 1),
        orphan_signals=sum(count for report_id, count in signals.items() if report_id not in stored_ids),
        in_signal_dlqs=in_signal_dlqs,
        left_on_intake_queue=left_on_intake_queue,
    )


# ---------------------------------------------------------------- figures


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max in milliseconds (inclusive method: exact at the sample's ends)."""
    if not values:
        return {}
    if len(values) == 1:
        only = values[0] * 1000
        return {"p50": only, "p95": only, "p99": only, "max": only}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000, "max": max(values) * 1000}


def latency_row(name: str, results: Sequence[RequestResult]) -> str:
    cuts = percentiles([r.seconds for r in results])
    if not cuts:
        return f"| {name} | 0 | - | - | - | - |"
    return (
        f"| {name} | {len(results):,} | {cuts['p50']:,.0f} | {cuts['p95']:,.0f} | {cuts['p99']:,.0f} "
        f"| {cuts['max']:,.0f} |"
    )


def _cuts_line(seconds: Sequence[float], timeout_s: int) -> str:
    cuts = percentiles(seconds)
    if not cuts:
        return "none"
    past = sum(1 for s in seconds if s > timeout_s)
    return (
        f"p50 {cuts['p50']:,.0f} ms, p95 {cuts['p95']:,.0f} ms, max {cuts['max']:,.0f} ms; "
        f"{past} past the timeout"
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=10_000, help="reports in the burst (default 10,000)")
    parser.add_argument("--threads", type=int, default=6, help="client threads (default 6)")
    parser.add_argument("--batch-size", type=int, default=100, help="reports per batch request (1-100)")
    parser.add_argument(
        "--single-share", type=float, default=0.1, help="share of reports sent one per request (default 0.1)"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=30.0,
        help="bound on the whole run: after it, draining stops and the run fails (default 30)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not 1 <= args.batch_size <= 100:
        parser.error("--batch-size must be 1-100 (the API's limit)")
    if not 0.0 <= args.single_share <= 1.0:
        parser.error("--single-share must be between 0 and 1")
    if args.reports < 1 or args.threads < 1:
        parser.error("--reports and --threads must be positive")
    deadline = time.monotonic() + args.max_minutes * 60
    # Powertools warns on every invocation that published no metric (metrics are off locally).
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    from riskradar.local import LocalStack
    from riskradar.local.defaults import local_stack_options

    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"load average (1 / 5 / 15 min) at start: {load_average()}")
    reports = synthetic_reports(args.reports, args.seed)
    planned = plan_requests(
        reports, batch_size=args.batch_size, single_share=args.single_share, seed=args.seed
    )
    singles = sum(1 for p in planned if p.single)
    print(
        f"{len(reports):,} reports: {singles:,} single requests and {len(planned) - singles:,} batch "
        f"requests (up to {args.batch_size}), {args.threads} client threads, loopback only"
    )

    local_logger = logging.getLogger("riskradar-local")
    local_logger.setLevel(logging.WARNING)  # the per-batch info lines would drown the output
    stack_warnings = WarningCounter()
    local_logger.addHandler(stack_warnings)
    started = time.perf_counter()
    with LocalStack.start(
        TEMPLATE, parameters={"Stage": STAGE}, stack_name=f"riskradar-{STAGE}", **local_stack_options()
    ) as stack:
        api_url = stack.serve_http()
        print(f"local stack up in {time.perf_counter() - started:.1f} s: API {api_url}")
        embedder = stack.function(TRIAGE_FUNCTION).module.embedder
        print(f"triage model warmed (loaded once, as a warm container has it): {timed(embedder.load):.1f} s")
        timeouts = {
            name: stack.function(name).configuration.timeout_s for name in (INTAKE_FUNCTION, TRIAGE_FUNCTION)
        }
        intake_calls = observe_invocations(stack, INTAKE_FUNCTION)
        triage_calls = observe_invocations(stack, TRIAGE_FUNCTION)
        signals = SignalTap(stack)
        client = BurstClient(api_url, threads=args.threads, timeout_s=60.0)
        with OtherProcesses() as others:
            stack.start_background()
            signals.start()
            burst_started = time.perf_counter()
            with Progress(stack, client, len(reports)):
                results = client.send_all(planned)
            sent_s = time.perf_counter() - burst_started
            print(f"burst sent in {sent_s:.1f} s; draining the intake queue")
            stack.stop_background()
            drained = True
            try:
                stack.run_until_idle(timeout_s=max(1.0, deadline - time.monotonic()))
            except TimeoutError as error:
                drained = False
                print(f"NOT DRAINED within --max-minutes {args.max_minutes:g}: {error}")
            end_to_end_s = time.perf_counter() - burst_started
            signals.stop()
        stored = scan_report_ids(stack)
        in_dlq = dead_letter_report_ids(stack, "IntakeDeadLetterQueue")
        in_signal_dlqs = sum(
            stack.queue_depth(f"Signal{level.title()}DeadLetterQueue") for level in SIGNAL_LEVELS
        )
        left = stack.queue_depth("IntakeQueue")
        shard_rows = embedding_rows_by_report(stack)
    accepted: Counter[str] = Counter(
        report_id for r in results for report_id, status in r.items if status == "accepted"
    )
    item_statuses: Counter[str] = Counter(status for r in results for _, status in r.items)
    http_statuses: Counter[int] = Counter(r.status for r in results)
    failed_requests = [r for r in results if r.status != 202]
    conservation = check_conservation(
        accepted, stored, in_dlq, signals.by_report, in_signal_dlqs=in_signal_dlqs, left_on_intake_queue=left
    )
    print_report(
        args,
        info=info,
        results=results,
        item_statuses=item_statuses,
        http_statuses=http_statuses,
        sent_s=sent_s,
        end_to_end_s=end_to_end_s,
        conservation=conservation,
        signal_levels=signals.received,
        shard_rows=shard_rows,
        intake_calls=intake_calls,
        triage_calls=triage_calls,
        warnings=stack_warnings.messages,
        others=others.share,
        timeouts=timeouts,
    )
    for failure in failed_requests[:5]:
        print(f"  failed {failure.kind} request: HTTP {failure.status} {failure.error}")
    if args.json:
        figures = {
            "machine": info,
            "reports": len(reports),
            "threads": args.threads,
            "sent_s": sent_s,
            "end_to_end_s": end_to_end_s,
            "latency_ms": {
                kind: percentiles([r.seconds for r in results if r.kind == kind])
                for kind in ("single", "batch")
            },
            "http_statuses": {str(k): v for k, v in http_statuses.items()},
            "item_statuses": dict(item_statuses),
            "conservation": conservation.__dict__,
            "handler_ms": {
                f"{function} {kind}": percentiles(calls.handler_seconds(kind))
                for function, calls, kinds in (
                    (INTAKE_FUNCTION, intake_calls, ("single", "batch")),
                    (TRIAGE_FUNCTION, triage_calls, ("sqs",)),
                )
                for kind in kinds
            },
            "warnings": dict(stack_warnings.messages),
            "other_processes_cpu_share": others.share,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    ok = drained and conservation.holds and not failed_requests
    print("\nRESULT: " + ("conservation holds, no failed request" if ok else "FAILED (see above)"))
    return 0 if ok else 1


def print_report(
    args: argparse.Namespace,
    *,
    info: dict[str, str],
    results: Sequence[RequestResult],
    item_statuses: Counter[str],
    http_statuses: Counter[int],
    sent_s: float,
    end_to_end_s: float,
    conservation: Conservation,
    signal_levels: Counter[str],
    shard_rows: Counter[str],
    intake_calls: Invocations,
    triage_calls: Invocations,
    warnings: Counter[str],
    others: float,
    timeouts: dict[str, int],
) -> None:
    c = conservation
    intake_timeout_s, triage_timeout_s = timeouts[INTAKE_FUNCTION], timeouts[TRIAGE_FUNCTION]
    print(f"\n{args.reports:,} reports, {args.threads} client threads, batches of {args.batch_size}\n")
    print("| requests | count | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|")
    print(latency_row("single report (POST /v1/reports)", [r for r in results if r.kind == "single"]))
    print(latency_row("batch (POST /v1/reports/batch)", [r for r in results if r.kind == "batch"]))
    triage_cuts = percentiles(triage_calls.seconds)
    intake_cuts = percentiles(intake_calls.seconds)
    batch_mean = statistics.fmean(triage_calls.records) if triage_calls.records else 0.0
    rows = [
        ("HTTP statuses", ", ".join(f"{status}: {n:,}" for status, n in sorted(http_statuses.items()))),
        ("report statuses", ", ".join(f"{status} {n:,}" for status, n in sorted(item_statuses.items()))),
        ("intake throughput", f"{c.accepted / sent_s:,.0f} reports/s accepted ({sent_s:.1f} s of sending)"),
        (
            "end to end (first request to every report stored)",
            f"{c.stored / end_to_end_s:,.0f} reports/s ({end_to_end_s:.1f} s)",
        ),
        (
            "triage invocations (lock wait included)",
            f"{len(triage_calls.seconds):,}, {batch_mean:.0f} records each on average, "
            f"p50 {triage_cuts.get('p50', 0) / 1000:.2f} s, max {triage_cuts.get('max', 0) / 1000:.2f} s",
        ),
        (
            "intake invocations (lock wait included)",
            f"{len(intake_calls.seconds):,}, p50 {intake_cuts.get('p50', 0):,.0f} ms, "
            f"p95 {intake_cuts.get('p95', 0):,.0f} ms, max {intake_cuts.get('max', 0):,.0f} ms",
        ),
        *[
            (
                f"intake handler alone, {kind} requests (timeout {intake_timeout_s} s)",
                _cuts_line(intake_calls.handler_seconds(kind), intake_timeout_s),
            )
            for kind in ("single", "batch")
        ],
        (
            f"triage handler alone (timeout {triage_timeout_s} s)",
            _cuts_line(triage_calls.handler_seconds("sqs"), triage_timeout_s),
        ),
        ("accepted / stored / in intake DLQ", f"{c.accepted:,} / {c.stored:,} / {c.in_intake_dlq:,}"),
        ("lost (accepted, neither stored nor in the DLQ)", f"{c.lost:,}"),
        ("stored but never accepted; accepted twice", f"{c.stored_not_accepted:,}; {c.accepted_twice:,}"),
        (
            "signals: total / duplicated / missing / orphan",
            f"{c.signals:,} / {c.duplicated_signals:,} / {c.without_signal:,} / {c.orphan_signals:,} "
            f"({', '.join(f'{level} {signal_levels[level]:,}' for level in SIGNAL_LEVELS)})",
        ),
        ("in signal DLQs; left on the intake queue", f"{c.in_signal_dlqs:,}; {c.left_on_intake_queue:,}"),
        (
            "embedding-shard rows: reports / rows (rows beyond one per report)",
            f"{len(shard_rows):,} / {sum(shard_rows.values()):,} "
            f"({sum(n - 1 for n in shard_rows.values() if n > 1):,})",
        ),
        (
            "local stack warnings",
            "; ".join(f"{n}x {message}" for message, n in warnings.most_common(5)) or "none",
        ),
        ("CPU used by other processes meanwhile", f"{others:.0%}"),
        ("load average (1 / 5 / 15 min) at the end", load_average()),
        ("peak RSS of the process", f"{peak_rss_mb():,.0f} MB"),
        ("machine", f"{info['cores']} cores, {info['cpu']}, Python {info['python']}"),
    ]
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if others > NOISY:
        print(f"\nWARNING: other processes used {others:.0%} of the CPU: the timings are skewed")


if __name__ == "__main__":
    sys.exit(main())
