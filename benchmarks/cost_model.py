"""AWS cost of 1 million reports through riskradar, from measured compute and request counts, next to
the managed alternative (Amazon Comprehend).

Inputs (the benchmarks' JSON outputs; `make cost` produces the missing ones):

  out/pipeline_requests.json   benchmarks/pipeline_requests.py: intake compute per request, and every
                               AWS call (and its billed units) per report for intake and triage and
                               per recluster run
  out/triage_throughput.json   benchmarks/triage_throughput.py --json: the triage function's time per
                               SQS batch (wall clock), with the CPU share other processes took meanwhile
  out/cluster_scale.json       benchmarks/cluster_scale.py --json: clustering time at 10k-100k reports

    .venv/bin/python benchmarks/cost_model.py                       # 1M reports a month
    .venv/bin/python benchmarks/cost_model.py --monthly-reports 100000 --duration wall

Assumptions (each printed with the table): Lambda bills the duration measured here (CPU time by
default: the shared machines these numbers come from are busy, and their wall clock times include
waiting for other processes' work; `--duration wall` uses wall time), plus --aws-call-ms for each call
to another AWS service (which the local stack answers in-process); arm64 Graviton runs this code as
fast as the x86 core it was measured on; report text length as measured (Banking77: short queries).
Prices: us-east-1, on-demand, no free tier, no savings plan.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from riskradar.shard_compaction import RECOMPACT_AFTER

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out"
MILLION = 1_000_000

# ----------------------------------------------------------------------------------------------- prices
# us-east-1, USD, on-demand list prices. Checked 2026-11-28 against the AWS pricing pages named; prices
# change: re-check before relying on the result.
#: https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 billion GB-s a month; requests)
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / MILLION
#: https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million requests a month;
#: metered in 512 KB increments)
HTTP_API_REQUEST = 1.00 / MILLION
#: https://aws.amazon.com/sqs/pricing/ (standard queues, after the first 1 million free requests;
#: each 64 KB chunk of a payload is one request). FIFO queues ($0.50 per million) are not used.
SQS_STANDARD_REQUEST = 0.40 / MILLION
SQS_FIFO_REQUEST = 0.50 / MILLION
#: https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the 2024-11-01 price cut: write request
#: units $0.625, read request units $0.125 per million; standard table class storage $0.25 per GB-month;
#: continuous backups (PITR) $0.20 per GB-month)
DYNAMODB_WRITE_UNIT = 0.625 / MILLION
DYNAMODB_READ_UNIT = 0.125 / MILLION
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20
#: https://aws.amazon.com/s3/pricing/ (S3 Standard: PUT/POST/LIST $0.005 per 1,000, GET $0.0004 per
#: 1,000, storage $0.023 per GB-month for the first 50 TB)
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
S3_STORAGE_GB_MONTH = 0.023
#: https://aws.amazon.com/kms/pricing/ ($1 per customer managed key a month; $0.03 per 10,000 requests)
KMS_KEY_MONTH = 1.00
KMS_REQUEST = 0.03 / 10_000
#: https://aws.amazon.com/cloudwatch/pricing/ (Logs: $0.50 per GB ingested, $0.03 per GB-month stored)
LOGS_INGESTED_GB = 0.50
#: https://aws.amazon.com/xray/pricing/ ($5.00 per million traces recorded, after 100,000 free)
XRAY_TRACE = 5.00 / MILLION
#: https://aws.amazon.com/comprehend/pricing/ (entity recognition, sentiment, key phrases, language,
#: syntax: $0.0001 per unit of 100 characters, 3 units minimum per request)
COMPREHEND_UNIT = 0.0001
COMPREHEND_UNIT_CHARS = 100
COMPREHEND_MIN_UNITS = 3

# ------------------------------------------------------------------------------ the template's settings
# Kept in step with template.yaml by tests/unit/test_cost_model.py.
INTAKE_MEMORY_GB = 256 / 1024
TRIAGE_MEMORY_GB = 3008 / 1024
RECLUSTER_MEMORY_GB = 4096 / 1024
TRIAGE_BATCH_SIZE = 100
RECLUSTER_RUNS_PER_MONTH = 24 * 30  # rate(1 hour)
RECLUSTER_WINDOW_DAYS = 30
#: What Lambda's SQS poller does per batch of 100: up to 10 messages per ReceiveMessage and per
#: DeleteMessageBatch. The same for whoever consumes the signal queues.
SQS_MESSAGES_PER_RECEIVE = 10
#: START/END/REPORT lines Lambda writes per invocation, and one API access log line per request.
LAMBDA_PLATFORM_LOG_BYTES = 350
API_ACCESS_LOG_BYTES = 260
GB = 1024**3


@dataclass
class Line:
    component: str
    item: str
    dollars: float
    note: str = ""


@dataclass
class Model:
    lines: list[Line] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    monthly_fixed: list[Line] = field(default_factory=list)

    def add(self, component: str, item: str, dollars: float, note: str = "") -> None:
        self.lines.append(Line(component, item, dollars, note))

    def total(self, component: str | None = None) -> float:
        return sum(line.dollars for line in self.lines if component in (None, line.component))


def load(path: Path, producer: str) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run {producer} (or `make cost`, which runs it)")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def units(section: dict[str, Any], suffix: str, service: str | None = None) -> float:
    """Sum of the measured units per report (or run) whose name ends with `suffix`."""
    return float(
        sum(
            value
            for name, value in section.items()
            if name.endswith(suffix) and (service is None or name.startswith(f"{service}:"))
        )
    )


def calls(section: dict[str, Any], *operations: str) -> float:
    return float(sum(value for name, value in section.items() if name in operations))


def aws_calls(section: dict[str, Any]) -> float:
    return float(sum(section.values()))


def clustering_seconds(cluster: dict[str, Any], reports: float, basis: str) -> tuple[float, bool]:
    """Clustering time of a window of `reports`, from the measured sizes (default thread setting):
    linear between them, and beyond them (flagged as extrapolated) a least-squares fit of
    a·n + b·n^1.5: the clustering makes 6·√n micro-clusters and compares every report with every
    one of them (riskradar.clustering), so a straight line underestimates large windows."""
    runs = [r for r in cluster["runs"] if r.get("default_config", True)]
    points = sorted(
        (float(r["reports"]), float(r["cpu_seconds" if basis == "cpu" else "seconds"])) for r in runs
    )
    if not points:
        raise SystemExit("cluster_scale.json holds no run with the default thread setting")
    sizes = [p[0] for p in points]
    if sizes[0] <= reports <= sizes[-1]:
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if x0 <= reports <= x1:
                return y0 + (y1 - y0) * (reports - x0) / (x1 - x0 or 1), False
        return points[0][1], False
    if len(points) == 1:
        return points[0][1] * reports / points[0][0], True
    linear, superlinear = _fit_linear_and_three_halves(points)
    return linear * reports + superlinear * reports**1.5, True


def _fit_linear_and_three_halves(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) minimising Σ (a·n + b·n^1.5 - y)², both at least 0 (time never falls with size)."""
    sizes = np.array([n for n, _ in points])
    (a, b), _ = nnls(np.column_stack([sizes, sizes**1.5]), np.array([y for _, y in points]))
    return float(a), float(b)


