"""Theme stability: do reports keep their theme id when the recluster job runs again?

Consecutive recluster runs over almost the same reports, as on consecutive days, through the job's
own steps — what `riskradar.recluster.ReclusterService.run` does between reading the previous
snapshot and publishing the next one:

1. read the current snapshot, its members and its clustering state from a `ThemeSnapshotStore`
   (on S3 mocked in process by moto: the same objects and bytes the job reads and writes);
2. `cluster_embeddings(vectors, seed=seed, previous=<that state>)` — the warm start;
3. `match_themes(previous snapshot, previous members, centroids, members, ...)` for the ids;
4. `publish(snapshot, members=..., clustering_state=...)`.

Labels, emerging scores and alerts are left out: they never change an id.

Run 1 starts from an empty bucket (cold). Each later run has `--churn` (default 5 %) of the
previous window's reports removed and as many new ones added. Without a time column the removed
reports are drawn at random and the new ones are copies of random remaining reports with noise
added to their vectors (`--noise`, the noise vector's norm relative to the unit vector; 0.1 keeps a
cosine of about 0.995 to the source); with `--time-column` the window slides over the time order.
`--cold` clusters every run from scratch (previous=None), as the job did before warm starts.
`--hold-out LABEL` keeps every report of that label out of run 1 and adds them all in run 2 (on top
of the churn): a new theme appearing, which must be born, not absorbed into old themes.

Measured per seed and consecutive pair of runs (the seed drives the churn, the noise and the
clustering):

- **kept**: reports in a theme in the earlier run and still present in the later one whose theme id
  is the same in the later run (a report the later run leaves unclustered counts as not kept).
  Goal: ≥ 95 %.
- **ceiling**: the most that any one-to-one mapping of the earlier run's themes to the later run's
  clusters could keep: what the clustering allows. Kept below ceiling is the matcher's loss, ceiling
  below 100 % the clustering's.
- lineage events of the later run; NMI against the labels (outliers counted as one cluster, as in
  benchmarks/cluster_quality.py) of both runs; the later run's clustering time.

    .venv/bin/python benchmarks/theme_stability.py                     # Banking77, seeds 0-4, warm
    .venv/bin/python benchmarks/theme_stability.py --cold              # the from-scratch baseline
    .venv/bin/python benchmarks/theme_stability.py --runs 6 --seeds 2  # five consecutive re-runs
    .venv/bin/python benchmarks/theme_stability.py --hold-out compromised_card
    .venv/bin/python benchmarks/theme_stability.py reports.jsonl --text-column body \\
        --label-column theme --time-column created_at

Vectors are embedded once and cached (`benchmarks/embed_cache.py`).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from moto import mock_aws
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from embed_cache import add_dataset_arguments, load_embedded, resolve_label_column

from riskradar.adapters.s3 import ThemeSnapshotStore
from riskradar.clustering import LEFT_OUT, cluster_embeddings
from riskradar.recluster import cluster_warm
from riskradar.theme_identity import IdentityResult, match_themes
from riskradar.themes import LineageEvent, ThemeSnapshot, Vectors, normalize_rows

GOAL = 0.95
FIRST_RUN = datetime(2026, 11, 1, tzinfo=UTC)
BUCKET = "theme-stability"
EVENTS = ("continued", "split", "merged", "born", "dormant")


@dataclass(frozen=True)
class Window:
    """The reports one run sees: dataset rows (for labels and texts), ids and vectors."""

    rows: list[int]
    report_ids: list[str]
    vectors: Vectors


@dataclass(frozen=True)
class RunOutcome:
    window: Window
    #: The theme id of each report of the window (None: left out of every theme).
    theme_of: dict[str, str | None]
    identity: IdentityResult
    cluster_seconds: float


@dataclass(frozen=True)
class PairResult:
    """One consecutive pair of runs of one seed."""

    seed: int
    step: int
    reports: tuple[int, int]
    themes: tuple[int, int]
    kept: float
    ceiling: float
    events: Counter[str]
    nmi: tuple[float | None, float | None]
    cluster_seconds: float
    #: --hold-out: the share of the held-out reports in themes they are the majority of (themes of
    #: their own), and the lineage events of those themes.
    held_out_own: float | None = None
    held_out_events: Counter[str] | None = None


# ------------------------------------------------------------------------------------ the job's path


@contextmanager
def snapshot_store(dimension: int) -> Iterator[ThemeSnapshotStore]:
    """An empty bucket on in-process moto S3, as a fresh deployment has."""
    with mock_aws():
        s3: Any = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield ThemeSnapshotStore(s3, BUCKET, dimension=dimension)


def recluster(
    store: ThemeSnapshotStore, window: Window, *, now: datetime, seed: int, warm: bool
) -> RunOutcome:
    """The id-relevant steps of ReclusterService.run, in its order, on the same objects."""
    previous = store.current()
    version = previous.version + 1
    previous_members = store.current_members()
    started = time.perf_counter()
    if warm:
        clusters = cluster_warm(window.report_ids, window.vectors, store, seed=seed)
    else:
        clusters = cluster_embeddings(window.vectors, seed=seed)
    cluster_seconds = time.perf_counter() - started
    cluster_rows = [np.flatnonzero(clusters.labels == c) for c in range(clusters.n_clusters)]
    members = [[window.report_ids[row] for row in rows] for rows in cluster_rows]
    identity = match_themes(
        previous,
        previous_members,
        clusters.centroids,
        members,
        version=version,
        now=now,
        seed=str(seed),
    )
    themes = tuple(
        cluster.theme_info(
            label=cluster.theme_id, threshold=float(clusters.thresholds[c]), size=int(clusters.sizes[c])
        )
        for c, cluster in enumerate(identity.clusters)
    )
    snapshot = ThemeSnapshot(version, now, themes, clusters.centroids, dormant=identity.dormant)
    store.publish(
        snapshot,
        members=dict(zip(identity.theme_ids, members, strict=True)),
        left_out=[window.report_ids[row] for row in np.flatnonzero(clusters.labels == LEFT_OUT)],
        clustering_state=clusters.state,
    )
    theme_of = {
        report: identity.theme_ids[c] if c != LEFT_OUT else None
        for report, c in zip(window.report_ids, clusters.labels.tolist(), strict=True)
    }
    return RunOutcome(window, theme_of, identity, cluster_seconds)


# ------------------------------------------------------------------------------------------ churn


def first_window(vectors: Vectors, rows: list[int]) -> Window:
    return Window(rows, [f"r-{row:06d}" for row in rows], vectors[rows])


def churned(
    previous: Window, vectors: Vectors, *, churn: float, noise: float, rng: np.random.Generator, step: int
) -> Window:
    """The previous window with `churn` of its reports removed and as many noisy copies added."""
    n = len(previous.rows)
    changed = round(n * churn)
    removed = set(rng.choice(n, size=changed, replace=False).tolist())
    remaining = [index for index in range(n) if index not in removed]
    sources = rng.choice(remaining, size=changed, replace=True)
    jitter = rng.normal(size=(changed, vectors.shape[1])) * (noise / math.sqrt(vectors.shape[1]))
    added = normalize_rows(previous.vectors[sources] + jitter.astype(np.float32))
    return Window(
        rows=[previous.rows[i] for i in remaining] + [previous.rows[int(i)] for i in sources],
        report_ids=[previous.report_ids[i] for i in remaining]
        + [f"new{step}-{i:06d}" for i in range(changed)],
        vectors=np.concatenate([previous.vectors[remaining], added]),
    )


def sliding_windows(vectors: Vectors, times: Sequence[str], churn: float, runs: int) -> list[Window]:
    order = sorted(range(len(times)), key=lambda row: (_parse_time(times[row]), row))
    size = round(len(order) / (1 + churn * (runs - 1)))
    shift = round(size * churn)
    return [first_window(vectors, order[step * shift : step * shift + size]) for step in range(runs)]


def with_rows(window: Window, vectors: Vectors, rows: list[int]) -> Window:
    """`window` plus dataset rows `rows` as reports of their own."""
    return Window(
        window.rows + rows,
        window.report_ids + [f"r-{row:06d}" for row in rows],
        np.concatenate([window.vectors, vectors[rows]]),
    )


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise SystemExit(f"--time-column: {value!r} is not an ISO 8601 time") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------ measure


@dataclass(frozen=True)
class Scenario:
    vectors: Vectors
    labels: list[str] | None
    times: list[str] | None
    churn: float
    noise: float
    runs: int
    warm: bool
    hold_out: str | None


def measure_seed(scenario: Scenario, seed: int) -> list[PairResult]:
    vectors, labels = scenario.vectors, scenario.labels
    rng = np.random.default_rng(seed)
    held_out: list[int] = []
    if scenario.hold_out is not None and labels is not None:
        held_out = [row for row, label in enumerate(labels) if label == scenario.hold_out]
    held = set(held_out)
    windows = None
    if scenario.times is not None:
        windows = sliding_windows(vectors, scenario.times, scenario.churn, scenario.runs)
        window = _without(windows[0], held)
    else:
        window = first_window(vectors, [row for row in range(len(vectors)) if row not in held])

    results = []
    with snapshot_store(vectors.shape[1]) as store:
        before = recluster(store, window, now=FIRST_RUN, seed=seed, warm=scenario.warm)
        for step in range(1, scenario.runs):
            if windows is not None:
                window = windows[step]  # holds whatever held-out reports fall in its time range
            else:
                window = churned(
                    before.window, vectors, churn=scenario.churn, noise=scenario.noise, rng=rng, step=step
                )
                if step == 1 and held_out:
                    window = with_rows(window, vectors, held_out)
            arrived = set(window.rows) & held if step == 1 else set()
            after = recluster(
                store, window, now=FIRST_RUN + timedelta(days=step), seed=seed, warm=scenario.warm
            )
            results.append(_compare(seed, step, before, after, labels, sorted(arrived)))
            before = after
    return results


def _without(window: Window, rows: set[int]) -> Window:
    keep = [i for i, row in enumerate(window.rows) if row not in rows]
    return Window([window.rows[i] for i in keep], [window.report_ids[i] for i in keep], window.vectors[keep])


def _compare(
    seed: int,
    step: int,
    before: RunOutcome,
    after: RunOutcome,
    labels: list[str] | None,
    held_out: list[int],
) -> PairResult:
    judged = [r for r, theme in before.theme_of.items() if theme is not None and r in after.theme_of]
    kept = sum(after.theme_of[r] == before.theme_of[r] for r in judged)
    events = Counter(identity.lineage.event.value for identity in after.identity.clusters)
    events["dormant"] = sum(o.event is LineageEvent.DORMANT for o in after.identity.previous.values())
    held_own = held_events = None
    if held_out:
        held_theme = Counter(after.theme_of[f"r-{row:06d}"] for row in held_out)
        sizes = Counter(after.theme_of.values())
        own = {theme for theme, count in held_theme.items() if theme is not None and 2 * count > sizes[theme]}
        held_own = sum(held_theme[theme] for theme in own) / len(held_out)
        held_events = Counter(i.lineage.event.value for i in after.identity.clusters if i.theme_id in own)
    return PairResult(
        seed=seed,
        step=step,
        reports=(len(before.theme_of), len(after.theme_of)),
        themes=(len(before.identity.clusters), len(after.identity.clusters)),
        kept=kept / len(judged) if judged else 1.0,
        ceiling=_ceiling(before, after, judged),
        events=events,
        nmi=(_nmi(before, labels), _nmi(after, labels)),
        cluster_seconds=after.cluster_seconds,
        held_out_own=held_own,
        held_out_events=held_events,
    )


def _ceiling(before: RunOutcome, after: RunOutcome, judged: Sequence[str]) -> float:
    """The share of `judged` reports the best one-to-one theme mapping keeps."""
    if not judged:
        return 1.0
    index_before = {theme: i for i, theme in enumerate(sorted({str(before.theme_of[r]) for r in judged}))}
    index_after = {theme: i for i, theme in enumerate(sorted({str(t) for t in after.theme_of.values() if t}))}
    table = np.zeros((len(index_before), max(1, len(index_after))))
    for report in judged:
        theme = after.theme_of[report]
        if theme is not None:
            table[index_before[str(before.theme_of[report])], index_after[theme]] += 1
    rows, columns = linear_sum_assignment(table, maximize=True)
    return float(table[rows, columns].sum()) / len(judged)


def _nmi(run: RunOutcome, labels: list[str] | None) -> float | None:
    if labels is None:
        return None
    truth = [labels[row] for row in run.window.rows]
    found = [theme or "(left out)" for theme in (run.theme_of[r] for r in run.window.report_ids)]
    return float(normalized_mutual_info_score(truth, found))


# ------------------------------------------------------------------------------------------ report


def print_table(results: Sequence[PairResult], hold_out: str | None) -> None:
    columns = ["seed", "run", "reports", "themes", "kept id", "ceiling", *EVENTS, "NMI", "clustering"]
    if hold_out:
        columns += [f"{hold_out} in themes of its own", "their lineage"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for r in results:
        nmi = " → ".join(f"{value:.3f}" for value in r.nmi if value is not None) or "-"
        cells = [
            str(r.seed),
            f"{r.step} → {r.step + 1}",
            f"{r.reports[0]:,} → {r.reports[1]:,}",
            f"{r.themes[0]} → {r.themes[1]}",
            f"{r.kept:.1%}",
            f"{r.ceiling:.1%}",
            *(str(r.events[event]) for event in EVENTS),
            nmi,
            f"{r.cluster_seconds:.1f} s",
        ]
        if hold_out:
            cells += [
                f"{r.held_out_own:.0%}" if r.held_out_own is not None else "",
                ", ".join(f"{count} {event}" for event, count in sorted((r.held_out_events or {}).items())),
            ]
        print("| " + " | ".join(cells) + " |")
    kept = [r.kept for r in results]
    ceiling = [r.ceiling for r in results]
    print(
        f"| **mean** | | | | **{statistics.mean(kept):.1%}** (min {min(kept):.1%}) "
        f"| {statistics.mean(ceiling):.1%} |" + " |" * (len(columns) - 6)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataset_arguments(parser)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 … N-1 (default 5)")
    parser.add_argument("--runs", type=int, default=2, help="consecutive recluster runs per seed (default 2)")
    parser.add_argument(
        "--churn", type=float, default=0.05, help="share of reports removed and added per run"
    )
    parser.add_argument(
        "--noise", type=float, default=0.1, help="relative norm of the noise on added vectors"
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--cold", action="store_true", help="every run from scratch (no warm start)")
    parser.add_argument("--hold-out", default=None, help="a label kept out of run 1 and added in run 2")
    args = parser.parse_args()
    if not 0 <= args.churn < 1:
        parser.error("--churn must be in [0, 1)")
    if args.runs < 2:
        parser.error("--runs must be at least 2")

    label_column = resolve_label_column(args.dataset, args.label_column)
    embedded = load_embedded(args.dataset, args.text_column, label_column, args.time_column)
    vectors, labels, times = embedded.vectors, embedded.dataset.labels, embedded.dataset.times
    if args.limit is not None:
        vectors = vectors[: args.limit]
        labels = labels[: args.limit] if labels is not None else None
        times = times[: args.limit] if times is not None else None
    if args.hold_out is not None and (labels is None or args.hold_out not in labels):
        parser.error(f"--hold-out: no row has the label {args.hold_out!r}")
    scenario = Scenario(
        vectors, labels, times, args.churn, args.noise, args.runs, not args.cold, args.hold_out
    )

    churn_kind = (
        "sliding time window" if times is not None else f"random, added = copies + noise {args.noise}"
    )
    start = (
        "every run from scratch (previous=None)" if args.cold else "warm: each run from the previous state"
    )
    print(f"# Theme stability: {args.dataset.name}, {len(vectors):,} reports\n")
    print(
        f"clustering: riskradar.clustering.cluster_embeddings, {start}; ids: riskradar.theme_identity; "
        f"state through ThemeSnapshotStore (moto S3); churn {args.churn:.0%} per run ({churn_kind}); "
        f"goal: kept ≥ {GOAL:.0%}\n"
    )
    results: list[PairResult] = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        results += measure_seed(scenario, seed)
        print(f"  seed {seed}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print_table(results, args.hold_out)
    mean_kept = statistics.mean(r.kept for r in results)
    print(f"\n{'goal met' if mean_kept >= GOAL else 'goal NOT met'}: mean kept {mean_kept:.1%}")


if __name__ == "__main__":
    main()
