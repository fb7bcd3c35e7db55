"""Themes from report embeddings: micro-clusters, merged by Ward's method, cut by cohesion.

The recluster job calls `cluster_embeddings` on the window's report embeddings (MiniLM, 384-d, unit
rows) and publishes one theme per cluster: its centroid, its size and its assignment threshold,
which triage uses online (`riskradar.themes.assign_to_themes`). The pipeline:

1. PCA to `reduced_dimensions` (128) for the geometry-heavy steps;
2. MiniBatchKMeans over-segments the window into ~6*sqrt(n) micro-clusters (600 at 10k reports);
3. Ward's method builds a tree over the micro-clusters; the tree is cut top-down at the largest
   nodes whose members are alike enough: the square root of their mean pairwise cosine similarity
   (for a large node, the norm of their mean vector) is at least `cohesion` (0.78). A single
   micro-cluster is tested too, at `micro_cluster_cohesion` (0.70): k-means puts every report
   somewhere, and a micro-cluster of unrelated one-off reports is no theme (its reports go on to
   step 4). The number of themes follows from the data: no k is given, and as cohesion is a
   property of a theme, not of the window, a random half of a window yields about the same themes;
4. in the full space: members below `threshold_floor` of their centroid leave their cluster,
   clusters under the minimum size are dissolved, and the reports so freed join the nearest theme
   if they pass its threshold (the rule triage applies) or are left out (label -1: the novelty
   pool); each theme's threshold is the 5th percentile of its members' similarity to the centroid,
   shrunk towards the pooled percentile for small themes and floored at 0.5.

Deterministic for a seed (and the same input order); memory linear in n (no n x n matrix).

**Warm start** (`previous`: the `state` of the previous run's result; `new_rows`: the reports that
run did not cluster). Clustered from scratch, a window with 5 % of its reports replaced moves a
quarter of the rest to another theme (Ward's tree and the cohesion cut flip on small changes), so
theme ids cannot follow their reports. Warm, the run keeps what did not change:

1. the state holds the previous run's micro-clusters in the full embedding space (the PCA basis is
   refitted on every window): unit centroid, radius (its farthest member's similarity) and the
   cluster of the cut each went to;
2. the window is micro-clustered afresh as in a cold run; a report the previous run clustered then
   goes back to the nearest previous micro-cluster if it is within its radius; a new report joins
   the previous micro-cluster where most of its fresh micro-cluster's old reports went; a fresh
   micro-cluster made mostly of new reports that fits them clearly better than the previous
   micro-clusters (`novelty_gap`) is a new region and stays whole, and so does whatever is left;
3. in the merge, each previous cluster that is still cohesive (`keep_margin`) is one unit: it comes
   out whole unless it drifted apart, and two of them become one theme only when clearly more
   cohesive together than themes a cold run keeps apart (`merge_margin`); fresh micro-clusters are
   merged as in a cold run, into previous clusters or into new themes;
4. members, small themes and thresholds are settled as in a cold run (step 4 of the pipeline).

A new group of reports therefore forms its own theme wherever a cold run would, and themes still
split or merge when their reports really move. Measured on Banking77 (benchmarks/theme_stability.py,
through the recluster job's own steps): 99.3-99.8 % of reports keep their theme id with 5 % churn
(cold: ~76 %), over five consecutive runs too, with the same NMI as cold runs; growing the window
from 1,000 / 5,000 / 8,000 reports to 10,003 gives NMI 0.783 / 0.790 / 0.791 (cold 0.791). A state
of another dimension or cohesion is ignored (the run starts cold).

Why this pipeline — measured on Banking77 train (10,003 queries, 77 intents; NMI / ARI count
outliers as one cluster) on the 2-core reference VM, which other processes shared at the time, so
times are from the same runs and only their ratios mean much (benchmarks/cluster_quality.py and
cluster_scale.py make the final tables):

- BERTopic 0.17.4 defaults + reduce_outliers("embeddings"): ~300 themes, NMI 0.786-0.790 (UMAP
  is not seeded by default), the slowest by far (UMAP), ~0.9 GB peak RSS.
- KMeans told k = 50 / 77 / 100 / 150 / 300: NMI 0.734 / 0.766 / 0.782 / 0.784 / 0.779 — and
  there is no true k for reports.
- PCA-16/32/64 + sklearn HDBSCAN (min_cluster_size 5-25, min_samples 5 or none, eom or leaf),
  outliers reassigned to the nearest centroid: 36-356 clusters, NMI 0.67-0.788 (best PCA-64, mcs
  10, min_samples 5), swinging with min_cluster_size; at 100k reports (mcs n/1000) 140 s CPU.
- Ward on all points, told k = 77 / 100 / 150: NMI 0.784 / 0.788 / 0.793, n x n memory.
- KMeans micro-clusters + average or complete linkage, told the best k: NMI 0.79-0.80, below
  Ward at k = 77-100.
- **This pipeline**, 6 seeds x row orders: ~150 themes, NMI 0.795 +- 0.003 (min 0.792), ARI ~0.50,
  ~0.7 % of reports left out; ~2 s single-threaded at 10k, ~19x faster than BERTopic.
- The same with cohesion measured between members (each compared with the others, not with itself)
  and single micro-clusters tested at 0.70, as now: ~158 themes, NMI 0.795 +- 0.004 (min 0.790),
  ARI ~0.50, ~0.7 % left out. Measured as the norm of the mean vector, a member's similarity to
  itself counts, which lets small groups of unrelated reports pass (three at pairwise 0.5 score
  0.82), and single micro-clusters were themes whatever their cohesion: 10 themes plus 1,000
  unrelated one-off reports gave 59 made-up themes holding 461 one-offs (now none; all one-offs stay
  in the pool). Testing single micro-clusters at the full 0.78 also split up more of the themes
  made of related reports of different intents (10 Banking77 intents plus 3 reports of each other
  intent: 3-10 themes with no majority intent instead of 7-15; 5-17 at 0.70) but cost 0.003 of NMI
  and left 1.7 % of reports out. The variants below were measured before this change.

Variants of this pipeline, 6 seeds x row orders each (NMI mean, min): full 384-d instead of
PCA-128 0.796, 0.791 (2x slower); PCA-64 0.788, 0.784; PCA-32 ~0.78; 4 / 10 micro-clusters per
sqrt(n) 0.796 / 0.790; cohesion 0.76 ~115 themes 0.785, 0.777; cohesion 0.80 ~200 themes 0.799,
0.795; 0.84 250-450 themes ~0.79. Size-weighted Ward, Ward in the full space and a k-means
refinement after the cut brought nothing (0.797, 0.798, -0.005 before step 4 existed). Random
halves and subsets of 1,000-5,000 reports: NMI 0.79-0.81 with 80-145 themes. At 100k reports
(Banking77 resampled with noise) NMI stays ~0.80 with ~200 themes, in ~15 s and ~0.7 GB peak RSS
(the whole process) single-threaded; PCA-32 + HDBSCAN took 140 s there.

Threads: on the shared 2-core VM, letting scikit-learn / BLAS use both cores made runs 3-10x
slower in wall time *and* CPU time (spin-waiting threads), so `threads` defaults to 1; re-check
with `benchmarks/cluster_scale.py --threads 1,default` on a dedicated machine.

Known limits: `cohesion` is in the model's cosine units, chosen on short banking queries; longer,
more varied reports are less similar to each other and would give more, smaller themes at 0.78 —
re-measure with benchmarks/cluster_quality.py on labelled reports before changing the model or
the kind of text. Ward favours compact themes of similar spread; a theme much broader than
`cohesion` allows is split into several.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.cluster.hierarchy import linkage
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships with scikit-learn

from riskradar.themes import ClusteringState

# scikit-learn and scipy are imported here, not lazily inside cluster_embeddings: threadpoolctl can
# only limit the thread pools of libraries (OpenMP, OpenBLAS) already loaded when the limit is set.

Vectors = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]

#: Label of a report deliberately left out of every theme (it stays in the novelty pool).
LEFT_OUT: Final = -1
# Below this many reports a PCA buys no speed and its components are poorly estimated.
_MIN_ROWS_FOR_REDUCTION: Final = 512
# Inputs must be unit rows; norms further than this from 1 are renormalised (zero rows are refused).
_UNIT_TOLERANCE: Final = 1e-3
# A warm start captures a report within a micro-cluster's radius less this much: the radius is its
# farthest member's similarity, which float32 rounding may put a hair above that member's own.
_CAPTURE_TOLERANCE: Final = 1e-4
# Rows per block when comparing every report with every micro-cluster (bounds the temporaries).
_BLOCK_ROWS: Final = 4096


class ClusteringConfig(BaseModel):
    """How the recluster job turns a window of embeddings into themes. Defaults were chosen by
    measurement (see the module docstring); all but `cohesion` scale with the window or are
    about speed, `cohesion` sets how broad a theme may be."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A theme's members are at least this alike: the square root of their mean pairwise cosine
    #: similarity (for a large theme, the norm of their mean vector: their mean similarity to their
    #: centroid). Higher: more, tighter themes. Independent of the window size, so half a window
    #: yields about the same themes as the whole.
    cohesion: float = Field(default=0.78, gt=0.0, lt=1.0)
    #: A single micro-cluster the cut reaches is a theme only if its members are at least this alike
    #: (the same measure as `cohesion`). Lower than `cohesion`: k-means already grouped them, and a
    #: micro-cluster a little looser than a theme is mostly the edge of a real one; unrelated one-off
    #: reports (pairwise cosine 0.1-0.3) score 0.3-0.55. Banking77 NMI (6 seeds x row orders):
    #: 0.795 at 0.70 as with no test at all, 0.794 at 0.74, 0.792 at 0.78; 10 themes plus 1,000
    #: one-offs: no made-up theme at any of them (59 holding 461 one-offs with no test).
    micro_cluster_cohesion: float = Field(default=0.70, gt=0.0, lt=1.0)
    #: Micro-clusters (MiniBatchKMeans) per square root of the number of reports: 6 gives ~600 for
    #: 10k reports, ~1,900 for 100k. They are the atoms that Ward's method merges.
    micro_clusters_per_sqrt_n: float = Field(default=6.0, gt=0.0)
    #: PCA dimensions the micro-clustering and merging run in (0: the full 384). Cohesion,
    #: centroids and thresholds are always computed in the full space.
    reduced_dimensions: int = Field(default=128, ge=0)
    #: MiniBatchKMeans batch size (also bounds its memory per step).
    batch_size: int = Field(default=4096, ge=64)
    #: A theme needs at least max(min_theme_size, ceil(min_theme_share * n)) members; the members
    #: of smaller clusters join the nearest theme if they pass its threshold, else are left out.
    min_theme_size: int = Field(default=3, ge=1)
    min_theme_share: float = Field(default=0.0005, ge=0.0, lt=1.0)
    #: A theme's assignment threshold is this percentile of its members' cosine similarity to its
    #: centroid (so ~95 % of members would be assigned to it again by triage) ...
    threshold_percentile: float = Field(default=5.0, ge=0.0, le=100.0)
    #: ... shrunk towards the same percentile over all themes' members, with this weight in
    #: reports (a 3-member theme's own percentile says little) ...
    threshold_prior_weight: float = Field(default=20.0, ge=0.0)
    #: ... and never below this floor (no theme accepts reports this far from its centroid).
    threshold_floor: float = Field(default=0.5, ge=-1.0, le=1.0)
    #: BLAS / OpenMP threads while clustering (None: the libraries' defaults, one per core). On the
    #: shared 2-core reference VM two threads were never faster than one and often 3-10x slower,
    #: in CPU time too: threads spin-waiting on each other in k-means' many short parallel steps.
    threads: int | None = Field(default=1, ge=1)
    #: Warm start: a previous run's cluster stays one unit of the merge while its members' cohesion
    #: stays at least `cohesion` minus this; below that it has drifted apart and is merged afresh
    #: from its micro-clusters (so it can split). The margin keeps a cluster that sits right at
    #: `cohesion` from flipping between runs: at 0 two of three Banking77 seeds kept only 98 % of
    #: reports in their cluster (5 % churn), at 0.02 and 0.05 99.4-99.7 %.
    keep_margin: float = Field(default=0.02, ge=0.0, lt=1.0)
    #: Warm start: two or more previous clusters become one theme only at `cohesion` plus this.
    #: Cohesion alone does not keep themes apart in a cold run — Ward's tree does: on Banking77 the
    #: cold pipeline keeps ~200 pairs of themes apart whose union has cohesion >= 0.80, the closest
    #: at 0.87. At 0.02 a warm run on unchanged data merged 7 such pairs, at 0.05 one to four; at
    #: 0.1 (0.88) none, so only themes that came closer than any pair a cold run keeps apart merge.
    merge_margin: float = Field(default=0.1, ge=0.0, lt=1.0)
    #: Warm start: a fresh micro-cluster of mostly new reports is a new region, kept whole, when its
    #: members are on average this much more cosine-similar to it (leave-one-out) than to the
    #: nearest previous micro-cluster. A Banking77 intent held out of run 1 and added in run 2 was
    #: in a theme of its own for 67 / 70 / 62 % of its reports (seeds 0-2) at 0.05, 77 / 70 / 62 %
    #: at 0.03, 59 / 70 / 42 % at 0.08 and 22 / 70 / 62 % without new regions; stability the same.
    novelty_gap: float = Field(default=0.05, ge=0.0, le=2.0)


