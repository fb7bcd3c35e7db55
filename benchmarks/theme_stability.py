"""Theme stability: do reports keep their theme id when the recluster job runs again?

Two recluster runs over almost the same reports, as on two consecutive days:

1. **Run 1** clusters the reports and mints an id for every cluster
   (`riskradar.theme_identity.match_themes` against an empty snapshot).
2. **Run 2** clusters the same reports with `--churn` (default 5 %) of them removed and as many new
   ones added, then matches its clusters to run 1's themes with `match_themes`. Without a time
   column the removed reports are drawn at random and the new ones are copies of random remaining
   reports with noise added to their vectors (`--noise`, the noise vector's norm relative to the
   unit vector; 0.1 keeps a cosine of about 0.995 to the source); with `--time-column` the window
   slides: run 1 is the oldest reports, run 2 the same number shifted by the churn.

Measured per seed (the seed drives the churn, the noise and the clustering):

- **kept**: reports in a theme in run 1 and still present in run 2 whose theme id is the same in
  run 2 (a report run 2 leaves unclustered counts as not kept). Goal: ≥ 95 %.
- **ceiling**: the most that any one-to-one mapping of run-1 themes to run-2 clusters could keep
  (an unconstrained maximum assignment on the contingency table): what the clustering allows. The
  gap between kept and ceiling is the matcher's; the gap between ceiling and 100 % is the
  clusterer's.
- lineage events of run 2, and the time `match_themes` took.

Clustering: `riskradar.clustering.cluster_embeddings` when that module exists, otherwise KMeans with
k = int(sqrt(n)) as a stand-in (`--kmeans` forces it), run 2 started cold (a fresh k-means++ init
with the same seed) or, with `--warm-start`, from run 1's centroids — as a recluster job that keeps
its previous centroids would. With `--anchor` (any clusterer), run 2 first puts each report in its
nearest run-1 theme if it is at least as similar to its centroid as that theme's least similar
run-1 member, and clusters only the rest, into new clusters: a recluster job anchored on the
previous themes.

    .venv/bin/python benchmarks/theme_stability.py                     # Banking77, 5 seeds
    .venv/bin/python benchmarks/theme_stability.py --seeds 3 --warm-start --show-themes 10
    .venv/bin/python benchmarks/theme_stability.py reports.jsonl --text-column body \\
        --label-column theme --time-column created_at

Vectors are embedded once and cached (`benchmarks/embed_cache.py`).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))

from embed_cache import add_dataset_arguments, load_embedded, resolve_label_column

from riskradar.theme_identity import IdentityResult, match_themes
from riskradar.theme_labels import NOISE, label_themes
from riskradar.themes import LineageEvent, ThemeSnapshot, Vectors, normalize_rows

GOAL = 0.95
#: --anchor: a run-2 report joins a run-1 theme above this percentile of its members' similarity
#: (0: the least similar member; 5, what triage uses, leaves ~10 % of run 2 to be clustered anew).
ANCHOR_PERCENTILE = 0.0
RUN_1 = datetime(2026, 11, 1, tzinfo=UTC)
RUN_2 = datetime(2026, 11, 2, tzinfo=UTC)

Labels = npt.NDArray[np.int64]
#: (vectors, seed, centroids to start from or None) → (cluster per row, NOISE for none; centroids)
Clusterer = Callable[[Vectors, int, Vectors | None], tuple[Labels, Vectors]]


@dataclass(frozen=True)
class Run:
    """One recluster run: which reports, their vectors and texts, and the clustering."""

    report_ids: list[str]
    vectors: Vectors
    texts: list[str]
    clusters: Labels
    centroids: Vectors

    def members(self) -> list[list[str]]:
        grouped: list[list[str]] = [[] for _ in range(len(self.centroids))]
        for report, cluster in zip(self.report_ids, self.clusters, strict=True):
            if cluster != NOISE:
                grouped[int(cluster)].append(report)
        return grouped


@dataclass(frozen=True)
class SeedResult:
    seed: int
    reports: tuple[int, int]
    themes: tuple[int, int]
    kept: float
    ceiling: float
    events: Counter[str]
    match_seconds: float
    identities: IdentityResult
    run_2: Run


# ---------------------------------------------------------------------------------------- clustering


def kmeans_clusterer(vectors: Vectors, seed: int, start: Vectors | None) -> tuple[Labels, Vectors]:
    from sklearn.cluster import KMeans

    k = max(1, int(math.sqrt(len(vectors))))
    if start is not None and len(start) == k:
        model = KMeans(n_clusters=k, init=start, n_init=1, random_state=seed)
    else:
        model = KMeans(n_clusters=k, n_init=1, random_state=seed)
    labels = np.asarray(model.fit_predict(vectors), dtype=np.int64)
    return _compact(labels, vectors)


def clustering_module_clusterer(vectors: Vectors, seed: int, start: Vectors | None) -> tuple[Labels, Vectors]:
    """`riskradar.clustering.cluster_embeddings` with its defaults; `start` does not apply."""
    from riskradar.clustering import cluster_embeddings

    result = cluster_embeddings(vectors, seed=seed)
    return np.asarray(result.labels, dtype=np.int64), result.centroids


def anchored_clustering(
    run_1: Run, vectors: Vectors, seed: int, clusterer: Clusterer
) -> tuple[Labels, Vectors]:
    """Run 2 anchored on run 1: a report joins its nearest run-1 theme if it passes that theme's
    threshold (the ANCHOR_PERCENTILE of the members' cosine to the centroid); only the rest is
    clustered afresh, into new clusters."""
    k = len(run_1.centroids)
    thresholds = np.ones(k, dtype=np.float32)
    for cluster in range(k):
        similarity = run_1.vectors[run_1.clusters == cluster] @ run_1.centroids[cluster]
        thresholds[cluster] = np.percentile(similarity, ANCHOR_PERCENTILE) if len(similarity) else 1.0
    similarity = vectors @ run_1.centroids.T
    nearest = similarity.argmax(axis=1)
    joined = similarity[np.arange(len(vectors)), nearest] >= thresholds[nearest]
    labels = np.where(joined, nearest, NOISE).astype(np.int64)
    rest = np.flatnonzero(~joined)
    if len(rest) >= 2:
        rest_labels, _ = clusterer(vectors[rest], seed, None)
        labels[rest] = np.where(rest_labels != NOISE, rest_labels + k, NOISE)
    return _compact(labels, vectors)


def choose_clusterer(force_kmeans: bool) -> tuple[Clusterer, str]:
    if not force_kmeans and importlib.util.find_spec("riskradar.clustering") is not None:
        return clustering_module_clusterer, "riskradar.clustering.cluster_embeddings"
    return kmeans_clusterer, "KMeans, k = int(sqrt(n)) (stand-in)"


def _compact(labels: Labels, vectors: Vectors) -> tuple[Labels, Vectors]:
    """Clusters renumbered 0 … k-1 (empty ones dropped), with their unit mean vectors."""
    present = sorted({int(label) for label in labels if label != NOISE})
    renumber = {old: new for new, old in enumerate(present)}
    compact = np.array([renumber.get(int(label), NOISE) for label in labels], dtype=np.int64)
    centroids = np.array([vectors[compact == cluster].mean(axis=0) for cluster in range(len(present))])
    return compact, normalize_rows(centroids.reshape(len(present), vectors.shape[1]))


# ------------------------------------------------------------------------------------------ churn


def churned_runs(
    vectors: Vectors, texts: Sequence[str], times: Sequence[str] | None, churn: float, noise: float, seed: int
) -> tuple[tuple[list[int], list[str], Vectors, list[str]], tuple[list[int], list[str], Vectors, list[str]]]:
    """(row indices, report ids, vectors, texts) of run 1 and of run 2."""
    n = len(texts)
    if times is not None:
        order = sorted(range(n), key=lambda row: (_parse_time(times[row]), row))
        window = round(n / (1 + churn))
        rows_1, rows_2 = order[:window], order[n - window :]
        return _rows(rows_1, vectors, texts), _rows(rows_2, vectors, texts)
    rng = np.random.default_rng(seed)
    changed = round(n * churn)
    removed = set(rng.choice(n, size=changed, replace=False).tolist())
    remaining = [row for row in range(n) if row not in removed]
    sources = rng.choice(remaining, size=changed, replace=True)
    jitter = rng.normal(size=(changed, vectors.shape[1])) * (noise / math.sqrt(vectors.shape[1]))
    added = normalize_rows(vectors[sources] + jitter.astype(np.float32))
    run_1 = _rows(list(range(n)), vectors, texts)
    kept_ids, kept_vectors, kept_texts = _rows(remaining, vectors, texts)[1:]
    run_2 = (
        remaining + [-1] * changed,
        kept_ids + [f"new-{number:06d}" for number in range(changed)],
        np.concatenate([kept_vectors, added]),
        kept_texts + [texts[int(row)] for row in sources],
    )
    return run_1, run_2


def _rows(
    rows: list[int], vectors: Vectors, texts: Sequence[str]
) -> tuple[list[int], list[str], Vectors, list[str]]:
    return rows, [f"r-{row:06d}" for row in rows], vectors[rows], [texts[row] for row in rows]


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise SystemExit(f"--time-column: {value!r} is not an ISO 8601 time") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------ measure


def measure_seed(
    vectors: Vectors,
    texts: Sequence[str],
    times: Sequence[str] | None,
    *,
    seed: int,
    churn: float,
    noise: float,
    clusterer: Clusterer,
    warm_start: bool,
    anchor: bool,
) -> SeedResult:
    (_, ids_1, vectors_1, texts_1), (_, ids_2, vectors_2, texts_2) = churned_runs(
        vectors, texts, times, churn, noise, seed
    )
    run_1 = Run(ids_1, vectors_1, texts_1, *clusterer(vectors_1, seed, None))
    if anchor:
        clustering_2 = anchored_clustering(run_1, vectors_2, seed, clusterer)
    else:
        clustering_2 = clusterer(vectors_2, seed, run_1.centroids if warm_start else None)
    run_2 = Run(ids_2, vectors_2, texts_2, *clustering_2)

    first = match_themes(
        ThemeSnapshot.empty(vectors.shape[1]), {}, run_1.centroids, run_1.members(), version=1, now=RUN_1
    )
    snapshot = ThemeSnapshot(
        1,
        RUN_1,
        tuple(identity.theme_info(label=identity.theme_id) for identity in first.clusters),
        run_1.centroids,
    )
    previous_members = dict(zip(first.theme_ids, run_1.members(), strict=True))
    started = time.perf_counter()
    second = match_themes(snapshot, previous_members, run_2.centroids, run_2.members(), version=2, now=RUN_2)
    match_seconds = time.perf_counter() - started

    theme_1 = {
        r: first.theme_ids[c] for r, c in zip(run_1.report_ids, run_1.clusters, strict=True) if c != NOISE
    }
    theme_2 = {
        r: second.theme_ids[c] for r, c in zip(run_2.report_ids, run_2.clusters, strict=True) if c != NOISE
    }
    present_2 = set(run_2.report_ids)
    judged = [report for report in theme_1 if report in present_2]
    kept = sum(theme_2.get(report) == theme_1[report] for report in judged)
    events = Counter(identity.lineage.event.value for identity in second.clusters)
    events["dormant"] = sum(o.event is LineageEvent.DORMANT for o in second.previous.values())
    return SeedResult(
        seed=seed,
        reports=(len(run_1.report_ids), len(run_2.report_ids)),
        themes=(len(run_1.centroids), len(run_2.centroids)),
        kept=kept / len(judged) if judged else 1.0,
        ceiling=_ceiling(run_1, run_2, judged),
        events=events,
        match_seconds=match_seconds,
        identities=second,
        run_2=run_2,
    )


def _ceiling(run_1: Run, run_2: Run, judged: Sequence[str]) -> float:
    """The share of `judged` reports the best one-to-one theme mapping keeps."""
    if not judged:
        return 1.0
    cluster_1 = dict(zip(run_1.report_ids, run_1.clusters.tolist(), strict=True))
    cluster_2 = dict(zip(run_2.report_ids, run_2.clusters.tolist(), strict=True))
    table = np.zeros((len(run_1.centroids), len(run_2.centroids)))
    for report in judged:
        if cluster_2[report] != NOISE:
            table[cluster_1[report], cluster_2[report]] += 1
    rows, columns = linear_sum_assignment(table, maximize=True)
    return float(table[rows, columns].sum()) / len(judged)


# ------------------------------------------------------------------------------------------ report


def print_table(results: Sequence[SeedResult]) -> None:
    columns = ("seed", "reports run 1 → 2", "themes run 1 → 2", "kept id", "ceiling")
    events = ("continued", "split", "merged", "born", "dormant", "match")
    print("| " + " | ".join(columns + events) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        e = r.events
        print(
            f"| {r.seed} | {r.reports[0]:,} → {r.reports[1]:,} | {r.themes[0]} → {r.themes[1]} "
            f"| {r.kept:.1%} | {r.ceiling:.1%} | {e['continued']} | {e['split']} | {e['merged']} "
            f"| {e['born']} | {e['dormant']} | {r.match_seconds * 1000:.0f} ms |"
        )
    kept = [r.kept for r in results]
    ceiling = [r.ceiling for r in results]
    print(
        f"| **mean** | | | **{statistics.mean(kept):.1%}** (min {min(kept):.1%}) "
        f"| {statistics.mean(ceiling):.1%} | | | | | | |"
    )


def print_themes(result: SeedResult, count: int) -> None:
    """Run 2's largest themes, plus every merged or split one, with their labels."""
    run = result.run_2
    labels = label_themes(run.texts, run.vectors, run.clusters, run.centroids)
    sizes = np.bincount(run.clusters[run.clusters != NOISE], minlength=len(run.centroids))
    largest = set(np.argsort(-sizes, kind="stable")[:count].tolist())
    changed = {
        i.cluster for i in result.identities.clusters if i.lineage.event in ("merged", "split", "born")
    }
    print(
        f"\nthemes of run 2, seed {result.seed} (the {count} largest, then every born, merged or split one)\n"
    )
    print("| theme | reports | event | from | label | keywords | nearest report |")
    print("|---|---:|---|---|---|---|---|")
    for cluster in sorted(largest | changed, key=lambda c: (c not in largest, -int(sizes[c]), c)):
        identity = result.identities.clusters[cluster]
        parents = ", ".join(p.theme_id for p in identity.lineage.parents if p.theme_id != identity.theme_id)
        label = labels[cluster]
        example = label.examples[0] if label.examples else ""
        print(
            f"| {identity.theme_id} | {sizes[cluster]} | {identity.lineage.event.value} | {parents} "
            f"| {label.label} | {', '.join(label.terms[:5])} | {example} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataset_arguments(parser)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 … N-1 (default 5)")
    parser.add_argument("--churn", type=float, default=0.05, help="share of reports removed and added")
    parser.add_argument(
        "--noise", type=float, default=0.1, help="relative norm of the noise on added vectors"
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--kmeans", action="store_true", help="KMeans even if riskradar.clustering exists")
    parser.add_argument(
        "--warm-start", action="store_true", help="KMeans run 2 starts from run 1's centroids"
    )
    parser.add_argument(
        "--anchor", action="store_true", help="run 2 joins run 1's themes first, clusters only the rest"
    )
    parser.add_argument("--show-themes", type=int, default=0, help="list run 2's N largest themes (seed 0)")
    args = parser.parse_args()
    if not 0 <= args.churn < 1:
        parser.error("--churn must be in [0, 1)")

    label_column = resolve_label_column(args.dataset, args.label_column)
    embedded = load_embedded(args.dataset, args.text_column, label_column, args.time_column)
    texts, vectors = embedded.dataset.texts, embedded.vectors
    times = embedded.dataset.times
    if args.limit is not None:
        texts, vectors = texts[: args.limit], vectors[: args.limit]
        times = times[: args.limit] if times is not None else None
    clusterer, clusterer_name = choose_clusterer(args.kmeans)
    if args.anchor:
        clusterer_name += f"; run 2 anchored on run 1's themes (joins above their p{ANCHOR_PERCENTILE:g})"
    elif clusterer is kmeans_clusterer:
        clusterer_name += ", run 2 warm-started from run 1" if args.warm_start else ", run 2 cold (k-means++)"
    churn_kind = (
        "sliding time window" if times is not None else f"random, added = copies + noise {args.noise}"
    )
    print(f"# Theme stability: {args.dataset.name}, {len(texts):,} reports\n")
    print(f"clustering: {clusterer_name}; churn {args.churn:.0%} ({churn_kind}); goal: kept ≥ {GOAL:.0%}\n")

    results = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        result = measure_seed(
            vectors,
            texts,
            times,
            seed=seed,
            churn=args.churn,
            noise=args.noise,
            clusterer=clusterer,
            warm_start=args.warm_start,
            anchor=args.anchor,
        )
        results.append(result)
        print(
            f"  seed {seed}: kept {result.kept:.1%} in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
    print_table(results)
    if args.show_themes:
        print_themes(results[0], args.show_themes)
    met = statistics.mean(r.kept for r in results) >= GOAL
    print(
        f"\n{'goal met' if met else 'goal NOT met'}: mean kept {statistics.mean(r.kept for r in results):.1%}"
    )


if __name__ == "__main__":
    main()