def build(
    pipeline: dict[str, Any],
    triage_run: dict[str, Any],
    cluster: dict[str, Any],
    *,
    monthly_reports: int,
    basis: str,
    aws_call_ms: float,
    s3_get_ms: float = 20.0,
    s3_mb_per_s: float = 90.0,
    shards_per_batch: float = 1.0,
) -> Model:
    model = Model()
    per = MILLION  # reports
    intake, triage, recluster = pipeline["intake"], pipeline["triage"], pipeline["recluster"]
    batch = int(pipeline["intake_batch_size"])
    latency_s = aws_call_ms / 1000

    # ------------------------------------------------------------------------------ intake
    intake_requests = per / batch
    timings = intake["process_cpu_ms_per_request" if basis == "cpu" else "wall_ms_per_request"]
    intake_calls = aws_calls(intake["calls_per_report"]) * batch
    intake_s = statistics.median(timings) / 1000 + intake_calls * latency_s
    model.add(
        "intake", "HTTP API requests", intake_requests * HTTP_API_REQUEST, f"{batch} reports per request"
    )
    model.add("intake", "Lambda requests", intake_requests * LAMBDA_REQUEST)
    model.add(
        "intake",
        "Lambda duration (256 MB)",
        intake_requests * intake_s * INTAKE_MEMORY_GB * LAMBDA_ARM_GB_SECOND,
        f"{intake_s * 1000:.0f} ms per request",
    )
    i_units = intake["units_per_report"]
    model.add(
        "intake",
        "DynamoDB (idempotency records)",
        per
        * (
            units(i_units, "write_units") * DYNAMODB_WRITE_UNIT
            + units(i_units, "read_units") * DYNAMODB_READ_UNIT
        ),
        f"{units(i_units, 'write_units'):.1f} WRU + {units(i_units, 'read_units'):.1f} RRU per report",
    )
    model.add(
        "intake",
        "SQS (enqueue)",
        per * units(i_units, "billed_requests", "sqs") * SQS_STANDARD_REQUEST,
        "SendMessageBatch, per 64 KB chunk",
    )

    # ------------------------------------------------------------------------------ triage
    batches = per / TRIAGE_BATCH_SIZE
    t_calls_per_batch = aws_calls(triage["calls_per_report"]) * TRIAGE_BATCH_SIZE
    if basis == "cpu":
        # The triage benchmark measures wall clock; CPU time is taken from it with the share of the
        # CPU that other processes did not use meanwhile (both cores).
        others = triage_run["other_processes_cpu_share"][1]
        measured = statistics.median(triage_run["handler_seconds"]) * (1 - others) * 2
        wall = statistics.median(triage_run["handler_seconds"])
        basis_note = f"wall {wall:.1f} s x {1 - others:.0%} idle CPU x 2 cores"
    else:
        measured = statistics.median(triage_run["handler_seconds"])
        basis_note = "wall clock"
    triage_s = measured + t_calls_per_batch * latency_s
    model.add("triage", "Lambda requests", batches * LAMBDA_REQUEST, f"batches of {TRIAGE_BATCH_SIZE}")
    model.add(
        "triage",
        "Lambda duration (3008 MB)",
        batches * triage_s * TRIAGE_MEMORY_GB * LAMBDA_ARM_GB_SECOND,
        f"{triage_s:.2f} s per batch ({basis_note})",
    )
    t_units = triage["units_per_report"]
    model.add(
        "triage",
        "DynamoDB (reports, counters)",
        per
        * (
            units(t_units, "write_units") * DYNAMODB_WRITE_UNIT
            + units(t_units, "read_units") * DYNAMODB_READ_UNIT
        ),
        f"{units(t_units, 'write_units'):.1f} WRU + {units(t_units, 'read_units'):.1f} RRU per report",
    )
    polls = 2 / SQS_MESSAGES_PER_RECEIVE  # receive + delete, 10 messages each
    model.add(
        "triage",
        "SQS (poll intake queue, send signals, consumer polls signals)",
        per * (polls + units(t_units, "billed_requests", "sqs") + polls) * SQS_STANDARD_REQUEST,
        "signal consumer's receive + delete included",
    )
    shard_puts = shards_per_batch / TRIAGE_BATCH_SIZE  # per report
    snapshot_reads = calls(triage["calls_per_report"], "s3:GetObject", "s3:ListObjectsV2")
    model.add(
        "triage",
        "S3 (embedding shards, snapshot reads)",
        per * (shard_puts * S3_PUT + snapshot_reads * S3_GET),
        f"{shards_per_batch:g} shard per batch",
    )

    # ------------------------------------------------------------------------------ recluster
    window = monthly_reports * RECLUSTER_WINDOW_DAYS / 30
    cluster_s, extrapolated = clustering_seconds(cluster, window, basis)
    # The job reads one compacted shard for each day of its window (riskradar.shard_compaction) and,
    # for today, its compacted shard and the shards written since the last run; when those are more
    # than RECOMPACT_AFTER it rewrites today's compacted shard (half a day's reports on average).
    daily_shards = monthly_reports / 30 * shard_puts
    hourly_shards = daily_shards / 24
    reads_per_run = RECLUSTER_WINDOW_DAYS + 1 + hourly_shards
    # Today's compacted shard is rewritten each time more than RECOMPACT_AFTER shards gathered (at
    # most once a run), and each day is sealed once.
    rewrites_per_run = min(1.0, daily_shards / (RECOMPACT_AFTER + 1) / 24)
    compactions_a_month = 30 * (1 + 24 * rewrites_per_run)
    # Each day of the window is listed (LIST is billed as a PUT), 1,000 keys a page; shards stay.
    lists_per_run = (RECLUSTER_WINDOW_DAYS + 1) * math.ceil((daily_shards + 1) / 1000)
    shard_bytes = units(t_units, "bytes", "s3")  # per report, as triage writes them
    moved_reports = window + rewrites_per_run * monthly_reports / 30 / 2
    transfer_s = moved_reports * shard_bytes / (s3_mb_per_s * 1e6)
    run_calls = aws_calls(recluster["calls_per_run"]) - calls(recluster["calls_per_run"], "s3:GetObject")
    run_s = cluster_s + reads_per_run * s3_get_ms / 1000 + transfer_s + run_calls * latency_s
    share = MILLION / monthly_reports  # of a month's recluster cost that falls on 1M reports
    model.add(
        "recluster",
        "Lambda duration (4096 MB), hourly",
        RECLUSTER_RUNS_PER_MONTH * run_s * RECLUSTER_MEMORY_GB * LAMBDA_ARM_GB_SECOND * share,
        f"{run_s:.0f} s per run over {window:,.0f} reports" + (" (extrapolated)" if extrapolated else ""),
    )
    model.add(
        "recluster",
        "S3 (a compacted shard a day, today's shards, every run)",
        (
            RECLUSTER_RUNS_PER_MONTH
            * (
                reads_per_run * S3_GET
                + (calls(recluster["calls_per_run"], "s3:PutObject") + lists_per_run) * S3_PUT
            )
            + compactions_a_month * S3_PUT
        )
        * share,
        f"{reads_per_run:,.0f} GETs per run",
    )
    model.add(
        "recluster",
        "Lambda requests, EventBridge schedule",
        RECLUSTER_RUNS_PER_MONTH * LAMBDA_REQUEST * share,
        "scheduled rules are free",
    )

    # ------------------------------------------------------------------------------ shared
    log_bytes = (
        units(i_units, "bytes", "logs")
        + units(t_units, "bytes", "logs")
        + (LAMBDA_PLATFORM_LOG_BYTES + API_ACCESS_LOG_BYTES) / batch
        + LAMBDA_PLATFORM_LOG_BYTES / TRIAGE_BATCH_SIZE
    )
    model.add(
        "observability",
        "CloudWatch Logs ingestion",
        per * log_bytes / GB * LOGS_INGESTED_GB,
        f"{log_bytes:.0f} bytes per report",
    )
    model.add(
        "observability",
        "X-Ray traces (upper bound: every invocation)",
        (intake_requests + batches) * XRAY_TRACE,
        "default sampling records fewer",
    )

    chars = float(pipeline["mean_text_chars"])
    report_units = max(COMPREHEND_MIN_UNITS, math.ceil(chars / COMPREHEND_UNIT_CHARS))
    model.add(
        "Comprehend",
        "one classify/entities call per report",
        per * report_units * COMPREHEND_UNIT,
        f"{report_units} units per report",
    )

    stored_gb = per * 1.5 * 1024 / GB  # ~1.5 KB per stored report (redacted text, scores, reasons)
    model.monthly_fixed += [
        Line(
            "storage",
            "1M reports kept a month in DynamoDB (+ PITR)",
            stored_gb * (DYNAMODB_STORAGE_GB_MONTH + DYNAMODB_PITR_GB_MONTH),
            "~1.5 KB a report",
        ),
        Line(
            "storage",
            "1M embeddings kept a month in S3",
            2 * per * max(shard_bytes, 384 * 4) / GB * S3_STORAGE_GB_MONTH,
            "the shards and their daily compacted copy",
        ),
        Line(
            "fixed",
            "KMS customer managed key",
            KMS_KEY_MONTH,
            "SQS/DynamoDB cache data keys: requests are few",
        ),
        Line(
            "fixed",
            "idle SQS long polling by the event source",
            3 * 60 * 24 * 30 * 5 * SQS_STANDARD_REQUEST,
            "~5 pollers, 20 s waits",
        ),
    ]
    model.assumptions += [
        f"{monthly_reports:,} reports a month; recluster hourly over a {RECLUSTER_WINDOW_DAYS}-day window "
        f"of {window:,.0f} reports",
        f"reports of {chars:.0f} characters on average (Banking77 queries), {batch} per intake request",
        f"Lambda duration = measured {'CPU' if basis == 'cpu' else 'wall clock'} time "
        f"+ {aws_call_ms:g} ms per AWS call "
        f"({intake_calls:.0f} per intake request, {t_calls_per_batch:.0f} per triage batch, "
        f"{run_calls:,.0f} per recluster run), {s3_get_ms:g} ms per S3 GET and {s3_mb_per_s:g} MB/s "
        f"moved ({reads_per_run:,.0f} embedding shards, {moved_reports * shard_bytes / 1e6:,.0f} MB per "
        f"recluster run, one after the other: a compacted one a day and the last hour's shards)",
        f"{shards_per_batch:g} embedding shard per triage batch (one per batch and day: reports arriving "
        f"live; the measuring replay spread each batch over several days: "
        f"{calls(triage['calls_per_report'], 's3:PutObject') * TRIAGE_BATCH_SIZE:.1f} S3 PUTs per batch)",
        "arm64 (Graviton) as fast as the measuring x86 core; no free tier, no savings plans; "
        "us-east-1 prices of 2026-11-28",
        "strategist API: a few thousand requests a month, well under a cent: left out",
    ]
    if extrapolated:
        largest = max(cluster["runs"], key=lambda run: run["reports"])
        model.assumptions.append(
            f"the recluster window ({window:,.0f} reports) is outside the measured sizes: time extrapolated "
            f"as a·n + b·n^1.5 fitted to them; memory too is untested there "
            f"({largest['peak_rss_mb']:,.0f} MB peak at "
            f"{largest['reports']:,} reports; the function has {RECLUSTER_MEMORY_GB * 1024:,.0f} MB)"
        )
    return model