DEFAULT_CONFIG: Final = ClusteringConfig()


@dataclass(frozen=True)
class ClusterResult:
    """Themes found in one window. Cluster ids are 0..k-1, largest theme first."""

    #: (n,) the cluster id of each input row, or LEFT_OUT (-1) for a report in no theme.
    labels: Labels = field(repr=False)
    #: (k, d) float32 unit rows: the normalised mean of each cluster's members.
    centroids: Vectors = field(repr=False)
    #: (k,) float32 in [-1, 1]: minimum cosine similarity for triage to assign a report to a cluster.
    thresholds: Vectors = field(repr=False)
    #: (k,) members per cluster (sizes[i] == (labels == i).sum()).
    sizes: Labels
    #: What the next run needs to start warm from this one (`cluster_embeddings(previous=...)`).
    state: ClusteringState = field(repr=False)
    #: (k,) the group of `state.micro_groups` each cluster was cut from (how merge_clusters keeps
    #: the warm start's groups in step with the clusters it combines).
    groups: Labels = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    @property
    def n_clusters(self) -> int:
        return int(self.sizes.shape[0])

    @property
    def n_left_out(self) -> int:
        return int(np.count_nonzero(self.labels == LEFT_OUT))


def cluster_embeddings(
    vectors: Vectors,
    config: ClusteringConfig = DEFAULT_CONFIG,
    *,
    seed: int = 0,
    previous: ClusteringState | None = None,
    new_rows: npt.NDArray[np.bool_] | None = None,
) -> ClusterResult:
    """Themes of `vectors` ((n, d) unit rows, e.g. MiniLM embeddings); deterministic for a seed.

    With `previous` (the `state` of the previous run's result) the run starts warm (see the module
    docstring): an unchanged region of the window gets the same clusters again, new reports are
    clustered as a cold run would cluster them. `new_rows` ((n,) bool, required with `previous`)
    marks the reports the previous run did not cluster — for the recluster job, those in no
    previous theme. A previous state of another dimension, cut at another `cohesion`, or with no
    micro-clusters is ignored: the run starts cold.

    Memory stays linear in n (no n x n matrix): the largest temporaries are the PCA projection,
    a block of report x micro-cluster similarities and the (micro-clusters x micro-clusters)
    distances of the merge. Raises ValueError for anything but a 2-D array of finite, non-zero
    rows (rows not of unit length are normalised).
    """
    unit = _unit_rows(vectors)
    if previous is not None and new_rows is None:
        raise ValueError("new_rows is required with previous: which reports the previous run did not cluster")
    if new_rows is not None and np.shape(new_rows) != (unit.shape[0],):
        raise ValueError(
            f"new_rows must have one flag per row ({unit.shape[0]}), got shape {np.shape(new_rows)}"
        )
    if unit.shape[0] == 0:
        return _empty_result(0, unit.shape[1], ClusteringState.empty(unit.shape[1], config.cohesion))
    if previous is not None and not _can_start_from(previous, unit.shape[1], config):
        previous = None
    is_new = np.ones(unit.shape[0], dtype=np.bool_) if new_rows is None else np.asarray(new_rows, np.bool_)
    with threadpool_limits(limits=config.threads):
        return _cluster(unit, config, seed, previous, is_new)


