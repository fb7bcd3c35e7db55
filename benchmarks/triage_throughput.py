"""Triage throughput: the triage function end to end against raw embedding, on the same texts.

Both are measured in one run, on the same machine state, because timings on small shared VMs
drift by tens of percent between runs; only the ratio of two measurements taken together means
something. Inputs: the first N Banking77 training queries, prepared as intake would (redacted,
pseudonymised), so both sides embed exactly the same texts; each names one of 400 sellers, drawn as
the replay draws subjects (`--subjects 0`: none, as this benchmark ran before 2026-11-29).

(a) raw: `SentenceEmbedder.encode` on chunks of --batch-size texts, with the triage function's own
    embedder (same backend, same forward batch), measured before and after (b); their mean is used.
(b) triage: N intake messages put straight on the IntakeQueue of the embedded local stack, then
    `run_until_idle()` delivers them to TriageFunction in SQS batches (the template's BatchSize)
    until the queue is empty. Every report must end up in ReportsTable.

    .venv/bin/python benchmarks/triage_throughput.py --reports 2000 --batch-size 100
    .venv/bin/python benchmarks/triage_throughput.py --reports 500 --profile /tmp/triage.prof

Goal: triage / raw >= 0.85, i.e. at most 15 % of the time goes to anything but the model.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import importlib.metadata
import io
import json
import os
import platform
import pstats
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from riskradar.embedding import SentenceEmbedder, resolve_model_path
from riskradar.intake.preparation import prepare_for_queue
from riskradar.local.defaults import LOCAL_ID_HASH_KEY, PROJECT_ROOT, TEMPLATE
from riskradar.models import QueuedReport, Reporter, ReporterRole, ReportIn, Subject, SubjectType
from riskradar.pseudonymize import IdHasher
from riskradar.replay import draw_subject_rank

if TYPE_CHECKING:
    from riskradar.local import LocalStack

DATASET = PROJECT_ROOT / "data" / "banking77" / "train.csv"
TRIAGE_FUNCTION = "TriageFunction"
INTAKE_QUEUE = "IntakeQueue"
INTAKE_DLQ = "IntakeDeadLetterQueue"
REPORTS_TABLE = "ReportsTable"
BUSINESSES = ("shop", "live", "payments", "ads")
ROLES = (ReporterRole.USER, ReporterRole.SELLER, ReporterRole.CREATOR)
GOAL = 0.85
#: Sellers the reports name, as many as the replay's (riskradar.replay.ReplayPlan.subjects).
SUBJECTS = 400
#: Above this share of the CPU taken by other processes, a run is flagged as skewed.
NOISY = 0.10


@dataclass(frozen=True)
class RawResult:
    backend: str
    forward_batch: int
    texts_per_s: float
    #: Share of the machine's CPU that other processes used meanwhile.
    others: float


@dataclass(frozen=True)
class TriageResult:
    seconds: float
    stored: int
    left_on_queue: int
    in_dead_letter_queue: int
    #: Wall time of each TriageFunction invocation (one per SQS batch), in delivery order.
    handler_seconds: list[float]
    #: Share of the machine's CPU that other processes used meanwhile.
    others: float

    @property
    def batches(self) -> int:
        return len(self.handler_seconds)

    def reports_per_s(self, count: int) -> float:
        return count / self.seconds


class OtherProcesses:
    """Share of the machine's CPU time used by other processes while a block runs.

    Benchmarks on shared 2-core VMs are skewed whenever something else runs; this says when.
    Linux only (/proc/stat); 0.0 elsewhere.
    """

    def __init__(self) -> None:
        self.share = 0.0

    def __enter__(self) -> OtherProcesses:
        self._start = (_machine_jiffies(), os.times())
        return self

    def __exit__(self, *exc: object) -> None:
        (busy_0, total_0), times_0 = self._start
        (busy_1, total_1), times_1 = _machine_jiffies(), os.times()
        if total_1 <= total_0:
            return
        ticks = os.sysconf("SC_CLK_TCK")
        own = (times_1.user + times_1.system - times_0.user - times_0.system) * ticks
        self.share = max(0.0, (busy_1 - busy_0) - own) / (total_1 - total_0)


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return 0, 0
    fields = [int(value) for value in stat.read_text().splitlines()[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


# ---------------------------------------------------------------- inputs


def banking77_texts(count: int) -> list[str]:
    with DATASET.open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    if count > len(texts):
        raise SystemExit(f"--reports {count}: {DATASET.name} has only {len(texts)} rows")
    return texts[:count]


def queued_reports(texts: Sequence[str], *, subjects: int = SUBJECTS) -> list[QueuedReport]:
    """The messages intake would have enqueued for these texts (spread over businesses and roles).

    Each report names a seller, drawn as the replay draws subjects (`riskradar.replay`: a few draw
    many reports): triage counts each subject's distinct reporters, one DynamoDB update per subject
    of a batch, and a benchmark without subjects leaves out most of triage's AWS calls.
    `subjects=0`: no report names a subject (how this benchmark ran before 2026-11-29).
    """
    hasher = IdHasher(LOCAL_ID_HASH_KEY.encode())
    received = datetime.now(UTC)
    draw = random.Random(0)
    reports = []
    for index, text in enumerate(texts):
        report = ReportIn(
            report_id=f"bench-{index:06d}",
            business=BUSINESSES[index % len(BUSINESSES)],
            reporter=Reporter(id=f"reporter-{index % 997}", role=ROLES[index % len(ROLES)]),
            subject=(
                Subject(type=SubjectType.SELLER, id=f"seller-{draw_subject_rank(draw, subjects)}")
                if subjects
                else None
            ),
            text=text,
            created_at=received - timedelta(seconds=len(texts) - index),
        )
        reports.append(prepare_for_queue(report, hasher=hasher, received_at=received))
    return reports


# ---------------------------------------------------------------- (a) raw encoding


def measure_raw(embedder: SentenceEmbedder, texts: Sequence[str], batch_size: int) -> RawResult:
    embedder.encode(texts[:batch_size])  # warm: first-call allocations, lazy kernels
    with OtherProcesses() as others:
        started = time.perf_counter()
        for start in range(0, len(texts), batch_size):
            embedder.encode(texts[start : start + batch_size])
        elapsed = time.perf_counter() - started
    return RawResult(embedder.backend, embedder.batch_size, len(texts) / elapsed, others.share)


def measure_torch_raw(texts: Sequence[str], batch_size: int) -> RawResult:
    """The same measurement with the reference torch backend, for the backend comparison."""
    embedder = SentenceEmbedder(resolve_model_path(None), backend="torch")
    embedder.load()
    return measure_raw(embedder, texts, batch_size)


# ---------------------------------------------------------------- (b) triage on the local stack


def triage_function_present() -> bool:
    return (PROJECT_ROOT / "functions" / "triage" / "app.py").is_file() and (
        TRIAGE_FUNCTION in TEMPLATE.read_text(encoding="utf-8")
    )


def template_batch_size() -> int:
    """The BatchSize of TriageFunction's SQS event source in template.yaml."""
    from riskradar.local.template import SamTemplate

    resource = SamTemplate.load(TEMPLATE).resources[TRIAGE_FUNCTION]
    events = resource["Properties"].get("Events", {})
    sizes = [int(event["Properties"]["BatchSize"]) for event in events.values() if event["Type"] == "SQS"]
    if len(sizes) != 1:
        raise SystemExit(f"{TRIAGE_FUNCTION} should have exactly one SQS event source, found {len(sizes)}")
    return sizes[0]


