"""What NoveltyFunction costs: time per SQS batch and the size of its state over a long replay.

A dataset's embeddings (default Banking77 train, embedded once by benchmarks/embed_cache.py) are
resampled to --reports noisy copies (as benchmarks/cluster_scale.py does), written to S3 as triage
writes them (shards of --shard-reports) and fed to the online detection use case
(riskradar.online_detection, the code behind functions/novelty/app.py) in batches of
--batch-shards notices, with the real S3 and SQS adapters on moto in-process. Per batch it times
the whole of what the handler does — state load (a conditional GET, 304 while warm), reading each
shard, observing it, alerts, the conditional state PUT — in wall and CPU seconds. At checkpoints it
reports the state object's size and what a cold container pays to read it (GET + parse).

moto answers in-process, so S3 and SQS latency is not included: on AWS add a GET per shard and a
PUT of the state per batch (tens of ms for a few MB, in-region).

    .venv/bin/python benchmarks/novelty_function.py
    .venv/bin/python benchmarks/novelty_function.py --reports 50000 --feed pool
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import numpy as np
from moto import mock_aws

from riskradar.adapters.s3 import EmbeddingShard, EmbeddingShardStore, JsonStateStore, ThemeSnapshotStore
from riskradar.adapters.sqs import SqsQueue
from riskradar.models import ShardNotice
from riskradar.online_detection import Feed, OnlineDetectionService, OnlineState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_quality import cpu_seconds, machine_description
from cluster_scale import resample
from embed_cache import DEFAULT_DATASET, load_embedded, resolve_label_column

BUCKET = "novelty-bench"
STATE_KEY = "novelty/state.json"
CHECKPOINTS = (1_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=30_000)
    parser.add_argument("--shard-reports", type=int, default=100, help="reports per shard (a triage batch)")
    parser.add_argument("--batch-shards", type=int, default=5, help="notices per SQS batch (template: 5)")
    parser.add_argument("--feed", choices=["all", "pool"], default="all")
    parser.add_argument(
        "--pool-share", type=float, default=0.1, help="feed pool: share of intents triage has no theme for"
    )
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # Fake credentials for moto, never a real account.
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ[name] = value
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    embedded = load_embedded(DEFAULT_DATASET, label_column=resolve_label_column(DEFAULT_DATASET, None))
    labels = embedded.dataset.labels or ["-"] * len(embedded.dataset.texts)
    vectors, source = resample(embedded.vectors, args.reports, args.noise, args.seed)
    rng = np.random.default_rng(args.seed)
    intents = sorted(set(labels))
    unthemed = set(rng.choice(intents, max(1, round(args.pool_share * len(intents))), replace=False).tolist())
    texts = [embedded.dataset.texts[row] for row in source.tolist()]
    theme_ids = ["" if labels[row] in unthemed else f"thm-{labels[row]}" for row in source.tolist()]
    times = datetime(2026, 11, 1, tzinfo=UTC).timestamp() + 3.0 * np.arange(args.reports)

    print(f"machine: {machine_description()}")
    print(
        f"{args.reports:,} reports (resampled {DEFAULT_DATASET.name}, noise {args.noise}), shards of "
        f"{args.shard_reports}, batches of {args.batch_shards} shards, feed {args.feed!r}"
    )
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs")
        alerts_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        shards = EmbeddingShardStore(s3, BUCKET)
        feed: Feed = args.feed
        service = OnlineDetectionService(
            state_store=JsonStateStore(s3, BUCKET, STATE_KEY),
            shards=shards,
            alerts=SqsQueue(sqs, alerts_url),
            snapshots=ThemeSnapshotStore(s3, BUCKET, dimension=vectors.shape[1]),
            feed=feed,
            remember_reports=20_000,
            clock=lambda: datetime.now(UTC),
        )
        notices: list[ShardNotice] = []
        for start in range(0, args.reports, args.shard_reports):
            rows = list(range(start, min(start + args.shard_reports, args.reports)))
            key = shards.write(
                EmbeddingShard(
                    day=date(2026, 11, 1),
                    report_ids=tuple(f"bench-{row:07d}" for row in rows),
                    theme_ids=tuple(theme_ids[row] for row in rows),
                    created_at=times[rows],
                    vectors=vectors[rows],
                    texts=tuple(texts[row] for row in rows),
                )
            )
            notices.append(
                ShardNotice(
                    shard_key=key,
                    reports=len(rows),
                    novelty_pool_reports=sum(1 for row in rows if not theme_ids[row]),
                    written_at=datetime.now(UTC),
                )
            )

        walls: list[float] = []
        cpus: list[float] = []
        observed = alerts = 0
        checkpoints = [c for c in CHECKPOINTS if c <= args.reports]
        columns = ("reports", "batch wall s (median / p90 / max)", "state MB", "cold read s")
        print("\n{:>8} {:>34} {:>9} {:>12}".format(*columns))
        since_checkpoint: list[float] = []
        for start in range(0, len(notices), args.batch_shards):
            wall, cpu = time.perf_counter(), cpu_seconds()
            with service.batch() as batch:
                for notice in notices[start : start + args.batch_shards]:
                    batch.observe(notice)
                result = batch.commit()
            walls.append(time.perf_counter() - wall)
            cpus.append(cpu_seconds() - cpu)
            since_checkpoint.append(walls[-1])
            observed += result.reports_observed
            alerts += len(result.alerts)
            done = min((start + args.batch_shards) * args.shard_reports, args.reports)
            if checkpoints and done >= checkpoints[0]:
                checkpoints.pop(0)
                size_mb = s3.head_object(Bucket=BUCKET, Key=STATE_KEY)["ContentLength"] / 1e6
                cold = time.perf_counter()
                stored = JsonStateStore(s3, BUCKET, STATE_KEY).load()
                assert stored is not None
                assert stored.document is not None
                OnlineState.from_document(stored.document, feed=feed, remember_reports=20_000)
                cold_s = time.perf_counter() - cold
                p90 = float(np.quantile(since_checkpoint, 0.9))
                print(
                    f"{done:>8,} {statistics.median(since_checkpoint):>15.2f} / {p90:>5.2f} / "
                    f"{max(since_checkpoint):>5.2f}      {size_mb:>9.2f} {cold_s:>12.2f}"
                )
                since_checkpoint = []

        per_report_ms = 1000 * sum(walls) / max(observed, 1)
        print(
            f"\n{len(walls)} batches, {observed:,} reports observed, {alerts} online alerts; "
            f"wall {sum(walls):.1f} s ({per_report_ms:.2f} ms per observed report), "
            f"CPU {sum(cpus):.1f} s; batch wall median {statistics.median(walls):.2f} s, "
            f"max {max(walls):.2f} s"
        )


if __name__ == "__main__":
    main()