def _can_start_from(previous: ClusteringState, dimension: int, config: ClusteringConfig) -> bool:
    # Another model (dimension) makes the micro-clusters meaningless; another cohesion makes the
    # remembered groups the wrong size (kept groups would never merge or split to the new one).
    return (
        previous.micro_clusters > 0
        and previous.dimension == dimension
        and math.isclose(previous.cohesion, config.cohesion, abs_tol=1e-9)
    )


def _cluster(
    unit: Vectors,
    config: ClusteringConfig,
    seed: int,
    previous: ClusteringState | None,
    is_new: npt.NDArray[np.bool_],
) -> ClusterResult:
    reduced = _reduce(unit, config.reduced_dimensions, seed)
    raw_labels = _micro_clusters(reduced, _micro_cluster_count(unit.shape[0], config), config, seed)
    if previous is not None:
        raw_labels = _warm_micro_clusters(unit, raw_labels, previous, is_new, config)
    micro_ids, micro_sums, micro_counts, micro_means, micro_labels = _micro_statistics(
        unit, reduced, raw_labels
    )
    previous_group = None
    if previous is not None:
        # Micro-clusters carried over from the previous run belong to its clusters; fresh ones (ids
        # from previous.micro_clusters on) to none.
        carried = micro_ids < previous.micro_clusters
        previous_group = np.where(
            carried, previous.micro_groups[np.where(carried, micro_ids, 0)], LEFT_OUT
        ).astype(np.int64)
    micro_theme = _merge_by_cohesion(
        micro_means, micro_sums, micro_counts, config, previous_group=previous_group
    )
    state = _next_state(unit, micro_labels, micro_sums, micro_theme, config.cohesion)
    return _finalise(unit, micro_theme[micro_labels], config, state)


