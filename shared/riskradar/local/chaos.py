"""Conservation under faults: replay reports through the local stack while a FaultPlan breaks
things, then check from the stores and queues themselves that no report was lost or doubled.

    python -m riskradar.local.chaos --reports 2000              # the suite's run (tests/e2e/test_chaos.py)
    python -m riskradar.local.chaos --reports 6000 --heavy     # `make chaos`

A client posts real Banking77 texts to the HTTP API in batches and retries what was not taken (5xx,
items `failed` or `in_progress`), as a well-behaved client does; the SQS event sources consume
meanwhile. Faults: handler invocations crashing before or after their work, timing out after
their k-th AWS call, DynamoDB/S3/SQS calls throttled (per attempt, which botocore retries, and past
its retries), successful messages delivered again, poison messages on the intake queue.

Then, with faults off, every figure comes from the stores and queues, not from the code under test:

* accepted — report ids the API answered `accepted` (or `duplicate`: a retry of one it accepted);
* stored — accepted ids whose ReportsTable record is `sent` (its signal accepted by SQS);
* in DLQ — accepted ids not stored whose message is in the intake dead-letter queue (with the
  reason a consumer recorded, or without one when SQS's redrive moved it);
* lost — accepted ids in neither;
* duplicated signals — signals beyond the first per report id, drained from the three signal
  queues and their dead-letter queues;
* half-written — records that are not `sent` and whose report is not in a DLQ (nothing will finish
  them), `sent` records missing a field, `sent` records without a signal, signals without a record;
* novelty — stored reports the online detector has not observed (its state remembers the ids it
  observed) whose shard notice is not in the novelty dead-letter queue either.

Finally the dead-letter queues are redriven (riskradar.dlq, what `riskradar dlq redrive` runs),
the pipeline drains once more, and the figures are taken again: every accepted report stored once.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests

from riskradar.adapters.dynamodb import ReportStore, SignalState
from riskradar.adapters.queue_admin import QueueAdmin, StackQueues
from riskradar.adapters.s3 import JsonStateStore
from riskradar.dlq import DeadLetter, DeadLetterOperator
from riskradar.local.defaults import PROJECT_ROOT, TEMPLATE, local_stack_options
from riskradar.local.faults import FaultLedger, FaultPlan, FunctionFaults
from riskradar.local.stack import LocalStack
from riskradar.online_detection import ObservedMemory, report_fingerprint
from riskradar.replay import ReplayPlan, SourceRow, read_rows, synthesize_reports

DATASET = PROJECT_ROOT / "data" / "banking77" / "train.csv"
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")
SIGNAL_DLQS = tuple(queue.replace("Queue", "DeadLetterQueue") for queue in SIGNAL_QUEUES)
#: What a stored (`sent`) record must hold.
RECORD_FIELDS = (
    "report_id",
    "business",
    "text",
    "created_at",
    "theme_id",
    "score",
    "priority",
    "reasons",
    "signal_state",
    "signal_message_id",
)

_PIPELINE = FunctionFaults(
    crash_before=0.04, crash_after=0.05, timeout=0.06, throttle=0.004, throttle_exhausted=0.001
)
#: The suite's faults: about 15 % of triage and novelty invocations fail (crash before, crash
#: after the work, timeout part-way), intake's 9 %; throttling mostly absorbed by botocore.
SUITE_PLAN = FaultPlan(
    seed=7,
    functions={
        "TriageFunction": _PIPELINE,
        "NoveltyFunction": _PIPELINE,
        "IntakeFunction": FunctionFaults(
            crash_before=0.03, crash_after=0.03, timeout=0.03, throttle=0.002, throttle_exhausted=0.001
        ),
    },
    redeliver=0.05,
    poison=0.3,
    timeout_after_calls=(1, 100),
)
_HEAVY_PIPELINE = FunctionFaults(
    crash_before=0.07, crash_after=0.07, timeout=0.08, throttle=0.006, throttle_exhausted=0.004
)
#: `make chaos`: about twice as many faults.
HEAVY_PLAN = FaultPlan(
    seed=11,
    functions={
        "TriageFunction": _HEAVY_PIPELINE,
        "NoveltyFunction": _HEAVY_PIPELINE,
        "IntakeFunction": FunctionFaults(
            crash_before=0.05, crash_after=0.05, timeout=0.05, throttle=0.003, throttle_exhausted=0.002
        ),
    },
    redeliver=0.1,
    poison=0.5,
    timeout_after_calls=(1, 150),
)


@dataclass(frozen=True)
class ChaosOptions:
    reports: int = 2000
    seed: int = 7
    plan: FaultPlan = SUITE_PLAN
    #: Reports per API request (the batch route takes up to 100).
    batch_size: int = 100
    #: How long the client keeps retrying what the API did not take, and the pipeline may take to drain.
    client_deadline_s: float = 300.0
    drain_timeout_s: float = 900.0


@dataclass
class Figures:
    """Conservation figures at one moment (see the module docstring)."""

    accepted: int = 0
    stored: int = 0
    in_dlq_with_reason: int = 0
    in_dlq_without_reason: int = 0
    lost: int = 0
    duplicated_signals: int = 0
    half_written: int = 0
    #: Stored but never accepted by the API (must be 0).
    unexpected_stored: int = 0
    signals: int = 0
    #: DLQ copies of reports that are stored anyway (a redrive finds them done).
    stale_dlq_copies: int = 0
    poison_injected: int = 0
    poison_in_dlq_with_reason: int = 0
    #: Poison whose last attempt crashed or timed out: SQS's redrive moved it, without a reason.
    poison_in_dlq_without_reason: int = 0
    novelty_observed: int = 0
    novelty_in_dlq: int = 0
    novelty_missed: int = 0
    #: Report ids of each kind of problem, for a failing test to show.
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def in_dlq(self) -> int:
        return self.in_dlq_with_reason + self.in_dlq_without_reason


@dataclass
class ChaosRun:
    options: ChaosOptions
    accepted: set[str]
    sent_requests: int
    refused: Counter[str]
    before: Figures
    after: Figures
    ledger: FaultLedger
    redriven: dict[str, int]
    seconds: dict[str, float]


# ------------------------------------------------------------------------------------------ run


def run_chaos(stack: LocalStack, options: ChaosOptions, out: TextIO | None = None) -> ChaosRun:
    """Replay, fault, check, redrive, check again (the stack is left without faults)."""
    reports = chaos_reports(options.reports, options.seed)
    for queue in (
        "IntakeQueue",
        "IntakeDeadLetterQueue",
        "NoveltyDeadLetterQueue",
        *SIGNAL_QUEUES,
        *SIGNAL_DLQS,
    ):
        _purge(stack, queue)
    injector = stack.inject_faults(options.plan)
    assert injector is not None
    seconds: dict[str, float] = {}
    started = time.monotonic()
    try:
        stack.start_background()
        try:
            accepted, sent_requests, refused = post_with_retries(
                stack.api_url, reports, batch_size=options.batch_size, deadline_s=options.client_deadline_s
            )
            seconds["replay"] = time.monotonic() - started
        finally:
            stack.stop_background()
        stack.run_until_idle(timeout_s=options.drain_timeout_s)
        seconds["drained"] = time.monotonic() - started
        injector.enabled = False
        poison = dict(injector.ledger.poison_messages)
        signals = Counter[str]()
        before = measure(stack, accepted, poison, signals)
        redriven = redrive_all(stack)
        stack.run_until_idle(timeout_s=options.drain_timeout_s)
        after = measure(stack, accepted, poison, signals)
        seconds["total"] = time.monotonic() - started
    finally:
        stack.inject_faults(None)
    run = ChaosRun(
        options, accepted, sent_requests, refused, before, after, injector.ledger, redriven, seconds
    )
    if out is not None:
        print_run(run, out)
    return run


def chaos_reports(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` intake reports of real Banking77 texts, with ids no earlier run used."""
    rows = read_rows(DATASET, text_column="text", label_column="category")
    rng = random.Random(seed)
    picked: list[SourceRow] = rng.sample(rows, count) if count <= len(rows) else rng.choices(rows, k=count)
    plan = ReplayPlan(seed=seed, days=3, id_prefix=f"chaos-{uuid.uuid4().hex[:8]}")
    return synthesize_reports(picked, plan)