def send_to_queue(stack: LocalStack, reports: Sequence[QueuedReport]) -> None:
    sqs = stack.client("sqs")
    url = stack.physical_id(INTAKE_QUEUE)
    for start in range(0, len(reports), 10):  # SendMessageBatch takes ten entries at most
        chunk = reports[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": r.model_dump_json()} for i, r in enumerate(chunk)],
        )
        if response.get("Failed"):
            raise SystemExit(f"could not enqueue: {response['Failed']}")


def count_items(stack: LocalStack, logical_id: str) -> int:
    paginator = stack.client("dynamodb").get_paginator("scan")
    return sum(
        int(page["Count"])
        for page in paginator.paginate(TableName=stack.physical_id(logical_id), Select="COUNT")
    )


def run_triage(stack: LocalStack, reports: Sequence[QueuedReport], profile: Path | None) -> TriageResult:
    function = stack.function(TRIAGE_FUNCTION)
    handler_seconds: list[float] = []
    original_invoke = function.invoke

    def timed_invoke(event: Any) -> Any:  # observes the deliveries, changes nothing
        started = time.perf_counter()
        try:
            return original_invoke(event)
        finally:
            handler_seconds.append(time.perf_counter() - started)

    function.invoke = timed_invoke  # type: ignore[method-assign]
    send_to_queue(stack, reports)
    if stack.queue_depth(INTAKE_QUEUE) != len(reports):
        raise SystemExit(
            f"expected {len(reports)} messages on {INTAKE_QUEUE}, found {stack.queue_depth(INTAKE_QUEUE)}"
        )
    profiler = cProfile.Profile() if profile else None
    with OtherProcesses() as others:
        started = time.perf_counter()
        try:
            if profiler is not None:
                profiler.enable()
            stack.run_until_idle(timeout_s=max(300.0, len(reports) * 0.5))
        finally:
            if profiler is not None:
                profiler.disable()
            function.invoke = original_invoke  # type: ignore[method-assign]
        elapsed = time.perf_counter() - started
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
        print_profile(profiler, elapsed)
    return TriageResult(
        seconds=elapsed,
        stored=count_items(stack, REPORTS_TABLE),
        left_on_queue=stack.queue_depth(INTAKE_QUEUE),
        in_dead_letter_queue=stack.queue_depth(INTAKE_DLQ),
        handler_seconds=handler_seconds,
        others=others.share,
    )