# --------------------------------------------------------------------------- steps


def _unit_rows(vectors: Vectors) -> Vectors:
    array = np.asarray(vectors)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array of embeddings, got shape {array.shape}")
    if array.shape[0] and not np.isfinite(array).all():
        raise ValueError("embeddings contain NaN or infinite values")
    unit = np.ascontiguousarray(array, dtype=np.float32)
    if unit.shape[0] == 0:
        return unit
    norms = np.linalg.norm(unit, axis=1)
    if (norms == 0).any():
        raise ValueError("embeddings contain zero vectors")
    if np.abs(norms - 1.0).max() > _UNIT_TOLERANCE:
        unit = (unit / norms[:, None]).astype(np.float32)
    return unit


def _reduce(unit: Vectors, dimensions: int, seed: int) -> Vectors:
    """PCA projection for the geometry-heavy steps (k-means, Ward); the input when not worth it."""
    n, full = unit.shape
    if dimensions == 0 or dimensions >= full or n < max(_MIN_ROWS_FOR_REDUCTION, 4 * dimensions):
        return unit
    pca = PCA(n_components=dimensions, svd_solver="randomized", random_state=seed)
    reduced: Vectors = pca.fit_transform(unit).astype(np.float32, copy=False)
    return reduced


def _micro_cluster_count(n: int, config: ClusteringConfig) -> int:
    return max(1, round(config.micro_clusters_per_sqrt_n * math.sqrt(n)))


def _micro_clusters(reduced: Vectors, count: int, config: ClusteringConfig, seed: int) -> Labels:
    """Over-segment with MiniBatchKMeans into `count` micro-clusters (labels may skip ids)."""
    n = reduced.shape[0]
    count = min(n, count)
    if count >= n:  # tiny input: every report is its own micro-cluster
        return np.arange(n, dtype=np.int64)
    kmeans = MiniBatchKMeans(
        n_clusters=count,
        batch_size=min(config.batch_size, n),
        n_init=1,
        random_state=seed,
    )
    labels: Labels = kmeans.fit_predict(reduced).astype(np.int64)
    return labels


def _warm_micro_clusters(
    unit: Vectors,
    fresh_labels: Labels,
    previous: ClusteringState,
    is_new: npt.NDArray[np.bool_],
    config: ClusteringConfig,
) -> Labels:
    """Micro-clusters of a warm start: ids 0..m-1 are the previous run's, m + j fresh micro-cluster j.

    `fresh_labels` over-segment the window exactly as in a cold run. Then:

    - a report the previous run clustered stays in its previous micro-cluster: the most similar
      previous centroid, if the report is within that micro-cluster's radius;
    - a new report follows its fresh micro-cluster's reports that did so: it joins the previous
      micro-cluster most of them are in (k-means placed it among them; a radius test alone let
      broad neighbouring micro-clusters take in reports of other kinds: NMI 0.781 instead of 0.784
      when the window grew from 7,000 to 10,003 Banking77 reports);
    - a fresh micro-cluster made mostly of new reports that it explains clearly better than the
      previous micro-clusters do (`novelty_gap`) is a new region — a new group of reports — and is
      kept whole; so is what is left: reports within no previous radius and new reports whose
      fresh micro-cluster holds no previous one (free units of the merge).
    """
    previous_count = previous.micro_clusters
    _, fresh = np.unique(fresh_labels, return_inverse=True)
    fresh = fresh.astype(np.int64)
    fresh_count = int(fresh.max()) + 1
    captured_by, explained = _capture(unit, previous)
    stayed = ~is_new & (captured_by != LEFT_OUT)
    joined = _most_common_partner(fresh[stayed], captured_by[stayed], fresh_count)
    labels = np.where(is_new, joined[fresh], captured_by)
    new_region = _new_regions(unit, fresh, explained, is_new, config)
    keep_fresh = new_region[fresh] | (labels == LEFT_OUT)
    return np.where(keep_fresh, previous_count + fresh, labels)