def post_with_retries(
    api_url: str, reports: Sequence[dict[str, Any]], *, batch_size: int, deadline_s: float
) -> tuple[set[str], int, Counter[str]]:
    """POST every report; retry requests and items the API did not take (5xx, `failed`,
    `in_progress`) until it took them or the deadline passed. Returns the accepted ids (an item
    answered `duplicate` was accepted by an earlier attempt), the requests sent, what was refused."""
    http = requests.Session()
    accepted: set[str] = set()
    refused: Counter[str] = Counter()
    requests_sent = 0
    pending = [list(reports[start : start + batch_size]) for start in range(0, len(reports), batch_size)]
    deadline = time.monotonic() + deadline_s
    while pending and time.monotonic() < deadline:
        retry: list[dict[str, Any]] = []
        for batch in pending:
            requests_sent += 1
            try:
                response = http.post(f"{api_url}/v1/reports/batch", json={"reports": batch}, timeout=120)
                body = response.json()
            except (requests.RequestException, ValueError):
                retry.extend(batch)
                continue
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                retry.extend(batch)  # the request failed as a whole (500 from a crashed invocation)
                continue
            for item in items:
                report = batch[int(item["index"])]
                status = str(item.get("status"))
                if status in ("accepted", "duplicate"):
                    accepted.add(report["report_id"])
                elif status in ("failed", "in_progress"):
                    retry.append(report)
                else:
                    refused[status] += 1
        pending = [retry[start : start + batch_size] for start in range(0, len(retry), batch_size)]
        if pending:
            time.sleep(1.0)  # an item in progress is free again once its invocation's time is up
    refused["never taken"] += sum(len(batch) for batch in pending)
    return accepted, requests_sent, refused