def render(model: Model, machine: str) -> str:
    out = ["| component | item | USD per 1M reports | basis |", "|---|---|---:|---|"]
    for line in model.lines:
        if line.component != "Comprehend":
            out.append(f"| {line.component} | {line.item} | {line.dollars:.2f} | {line.note} |")
    riskradar = sum(line.dollars for line in model.lines if line.component != "Comprehend")
    out.append(f"| **riskradar** | **total** | **{riskradar:.2f}** | |")
    for component in ("intake", "triage", "recluster", "observability"):
        out.append(f"| | of which {component} | {model.total(component):.2f} | |")
    comprehend = model.total("Comprehend")
    note = next(line.note for line in model.lines if line.component == "Comprehend")
    out.append(
        f"| **Amazon Comprehend** | **one DetectEntities / ClassifyDocument call per report** "
        f"| **{comprehend:.2f}** | {note} (classification only: no themes, scores or routing) |"
    )
    out.append("")
    out.append("| monthly, not per report | USD | basis |\n|---|---:|---|")
    out += [f"| {line.item} | {line.dollars:.2f} | {line.note} |" for line in model.monthly_fixed]
    out.append("")
    out.append("Assumptions:")
    out += [f"- {a}" for a in model.assumptions]
    out.append(f"- measured on: {machine}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pipeline", type=Path, default=OUT / "pipeline_requests.json")
    parser.add_argument("--triage", type=Path, default=OUT / "triage_throughput.json")
    parser.add_argument("--cluster", type=Path, default=OUT / "cluster_scale.json")
    parser.add_argument(
        "--monthly-reports", type=int, default=MILLION, help="reports a month (default 1,000,000)"
    )
    parser.add_argument(
        "--duration", choices=["cpu", "wall"], default="cpu", help="what Lambda bills (default cpu)"
    )
    parser.add_argument(
        "--aws-call-ms", type=float, default=5.0, help="latency of one AWS call in-region (default 5)"
    )
    parser.add_argument("--s3-get-ms", type=float, default=20.0, help="time of one shard GET (default 20)")
    parser.add_argument(
        "--s3-mb-per-s", type=float, default=90.0, help="one GET stream's throughput in MB/s (default 90)"
    )
    parser.add_argument(
        "--shards-per-batch", type=float, default=1.0, help="embedding shards per triage batch (default 1)"
    )
    args = parser.parse_args()
    if args.monthly_reports < 1:
        parser.error("--monthly-reports must be positive")

    pipeline = load(args.pipeline, "benchmarks/pipeline_requests.py --json out/pipeline_requests.json")
    triage_run = load(args.triage, "benchmarks/triage_throughput.py --json out/triage_throughput.json")
    cluster = load(args.cluster, "benchmarks/cluster_scale.py --json out/cluster_scale.json")
    model = build(
        pipeline,
        triage_run,
        cluster,
        monthly_reports=args.monthly_reports,
        basis=args.duration,
        aws_call_ms=args.aws_call_ms,
        s3_get_ms=args.s3_get_ms,
        s3_mb_per_s=args.s3_mb_per_s,
        shards_per_batch=args.shards_per_batch,
    )
    machine = triage_run.get("machine", {})
    described = (
        ", ".join(f"{k} {v}" for k, v in machine.items()) if isinstance(machine, dict) else str(machine)
    )
    sys.stdout.write(render(model, described) + "\n")


if __name__ == "__main__":
    main()