def _most_common_partner(keys: Labels, partners: Labels, key_count: int) -> Labels:
    """For each key 0..key_count-1, the partner it is paired with most often (ties: the lowest
    partner), LEFT_OUT for a key never paired."""
    result = np.full(key_count, LEFT_OUT, dtype=np.int64)
    if keys.size == 0:
        return result
    pairs, counts = np.unique(np.stack([keys, partners]), axis=1, return_counts=True)
    order = np.lexsort((pairs[1], -counts, pairs[0]))  # by key, then most pairs, then lowest partner
    first = order[np.r_[True, pairs[0, order][1:] != pairs[0, order][:-1]]]
    result[pairs[0, first]] = pairs[1, first]
    return result


def _capture(unit: Vectors, previous: ClusteringState) -> tuple[Labels, Vectors]:
    """For each report, the most similar previous micro-cluster among those whose radius holds it
    (LEFT_OUT when none does), and its similarity to the nearest previous centroid.

    Among those that hold it, not simply the nearest: a report at the edge of its own micro-cluster
    can be nearer the centroid of a tighter neighbour whose radius it is outside of; taking only the
    nearest then left it out, and on an unchanged window a few such reports came out as a "new"
    theme (seen on the shared end-to-end stack: 3 reports of 245)."""
    n = unit.shape[0]
    labels = np.empty(n, dtype=np.int64)
    similarity = np.empty(n, dtype=np.float32)
    radii = previous.micro_radii.astype(np.float32) - np.float32(_CAPTURE_TOLERANCE)
    centroids_t = np.ascontiguousarray(previous.micro_centroids.T, dtype=np.float32)
    for begin in range(0, n, _BLOCK_ROWS):
        scores = unit[begin : begin + _BLOCK_ROWS] @ centroids_t
        rows = np.arange(scores.shape[0])
        similarity[begin : begin + rows.size] = scores[rows, scores.argmax(axis=1)]
        holding = np.where(scores >= radii[np.newaxis, :], scores, -np.inf)
        best = holding.argmax(axis=1)
        labels[begin : begin + rows.size] = np.where(np.isfinite(holding[rows, best]), best, LEFT_OUT)
    return labels, similarity


def _new_regions(
    unit: Vectors,
    fresh: Labels,
    explained: Vectors,
    is_new: npt.NDArray[np.bool_],
    config: ClusteringConfig,
) -> npt.NDArray[np.bool_]:
    """Which fresh micro-clusters are new regions: at least the minimum theme size, mostly new
    reports, and on average their members are at least `novelty_gap` more similar to the rest of
    their fresh micro-cluster (leave-one-out, so that a tiny one gains nothing from its members'
    own weight) than to their nearest previous micro-cluster.

    Both conditions are needed. A tight clump of old reports at the edge of a broad micro-cluster
    passes the gain test (on Banking77 a handful per run, 6-9 reports each) but was clustered
    before and is not new; a surge of new reports in a known region is new but explained as well
    by the previous micro-clusters, so it joins its theme (which then looks emerging)."""
    count = int(fresh.max()) + 1
    sums = _group_sums(unit, fresh, count)
    sizes = np.bincount(fresh, minlength=count)
    # u . (S - u) / |S - u| for each report u and its micro-cluster's sum S, from u . S and |S|^2:
    # no (n x d) temporary, only a block of gathered sums at a time.
    to_sum = np.empty(fresh.size, dtype=np.float64)
    own_norm_sq = np.empty(fresh.size, dtype=np.float64)
    for begin in range(0, fresh.size, _BLOCK_ROWS):
        rows = slice(begin, begin + _BLOCK_ROWS)
        to_sum[rows] = np.einsum("ij,ij->i", unit[rows], sums[fresh[rows]])
        own_norm_sq[rows] = np.einsum("ij,ij->i", unit[rows], unit[rows])
    rest_norm_sq = np.einsum("ij,ij->i", sums, sums)[fresh] - 2 * to_sum + own_norm_sq
    leave_one_out = np.where(
        rest_norm_sq > 1e-9, (to_sum - own_norm_sq) / np.sqrt(np.maximum(rest_norm_sq, 1e-9)), 0.0
    )
    gain = np.bincount(fresh, weights=leave_one_out - explained, minlength=count)
    min_size = max(config.min_theme_size, math.ceil(config.min_theme_share * fresh.size), 2)
    mostly_new = 2 * np.bincount(fresh, weights=is_new, minlength=count) > sizes
    return (sizes >= min_size) & mostly_new & (gain / sizes >= config.novelty_gap)


def _micro_statistics(
    unit: Vectors, reduced: Vectors, micro_labels: Labels
) -> tuple[Labels, npt.NDArray[np.float64], Labels, npt.NDArray[np.float64], Labels]:
    """Per non-empty micro-cluster: its id in `micro_labels`, the sum of its full vectors, its size
    and its mean in the reduced space; and the micro-cluster of each report, renumbered 0..m-1
    over non-empty ones."""
    ids, dense = np.unique(micro_labels, return_inverse=True)
    dense = dense.astype(np.int64)
    count = int(dense.max()) + 1
    sums = _group_sums(unit, dense, count)
    counts = np.bincount(dense, minlength=count).astype(np.int64)
    reduced_sums = sums if reduced is unit else _group_sums(reduced, dense, count)
    return ids.astype(np.int64), sums, counts, reduced_sums / counts[:, None], dense