def redrive_all(stack: LocalStack) -> dict[str, int]:
    """Redrive every dead-letter queue that holds something; messages moved, by queue."""
    operator = _operator(stack)
    moved = {}
    for dlq in operator.queues:
        result = operator.redrive(dlq)
        if result.moved:
            moved[dlq.name] = len(result.moved)
    return moved


# ------------------------------------------------------------------------------------------ measure


def measure(stack: LocalStack, accepted: set[str], poison: dict[str, str], signals: Counter[str]) -> Figures:
    """The figures now. `signals` accumulates the signals drained so far (they leave their queues)."""
    figures = Figures(accepted=len(accepted), poison_injected=len(poison))
    for queue in (*SIGNAL_QUEUES, *SIGNAL_DLQS):
        signals.update(_drain_report_ids(stack, queue))
    store = ReportStore(
        stack.session.resource("dynamodb", endpoint_url=stack.endpoint_url), stack.physical_id("ReportsTable")
    )
    records = store.get_many(accepted | set(signals))
    operator = _operator(stack)
    intake_letters = operator.list(operator.select("intake"), limit=100_000).letters
    in_dlq: dict[str, DeadLetter] = {}
    poison_bodies = set(poison.values())
    # A message may be in a DLQ twice (a consumer's letter, then SQS's move of the same message):
    # each poison message counts once, with a reason if any of its copies has one.
    poison_reasons: dict[str, bool] = {}
    for letter in intake_letters:
        if letter.body in poison_bodies:
            poison_reasons[letter.body] = poison_reasons.get(letter.body, False) or letter.reason is not None
            continue
        report_id = _report_id(letter.body)
        if report_id is not None and (report_id not in in_dlq or letter.reason is not None):
            in_dlq[report_id] = letter

    figures.poison_in_dlq_with_reason = sum(poison_reasons.values())
    figures.poison_in_dlq_without_reason = len(poison_reasons) - figures.poison_in_dlq_with_reason
    problems: dict[str, list[str]] = {}
    for report_id in sorted(accepted):
        record = records.get(report_id)
        sent = record is not None and record.get("signal_state", SignalState.SENT) == SignalState.SENT
        if sent:
            figures.stored += 1
            if report_id in in_dlq:
                figures.stale_dlq_copies += 1
            missing = [name for name in RECORD_FIELDS if name not in record]  # type: ignore[operator]
            if missing:
                problems.setdefault("sent record missing fields", []).append(f"{report_id}: {missing}")
            if signals[report_id] == 0:
                problems.setdefault("stored without a signal", []).append(report_id)
        elif report_id in in_dlq:
            if in_dlq[report_id].reason is not None:
                figures.in_dlq_with_reason += 1
            else:
                figures.in_dlq_without_reason += 1
        else:
            problems.setdefault("lost", []).append(report_id)
            if record is not None:
                problems.setdefault("pending record, report in no DLQ", []).append(report_id)
        if signals[report_id] > 1:
            problems.setdefault("duplicated signal", []).append(f"{report_id} x{signals[report_id]}")
        if signals[report_id] and not sent and report_id not in in_dlq:
            problems.setdefault("signal without a stored record", []).append(report_id)
    figures.unexpected_stored = sum(
        1
        for rid, rec in records.items()
        if rid not in accepted and rec.get("signal_state") == SignalState.SENT
    )
    figures.signals = sum(signals[report_id] for report_id in accepted)
    figures.lost = len(problems.get("lost", []))
    figures.duplicated_signals = sum(max(0, signals[report_id] - 1) for report_id in accepted)
    figures.half_written = sum(
        len(problems.get(kind, []))
        for kind in (
            "pending record, report in no DLQ",
            "sent record missing fields",
            "stored without a signal",
            "signal without a stored record",
        )
    )
    _measure_novelty(stack, operator, [rid for rid in accepted if rid in records], figures, problems)
    figures.problems = problems
    return figures