def print_profile(profiler: cProfile.Profile, elapsed: float) -> None:
    for key, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(key).print_stats(25)
        print(f"\n--- profile of the triage run ({elapsed:.1f} s), top 25 by {title} ---")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:8000])


# ---------------------------------------------------------------- machine and report


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cores": f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()}",
        "cpu": cpu,
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "torch": version("torch"),
        "onnxruntime": version("onnxruntime"),
        "sentence-transformers": version("sentence-transformers"),
    }


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / scale / 1024


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=2000, help="first N Banking77 rows (default 2000)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="texts per encode call; must be the template's BatchSize"
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the triage run into this file")
    parser.add_argument(
        "--compare-torch", action="store_true", help="also measure raw encoding with the torch backend"
    )
    parser.add_argument("--raw-only", action="store_true", help="measure (a) only, without the local stack")
    parser.add_argument(
        "--subjects",
        type=int,
        default=SUBJECTS,
        help=f"sellers the reports name, drawn as the replay draws them (default {SUBJECTS}); 0: none",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args()

    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    texts_in = banking77_texts(args.reports)
    reports = queued_reports(texts_in, subjects=args.subjects)
    texts = [report.text for report in reports]  # what triage embeds: the redacted text
    with_triage = not args.raw_only and triage_function_present()
    if not args.raw_only and not with_triage:
        print(f"(b) skipped: {TRIAGE_FUNCTION} is not in template.yaml / functions/triage/app.py yet")
    batch_size = args.batch_size or (template_batch_size() if with_triage else 100)
    if with_triage and batch_size != template_batch_size():
        raise SystemExit(
            f"--batch-size {batch_size} differs from the template's BatchSize {template_batch_size()} for "
            f"{TRIAGE_FUNCTION}: the comparison would not be like for like (edit the template to try it)"
        )

    results: dict[str, Any] = {
        "machine": info,
        "reports": len(reports),
        "batch_size": batch_size,
        "subjects": args.subjects,
    }
    raws: list[RawResult] = []
    torch_raw: RawResult | None = None
    triage: TriageResult | None = None
    if with_triage:
        from riskradar.local import LocalStack
        from riskradar.local.defaults import local_stack_options

        started = time.perf_counter()
        with LocalStack.start(TEMPLATE, **local_stack_options()) as stack:
            print(f"local stack up in {time.perf_counter() - started:.1f} s")
            embedder = getattr(stack.function(TRIAGE_FUNCTION).module, "embedder", None)
            if not isinstance(embedder, SentenceEmbedder):
                raise SystemExit(f"{TRIAGE_FUNCTION}'s module has no SentenceEmbedder named `embedder`")
            load_s = timed(embedder.load)
            print(f"model load (in-process, imports included): {load_s:.1f} s")
            results["model_load_s"] = load_s
            raws.append(measure_raw(embedder, texts, batch_size))
            torch_raw = measure_torch_raw(texts, batch_size) if args.compare_torch else None
            print(
                f"(a) raw encode, before: {raws[-1].texts_per_s:7.1f} texts/s (others: {raws[-1].others:.0%})"
            )
            triage = run_triage(stack, reports, args.profile)
            raws.append(measure_raw(embedder, texts, batch_size))
            print(
                f"(a) raw encode, after:  {raws[-1].texts_per_s:7.1f} texts/s (others: {raws[-1].others:.0%})"
            )
    else:
        embedder = SentenceEmbedder(resolve_model_path(None))
        results["model_load_s"] = timed(embedder.load)
        raws.append(measure_raw(embedder, texts, batch_size))
        torch_raw = measure_torch_raw(texts, batch_size) if args.compare_torch else None
    raw_rate = statistics.fmean(r.texts_per_s for r in raws)
    rows: list[tuple[str, str]] = [
        (
            f"raw `SentenceEmbedder.encode` ({raws[0].backend}, forward batch {raws[0].forward_batch})",
            f"{raw_rate:,.0f} texts/s",
        )
    ]
    results["raw_texts_per_s"] = [r.texts_per_s for r in raws]
    if torch_raw is not None:
        results["raw_torch_texts_per_s"] = torch_raw.texts_per_s
        rows.append(
            (
                f"raw, torch backend (forward batch {torch_raw.forward_batch}, measured next to the first)",
                f"{torch_raw.texts_per_s:,.0f} texts/s",
            )
        )
    if triage is not None:
        rate = triage.reports_per_s(len(reports))
        ratio = rate / raw_rate
        failures = len(reports) - triage.stored
        results.update(
            triage_s=triage.seconds,
            triage_reports_per_s=rate,
            ratio=ratio,
            stored=triage.stored,
            left_on_queue=triage.left_on_queue,
            in_dead_letter_queue=triage.in_dead_letter_queue,
            batches=triage.batches,
        )
        handler_s = sum(triage.handler_seconds)
        handler_rate = len(reports) / handler_s
        handler_ratio = handler_rate / raw_rate
        first, last = triage.handler_seconds[0], triage.handler_seconds[-1]
        results.update(
            handler_s=handler_s,
            handler_reports_per_s=handler_rate,
            handler_ratio=handler_ratio,
            handler_seconds=triage.handler_seconds,
        )
        rows += [
            (f"triage end to end, local stack ({triage.batches} SQS batches)", f"{rate:,.0f} reports/s"),
            (f"triage / raw (goal >= {GOAL})", f"{ratio:.2f} {'met' if ratio >= GOAL else 'NOT met'}"),
            (
                "inside TriageFunction only (no SQS polling)",
                f"{handler_rate:,.0f} reports/s, {handler_ratio:.2f} of raw; "
                f"batch {first:.2f} s first, {last:.2f} s last",
            ),
            (
                "local stack's SQS polling (receive + delete)",
                f"{triage.seconds - handler_s:.1f} s of {triage.seconds:.1f} s",
            ),
            (
                "reports stored / failed",
                f"{triage.stored:,} / {failures:,} ({triage.in_dead_letter_queue} in DLQ, "
                f"{triage.left_on_queue} left on queue)",
            ),
        ]
        if triage.stored != len(reports):
            print(f"WARNING: {len(reports)} reports sent, {triage.stored} stored in {REPORTS_TABLE}")
    # In the order the label gives (cost_model.py reads the triage share at index 1).
    shares = (
        [raws[0].others, triage.others, *(raw.others for raw in raws[1:])]
        if triage is not None
        else [raw.others for raw in raws]
    )
    results["other_processes_cpu_share"] = shares
    rows.append(
        (
            "CPU used by other processes meanwhile",
            " / ".join(f"{share:.0%}" for share in shares)
            + (" (raw before / triage / raw after)" if triage is not None else ""),
        )
    )
    if max(shares) > NOISY:
        print(f"WARNING: other processes used up to {max(shares):.0%} of the CPU: the numbers are skewed")
    rss = peak_rss_mb()
    results["peak_rss_mb"] = rss
    rows.append(("peak RSS of the process", f"{rss:,.0f} MB"))
    rows.append(
        (
            "machine",
            f"{info['cores']} cores, {info['cpu']}, Python {info['python']}, torch {info['torch']}, "
            f"onnxruntime {info['onnxruntime']}",
        )
    )
    named = f"naming {args.subjects} sellers" if args.subjects else "naming no subject"
    print(f"\n{len(reports):,} Banking77 texts, {batch_size} per batch, {named}\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