def _group_sums(
    rows: Vectors | npt.NDArray[np.float64], groups: Labels, count: int
) -> npt.NDArray[np.float64]:
    """Row sums per group, accumulated in float64 a block of rows at a time (np.add.at is slow,
    a one-hot matrix or a float64 copy of all rows is big)."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    sums = np.zeros((count, rows.shape[1]), dtype=np.float64)
    block = 16384
    for begin in range(0, order.size, block):
        chunk_groups = sorted_groups[begin : begin + block]
        starts = np.flatnonzero(np.r_[True, chunk_groups[1:] != chunk_groups[:-1]])
        rows_in_chunk = rows[order[begin : begin + block]].astype(np.float64)
        sums[chunk_groups[starts]] += np.add.reduceat(rows_in_chunk, starts, axis=0)
    return sums


def _merge_by_cohesion(
    means: npt.NDArray[np.float64],
    sums: npt.NDArray[np.float64],
    counts: Labels,
    config: ClusteringConfig,
    *,
    previous_group: Labels | None = None,
) -> Labels:
    """The theme of each micro-cluster (0..k-1): Ward's tree over units, cut top-down by cohesion.

    Cold (`previous_group` None) the units are the micro-clusters. Warm, `previous_group[i]` is the
    previous run's cluster of micro-cluster i (LEFT_OUT for a fresh one):

    - a previous cluster whose micro-clusters here still have cohesion >= cohesion - keep_margin
      (or that is a single micro-cluster, which cannot split) is one unit; one below that has
      drifted apart and its micro-clusters are units of their own, free to form several themes (a
      split) or to join others;
    - fresh micro-clusters are units of their own, merged as in a cold run: they join a previous
      cluster, or each other, at `cohesion`;
    - a node holding two previous clusters must reach cohesion + merge_margin to become one theme.

    So an unchanged region keeps its clusters, new reports are merged as a cold run would merge
    them, and only a clear change of cohesion, not the noise of one run, splits or merges themes.
    """
    if previous_group is None:
        return _cut_by_cohesion(means, sums, counts, np.zeros(means.shape[0], dtype=np.int64), config)
    groups, group_of_micro = np.unique(previous_group, return_inverse=True)
    group_of_micro = group_of_micro.astype(np.int64)
    group_sums = _group_sums(sums, group_of_micro, groups.size)
    group_counts = np.bincount(group_of_micro, weights=counts, minlength=groups.size)
    group_micro_clusters = np.bincount(group_of_micro, minlength=groups.size)
    kept = (groups != LEFT_OUT) & (
        (_cohesion(group_sums, group_counts) >= config.cohesion - config.keep_margin)
        | (group_micro_clusters == 1)
    )
    # Units: one per kept previous cluster, then one per remaining micro-cluster.
    kept_count = int(kept.sum())
    kept_index = np.full(groups.size, LEFT_OUT, dtype=np.int64)
    kept_index[kept] = np.arange(kept_count, dtype=np.int64)
    in_kept = kept[group_of_micro]
    unit_of_micro = np.where(in_kept, kept_index[group_of_micro], 0)
    unit_of_micro[~in_kept] = kept_count + np.arange(int((~in_kept).sum()), dtype=np.int64)
    unit_count = int(unit_of_micro.max()) + 1
    unit_sums = _group_sums(sums, unit_of_micro, unit_count)
    unit_counts = np.bincount(unit_of_micro, weights=counts, minlength=unit_count).astype(np.int64)
    unit_means = _group_sums(means * counts[:, None], unit_of_micro, unit_count) / unit_counts[:, None]
    previous_units = (np.arange(unit_count) < kept_count).astype(np.int64)
    theme_of_unit = _cut_by_cohesion(unit_means, unit_sums, unit_counts, previous_units, config)
    return theme_of_unit[unit_of_micro]


def _cut_by_cohesion(
    means: npt.NDArray[np.float64],
    sums: npt.NDArray[np.float64],
    counts: Labels,
    previous_units: Labels,
    config: ClusteringConfig,
) -> Labels:
    """Ward's tree over the units, cut top-down: a node becomes a theme as soon as its members'
    `_cohesion` reaches `cohesion` — + merge_margin when it holds two or more previous units
    (`previous_units[i]` 1) — and a node below that is split into its two children; a single unit
    below it is no theme. Returns the theme of each unit, LEFT_OUT for those in no theme."""
    m = means.shape[0]
    # One unit: no tree, the root is the unit itself (still tested, like any leaf).
    tree = np.zeros((0, 4), dtype=np.float64) if m == 1 else linkage(means, method="ward")
    children = tree[:, :2].astype(np.int64)
    node_sums = np.empty((2 * m - 1, sums.shape[1]), dtype=np.float64)
    node_counts = np.empty(2 * m - 1, dtype=np.int64)
    node_previous = np.empty(2 * m - 1, dtype=np.int64)
    node_sums[:m] = sums
    node_counts[:m] = counts
    node_previous[:m] = previous_units
    for step, (left, right) in enumerate(children):
        node_sums[m + step] = node_sums[left] + node_sums[right]
        node_counts[m + step] = node_counts[left] + node_counts[right]
        node_previous[m + step] = node_previous[left] + node_previous[right]
    node_cohesion = _cohesion(node_sums, node_counts)
    required = np.where(node_previous >= 2, config.cohesion + config.merge_margin, config.cohesion)

    # A single unit is tested too: k-means puts every report in some micro-cluster, so one made of
    # unrelated one-off reports is no theme (its reports are left to `_finalise`, which gives each to
    # the nearest theme it passes or to the novelty pool). A lone micro-cluster needs only
    # `micro_cluster_cohesion` (see there); a previous cluster (a warm unit) no more than
    # cohesion - keep_margin, the test `_merge_by_cohesion` kept it by.
    unit_required = np.where(previous_units >= 1, config.cohesion - config.keep_margin, config.cohesion)
    required[:m] = np.minimum(unit_required, config.micro_cluster_cohesion)

    theme_of_micro = np.full(m, LEFT_OUT, dtype=np.int64)
    themes = 0
    pending = [2 * m - 2]  # the root
    while pending:
        node = pending.pop()
        if node_cohesion[node] < required[node]:
            if node >= m:
                pending.extend(children[node - m].tolist())
            continue
        stack = [node]  # every micro-cluster under this node joins theme `themes`
        while stack:
            below = stack.pop()
            if below < m:
                theme_of_micro[below] = themes
            else:
                stack.extend(children[below - m].tolist())
        themes += 1
    return theme_of_micro


def _cohesion(
    sums: npt.NDArray[np.float64], counts: npt.NDArray[np.int64] | npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """How alike each group's members are, from their vector sum and count: the square root of
    their mean pairwise cosine similarity, each member compared with the others, never with itself.

    For a large group this is the norm of its mean vector (its members' mean similarity to their
    centroid), but that norm counts each member's similarity to itself: three unrelated reports at
    pairwise similarity 0.5 have a mean of norm 0.82 and would pass a cohesion of 0.78. Here they
    score 0.71. A group of one scores 1: whether one report may be a theme is `min_theme_size`'s say."""
    norm_sq = np.einsum("ij,ij->i", sums, sums)
    pairs = counts * (counts - 1.0)
    mean_pair_similarity = np.where(pairs > 0, (norm_sq - counts) / np.maximum(pairs, 1.0), 1.0)
    cohesion: npt.NDArray[np.float64] = np.sqrt(np.clip(mean_pair_similarity, 0.0, 1.0))
    return cohesion