def _measure_novelty(
    stack: LocalStack,
    operator: DeadLetterOperator,
    stored: Iterable[str],
    figures: Figures,
    problems: dict[str, list[str]],
) -> None:
    novelty = stack.function("NoveltyFunction").environment
    state = JsonStateStore(
        stack.client("s3"), novelty["ARTIFACTS_BUCKET"], novelty["NOVELTY_STATE_KEY"]
    ).load()
    document = state.document if state is not None else None
    memory = ObservedMemory.from_document(
        document["observed"]
        if document
        else {"shard_keys": [], "report_counts": [], "report_fingerprints": ""},
        int(novelty["NOVELTY_REMEMBER_REPORTS"]),
    )
    shards_in_dlq = {
        json.loads(letter.body).get("shard_key")
        for letter in operator.list(operator.select("novelty"), limit=100_000).letters
        if letter.body.startswith("{")
    }
    reports_in_dlq: set[str] = set()
    if shards_in_dlq:
        from riskradar.adapters.s3 import EmbeddingShardStore

        shards = EmbeddingShardStore(stack.client("s3"), novelty["ARTIFACTS_BUCKET"])
        for key in shards_in_dlq:
            reports_in_dlq.update(shards.read(str(key)).report_ids)
    for report_id in stored:
        if memory.seen(report_fingerprint(report_id)):
            figures.novelty_observed += 1
        elif report_id in reports_in_dlq:
            figures.novelty_in_dlq += 1
        else:
            figures.novelty_missed += 1
            problems.setdefault("not observed by the novelty detector", []).append(report_id)


def _report_id(body: str) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    report_id = parsed.get("report_id") if isinstance(parsed, dict) else None
    return report_id if isinstance(report_id, str) else None