def _next_state(
    unit: Vectors,
    micro_labels: Labels,
    micro_sums: npt.NDArray[np.float64],
    micro_theme: Labels,
    cohesion: float,
) -> ClusteringState:
    """The micro-clusters of this run as the next run's warm start: their directions, radii (the
    similarity of their farthest member) and the cluster of the cut each went to."""
    norms = np.linalg.norm(micro_sums, axis=1, keepdims=True)
    centroids = (micro_sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    similarity = _member_similarity(unit, micro_labels, centroids)
    order = np.argsort(micro_labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(micro_labels[order]) != 0])
    radii = np.minimum.reduceat(similarity[order], starts).astype(np.float32)
    return ClusteringState(centroids, radii, micro_theme.astype(np.int64), cohesion)


def _finalise(
    unit: Vectors, labels: Labels, config: ClusteringConfig, state: ClusteringState
) -> ClusterResult:
    """From the cut's clusters to themes, in the full space:

    1. a member less similar to its cluster's centroid than `threshold_floor` leaves it (cohesion
       is a mean: a cohesive cluster can still have absorbed a few strays on the way up the tree);
    2. clusters below the minimum size are dissolved;
    3. reports left without a cluster join the nearest theme if they pass its threshold (the rule
       triage applies online), otherwise they are left out (LEFT_OUT);
    4. themes are numbered largest first (ties: by their first member, so by nothing else).
    """
    n, dimension = unit.shape
    count = int(labels.max()) + 1
    if count == 0:  # the cut found no theme
        return _empty_result(n, dimension, state)
    labels = labels.copy()
    strays = _member_similarity(unit, labels, _centroids(unit, labels, count)) < config.threshold_floor
    labels[strays] = LEFT_OUT

    min_size = max(config.min_theme_size, math.ceil(config.min_theme_share * n))
    sizes = np.bincount(labels[labels >= 0], minlength=count)
    renumber = np.full(count, LEFT_OUT, dtype=np.int64)
    kept = np.flatnonzero(sizes >= min_size)
    if kept.size == 0:
        return _empty_result(n, dimension, state)
    renumber[kept] = np.arange(kept.size, dtype=np.int64)
    labels = np.where(labels >= 0, renumber[np.maximum(labels, 0)], LEFT_OUT)

    centroids = _centroids(unit, labels, kept.size)
    thresholds = _thresholds(unit, labels, centroids, config)
    orphans = np.flatnonzero(labels == LEFT_OUT)
    if orphans.size:
        similarities = unit[orphans] @ centroids.T
        nearest = similarities.argmax(axis=1)
        accepted = similarities[np.arange(orphans.size), nearest] >= thresholds[nearest]
        labels[orphans[accepted]] = nearest[accepted]
    return _numbered(unit, labels, kept.astype(np.int64), config, state)


def merge_clusters(
    vectors: Vectors,
    result: ClusterResult,
    groups: Sequence[Sequence[int]],
    config: ClusteringConfig = DEFAULT_CONFIG,
) -> ClusterResult:
    """`result` with each group of its clusters made one cluster — what a strategist's merge of two
    themes asks of every later run. Centroids, thresholds and sizes are recomputed, clusters are
    numbered largest first again, and the warm-start state puts the merged clusters' micro-clusters
    in one group. `vectors` are the rows `result` was computed on."""
    unit = _unit_rows(vectors)
    if unit.shape[0] != result.labels.shape[0]:
        raise ValueError(f"{unit.shape[0]} vectors for a clustering of {result.labels.shape[0]} reports")
    labels = result.labels.copy()
    micro_groups = result.state.micro_groups.copy()
    cut_groups = result.groups.copy()
    taken: set[int] = set()
    for group in groups:
        wanted = sorted({int(cluster) for cluster in group})
        if not wanted or wanted[0] < 0 or wanted[-1] >= result.n_clusters:
            raise ValueError(f"cluster group {list(group)} is not within 0..{result.n_clusters - 1}")
        # A cluster two groups claim (half of it from each of two merge targets) stays with the
        # first: joining the groups through it would merge two themes no strategist merged.
        members = [cluster for cluster in wanted if cluster not in taken]
        taken.update(members)
        if len(members) < 2:
            continue
        target = members[0]
        labels[np.isin(labels, members)] = target
        if cut_groups.size:
            micro_groups[np.isin(micro_groups, cut_groups[members])] = cut_groups[target]
            cut_groups[members] = cut_groups[target]
    present = np.unique(labels[labels >= 0])
    renumber = np.full(max(result.n_clusters, 1), LEFT_OUT, dtype=np.int64)
    renumber[present] = np.arange(present.size, dtype=np.int64)
    labels = np.where(labels >= 0, renumber[np.maximum(labels, 0)], LEFT_OUT)
    state = replace(result.state, micro_groups=micro_groups)
    return _numbered(unit, labels, cut_groups[present] if cut_groups.size else present, config, state)


def _numbered(
    unit: Vectors, labels: Labels, cut_groups: Labels, config: ClusteringConfig, state: ClusteringState
) -> ClusterResult:
    """The clusters of `labels` (ids 0..k-1, `cut_groups[i]` the cut group of cluster i) with their
    centroids, thresholds and sizes, renumbered largest first (ties: by their first member)."""
    n, dimension = unit.shape
    count = cut_groups.size
    if count == 0:
        return _empty_result(n, dimension, state)
    centroids = _centroids(unit, labels, count)
    thresholds = _thresholds(unit, labels, centroids, config)
    sizes = np.bincount(labels[labels >= 0], minlength=count).astype(np.int64)
    first_member = np.full(count, n, dtype=np.int64)
    np.minimum.at(first_member, labels[labels >= 0], np.flatnonzero(labels >= 0))
    order = np.lexsort((first_member, -sizes))
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count, dtype=np.int64)
    return ClusterResult(
        labels=np.where(labels >= 0, rank[np.maximum(labels, 0)], LEFT_OUT),
        centroids=centroids[order],
        thresholds=thresholds[order],
        sizes=sizes[order],
        state=state,
        groups=cut_groups[order],
    )


def _member_similarity(unit: Vectors, labels: Labels, centroids: Vectors) -> Vectors:
    """Cosine similarity of each report to its own cluster's centroid (NaN when it has none)."""
    similarity = np.full(labels.shape[0], np.nan, dtype=np.float32)
    members = np.flatnonzero(labels >= 0)
    for begin in range(0, members.size, 65536):  # bounded temporaries: (block x d) gathers
        block = members[begin : begin + 65536]
        similarity[block] = np.einsum("ij,ij->i", unit[block], centroids[labels[block]])
    return similarity


def _centroids(unit: Vectors, labels: Labels, count: int) -> Vectors:
    members = labels >= 0
    sums = _group_sums(unit[members], labels[members], count)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    # A cluster of exactly opposite vectors has no direction; any unit row will do for it.
    sums[norms[:, 0] == 0, 0] = 1.0
    norms[norms == 0] = 1.0
    centroids: Vectors = (sums / norms).astype(np.float32)
    return centroids


def _thresholds(unit: Vectors, labels: Labels, centroids: Vectors, config: ClusteringConfig) -> Vectors:
    members = labels >= 0
    member_labels = labels[members]
    similarity = _member_similarity(unit, labels, centroids)[members]
    pooled = float(np.percentile(similarity, config.threshold_percentile))
    order = np.argsort(member_labels, kind="stable")
    groups = np.split(similarity[order], np.flatnonzero(np.diff(member_labels[order])) + 1)
    thresholds = np.empty(centroids.shape[0], dtype=np.float64)
    prior = config.threshold_prior_weight
    for cluster, group in enumerate(groups):  # every cluster has members: groups[i] is cluster i
        own = float(np.percentile(group, config.threshold_percentile))
        thresholds[cluster] = (group.size * own + prior * pooled) / (group.size + prior)
    # Below 1 by the capture tolerance: a theme of exact duplicates would otherwise need similarity
    # 1.0, which triage's float32 matrix product can miss by an ulp for the very same text.
    floored = np.clip(np.maximum(thresholds, config.threshold_floor), -1.0, 1.0 - _CAPTURE_TOLERANCE)
    return floored.astype(np.float32)


def _empty_result(n: int, dimension: int, state: ClusteringState) -> ClusterResult:
    return ClusterResult(
        labels=np.full(n, LEFT_OUT, dtype=np.int64),
        centroids=np.zeros((0, dimension), dtype=np.float32),
        thresholds=np.zeros(0, dtype=np.float32),
        sizes=np.zeros(0, dtype=np.int64),
        state=state,
    )