def _drain_report_ids(stack: LocalStack, logical_id: str) -> list[str]:
    sqs = stack.client("sqs")
    url = stack.physical_id(logical_id)
    ids: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages", []
    ):
        ids += [str(json.loads(message["Body"])["report_id"]) for message in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return ids


def _purge(stack: LocalStack, logical_id: str) -> None:
    stack.client("sqs").purge_queue(QueueUrl=stack.physical_id(logical_id))


def _operator(stack: LocalStack) -> DeadLetterOperator:
    sqs = stack.client("sqs")
    return DeadLetterOperator(
        StackQueues(stack.client("cloudformation"), sqs).queues(stack.stack_name), QueueAdmin(sqs)
    )


# ------------------------------------------------------------------------------------------ report


def print_run(run: ChaosRun, out: TextIO) -> None:
    before, after = run.before, run.after
    print(
        f"\nchaos: {run.options.reports:,} reports (seed {run.options.seed}), "
        f"fault plan seed {run.options.plan.seed}",
        file=out,
    )
    rows: list[tuple[str, int | str, int | str]] = [
        ("accepted", before.accepted, after.accepted),
        ("stored (signal sent)", before.stored, after.stored),
        ("in DLQ, with reason", before.in_dlq_with_reason, after.in_dlq_with_reason),
        ("in DLQ, no reason", before.in_dlq_without_reason, after.in_dlq_without_reason),
        ("lost", before.lost, after.lost),
        ("duplicated signals", before.duplicated_signals, after.duplicated_signals),
        ("half-written", before.half_written, after.half_written),
        ("stored, never accepted", before.unexpected_stored, after.unexpected_stored),
        ("signals (all queues)", before.signals, after.signals),
        ("DLQ copies of stored", before.stale_dlq_copies, after.stale_dlq_copies),
        ("poison injected", before.poison_injected, after.poison_injected),
        ("poison in DLQ, with reason", before.poison_in_dlq_with_reason, after.poison_in_dlq_with_reason),
        ("poison in DLQ, no reason", before.poison_in_dlq_without_reason, after.poison_in_dlq_without_reason),
        ("novelty: observed", before.novelty_observed, after.novelty_observed),
        ("novelty: notice in DLQ", before.novelty_in_dlq, after.novelty_in_dlq),
        ("novelty: missed", before.novelty_missed, after.novelty_missed),
    ]
    print(f"  {'':<26}{'after the faults':>18}{'after redrive':>16}", file=out)
    for name, first, second in rows:
        print(f"  {name:<26}{_n(first):>18}{_n(second):>16}", file=out)
    ledger = run.ledger
    invocations = sum(ledger.invocations.values())
    print(
        f"  invocations {invocations:,}, of which failed by plan {ledger.failed_invocations} "
        f"({ledger.failed_invocations / max(1, invocations):.0%}): by function {ledger.invocations}",
        file=out,
    )
    injected = ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in ledger.as_dict().items())
    print(f"  injected: {injected}", file=out)
    print(
        f"  redriven: {run.redriven or 'nothing'}; client requests {run.sent_requests}, "
        f"refused {dict(run.refused) or 'none'}",
        file=out,
    )
    print(
        "  seconds: " + ", ".join(f"{name} {value:.0f}" for name, value in run.seconds.items()),
        file=out,
    )
    for kind, ids in {
        **before.problems,
        **{f"{k} (after redrive)": v for k, v in after.problems.items()},
    }.items():
        print(f"  PROBLEM {kind}: {len(ids)} e.g. {ids[:3]}", file=out)


def _n(value: int | str) -> str:
    return f"{value:,}" if isinstance(value, int) else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--heavy", action="store_true", help="about twice the faults (make chaos)")
    args = parser.parse_args(argv)
    # The functions' failures are the point here; their logs (and Powertools' tracebacks) are not.
    for name in ("riskradar-local", "aws_lambda_powertools", "aws.lambda"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    options = ChaosOptions(
        reports=args.reports, seed=args.seed, plan=HEAVY_PLAN if args.heavy else SUITE_PLAN
    )
    with LocalStack.start(TEMPLATE, stack_name="riskradar-chaos", **local_stack_options()) as stack:
        stack.serve_http()
        run = run_chaos(stack, options, sys.stdout)
    ok = (
        all(
            (figures.lost, figures.duplicated_signals, figures.half_written, figures.unexpected_stored)
            == (0, 0, 0, 0)
            for figures in (run.before, run.after)
        )
        and run.after.stored == run.after.accepted
    )
    print("conservation holds" if ok else "CONSERVATION VIOLATED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
