"""Theme clustering on synthetic unit-vector blobs (random centres on the sphere plus noise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from riskradar.clustering import (
    DEFAULT_CONFIG,
    LEFT_OUT,
    ClusteringConfig,
    ClusterResult,
    cluster_embeddings,
    merge_clusters,
)
from riskradar.theme_identity import IdentityResult, match_themes
from riskradar.themes import (
    ClusteringState,
    LineageEvent,
    ThemeInfo,
    ThemeSnapshot,
    assign_to_themes,
    normalize_rows,
)

DIMENSION = 384
Blobs = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], ClusterResult]


def blobs(
    sizes: list[int], *, noise: float = 0.35, dimension: int = DIMENSION, seed: int = 0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Unit vectors around random unit centres; `noise` is the norm of the added Gaussian noise
    (0.35 puts members at cosine ~0.94 to their centre, centres are ~orthogonal in 384-d).
    Rows are shuffled so that no blob is contiguous."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dimension))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    points = centres[truth] + rng.normal(scale=noise / np.sqrt(dimension), size=(truth.size, dimension))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    order = rng.permutation(truth.size)
    return points[order].astype(np.float32), truth[order].astype(np.int64)


def member_similarity(vectors: npt.NDArray[np.float32], result: ClusterResult) -> npt.NDArray[np.float32]:
    members = result.labels >= 0
    similarity: npt.NDArray[np.float32] = np.einsum(
        "ij,ij->i", vectors[members], result.centroids[result.labels[members]]
    )
    return similarity


@pytest.fixture(scope="module")
def twelve_blobs() -> Blobs:
    # 690 rows: above the size where the PCA step kicks in, so the whole pipeline runs.
    vectors, truth = blobs([30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85])
    return vectors, truth, cluster_embeddings(vectors, seed=7)


def test_recovers_well_separated_blobs(twelve_blobs: Blobs) -> None:
    _, truth, result = twelve_blobs
    assert isinstance(result, ClusterResult)
    assert result.n_clusters == 12
    assert result.n_left_out == 0
    assert adjusted_rand_score(truth, result.labels) >= 0.95


def test_result_shapes_and_sizes_agree(twelve_blobs: Blobs) -> None:
    vectors, _, result = twelve_blobs
    assert result.labels.dtype == np.int64
    assert result.labels.shape == (vectors.shape[0],)
    assert result.centroids.dtype == np.float32
    assert result.centroids.shape == (12, DIMENSION)
    assert result.thresholds.dtype == np.float32
    assert result.thresholds.shape == (12,)
    assert result.sizes.tolist() == np.bincount(result.labels[result.labels >= 0]).tolist()
    assert result.sizes.tolist() == sorted(result.sizes.tolist(), reverse=True)  # largest first


def test_centroids_are_unit_rows(twelve_blobs: Blobs) -> None:
    _, _, result = twelve_blobs
    np.testing.assert_allclose(np.linalg.norm(result.centroids, axis=1), 1.0, atol=1e-5)


def test_thresholds_keep_most_members(twelve_blobs: Blobs) -> None:
    vectors, _, result = twelve_blobs
    assert np.all(result.thresholds >= DEFAULT_CONFIG.threshold_floor)
    assert np.all(result.thresholds <= 1.0)
    similarity = member_similarity(vectors, result)
    retained = similarity >= result.thresholds[result.labels[result.labels >= 0]]
    assert retained.mean() >= 0.9
    for cluster in range(result.n_clusters):  # and no theme loses most of its members
        assert retained[result.labels[result.labels >= 0] == cluster].mean() >= 0.8


def test_same_seed_same_result(twelve_blobs: Blobs) -> None:
    vectors, _, first = twelve_blobs
    again = cluster_embeddings(vectors.copy(), seed=7)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.centroids, again.centroids)
    np.testing.assert_array_equal(first.thresholds, again.thresholds)
    np.testing.assert_array_equal(first.sizes, again.sizes)


def test_another_seed_finds_the_same_blobs(twelve_blobs: Blobs) -> None:
    vectors, _, first = twelve_blobs
    other = cluster_embeddings(vectors, seed=8)
    assert adjusted_rand_score(first.labels, other.labels) >= 0.95


def test_a_report_far_from_every_theme_is_left_out() -> None:
    vectors, truth = blobs([30, 30, 30], seed=1)
    stray = np.random.default_rng(99).normal(size=(1, DIMENSION)).astype(np.float32)
    stray /= np.linalg.norm(stray)
    result = cluster_embeddings(np.vstack([vectors, stray]))
    assert result.labels[-1] == LEFT_OUT
    assert result.n_left_out == 1
    assert adjusted_rand_score(truth, result.labels[:-1]) >= 0.95


def themes_and_one_offs(
    themes: int, per_theme: int, one_offs: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Tight themes and unrelated one-off reports (pairwise cosine ~0.25, as unrelated MiniLM
    sentences are); the truth labels the one-offs LEFT_OUT. Rows: the themes' first, then one-offs."""
    rng = np.random.default_rng(0)
    common = rng.normal(size=DIMENSION)
    common /= np.linalg.norm(common)
    centres = 0.5 * common + rng.normal(size=(themes, DIMENSION)) / np.sqrt(DIMENSION)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    members = np.repeat(centres, per_theme, axis=0) + 0.035 * rng.normal(size=(themes * per_theme, DIMENSION))
    loose = 0.5 * common + rng.normal(size=(one_offs, DIMENSION)) / np.sqrt(DIMENSION)
    points = np.vstack([members, loose])
    vectors = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    truth = np.r_[np.repeat(np.arange(themes), per_theme), np.full(one_offs, LEFT_OUT)].astype(np.int64)
    return vectors, truth


def test_one_off_reports_make_no_theme() -> None:
    """Ten themes and 1,000 unrelated one-off reports: k-means puts the one-offs into micro-clusters
    of their own, which used to become themes whatever their cohesion (59 made-up themes holding
    461 one-offs). They stay in the novelty pool now, and the ten themes come out whole."""
    vectors, truth = themes_and_one_offs(10, 200, 1000)

    result = cluster_embeddings(vectors, seed=0)

    assert result.n_clusters == 10
    assert (result.labels[2000:] == LEFT_OUT).all()
    assert adjusted_rand_score(truth[:2000], result.labels[:2000]) == 1.0


def test_a_warm_start_from_dissolved_micro_clusters_leaves_them_out_again() -> None:
    # The state marks the micro-clusters of one-offs as in no cluster (-1); the next run on the same
    # window treats them as fresh: the same themes again, the one-offs still in the novelty pool.
    vectors, truth = themes_and_one_offs(6, 100, 400)
    first = cluster_embeddings(vectors, seed=0)
    assert (first.state.micro_groups == LEFT_OUT).any()

    second = cluster_embeddings(vectors, seed=1, previous=first.state, new_rows=np.zeros(truth.size, bool))

    assert second.n_clusters == 6
    assert (second.labels[600:] == LEFT_OUT).all()
    assert adjusted_rand_score(first.labels[:600], second.labels[:600]) == 1.0


def unit_rows_at_similarity(similarity: float, count: int, offset: int) -> npt.NDArray[np.float64]:
    """`count` unit vectors whose pairwise cosine similarity is exactly `similarity`: a shared
    direction plus one axis of their own each (axes from `offset` on; axis 0 is the shared one)."""
    rows = np.zeros((count, DIMENSION))
    rows[:, 0] = np.sqrt(similarity)
    rows[np.arange(count), offset + np.arange(count)] = np.sqrt(1.0 - similarity)
    return rows


def test_a_few_loosely_related_reports_are_no_theme_however_small() -> None:
    """Three reports at pairwise similarity 0.5 have a mean vector of norm 0.82, which passes a
    cohesion of 0.78 measured as each member's similarity to their centroid (itself included). Their
    similarity to each other is what cohesion means: sqrt(0.5) = 0.71, no theme. Three reports at
    pairwise 0.7 (0.84) are one."""
    loose = unit_rows_at_similarity(0.5, 3, offset=1)
    close = unit_rows_at_similarity(0.7, 3, offset=4)
    close[:, [0, 100]] = close[:, [100, 0]]  # its own shared direction, unrelated to the loose trio's
    vectors = np.vstack([loose, close]).astype(np.float32)

    result = cluster_embeddings(vectors)

    assert result.labels.tolist() == [LEFT_OUT] * 3 + [0] * 3


def test_cohesion_sets_how_broad_a_theme_may_be() -> None:
    # Two sub-blobs around each of two centres: cosine ~0.8 between sub-blob centres.
    rng = np.random.default_rng(3)
    parents = rng.normal(size=(2, DIMENSION))
    parents /= np.linalg.norm(parents, axis=1, keepdims=True)
    children = np.repeat(parents, 2, axis=0) + rng.normal(scale=0.6 / np.sqrt(DIMENSION), size=(4, DIMENSION))
    children /= np.linalg.norm(children, axis=1, keepdims=True)
    truth = np.repeat(np.arange(4), 60)
    points = children[truth] + rng.normal(scale=0.2 / np.sqrt(DIMENSION), size=(truth.size, DIMENSION))
    vectors = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    assert cluster_embeddings(vectors, ClusteringConfig(cohesion=0.95)).n_clusters == 4
    assert cluster_embeddings(vectors, ClusteringConfig(cohesion=0.8)).n_clusters == 2


def test_no_reports_no_themes() -> None:
    result = cluster_embeddings(np.zeros((0, DIMENSION), dtype=np.float32))
    assert result.n_clusters == 0
    assert result.labels.shape == (0,)
    assert result.centroids.shape == (0, DIMENSION)
    assert result.thresholds.shape == (0,)
    assert result.sizes.shape == (0,)


def test_one_report_is_no_theme_by_default_but_can_be() -> None:
    vector = blobs([1])[0]
    default = cluster_embeddings(vector)
    assert default.n_clusters == 0
    assert default.labels.tolist() == [LEFT_OUT]
    single = cluster_embeddings(vector, ClusteringConfig(min_theme_size=1))
    assert single.labels.tolist() == [0]
    np.testing.assert_allclose(single.centroids, vector, atol=1e-6)
    assert -1.0 <= single.thresholds[0] <= 1.0


def test_five_reports() -> None:
    vectors, truth = blobs([3, 2], noise=0.1, seed=5)
    result = cluster_embeddings(vectors)
    # The pair is below the minimum theme size; its members are too far from the trio to join it.
    assert result.n_clusters == 1
    assert result.sizes.tolist() == [3]
    assert (result.labels == 0).tolist() == (truth == 0).tolist()
    assert cluster_embeddings(vectors, ClusteringConfig(min_theme_size=2)).n_clusters == 2
    assert cluster_embeddings(blobs([1, 1, 1, 1, 1], seed=6)[0]).n_clusters == 0


def test_a_theme_of_one_complaint_filed_many_times_takes_that_complaint_back() -> None:
    """500 copies of one text: the theme's threshold stays below 1, so triage's float32 product
    (which can land an ulp under 1.0 for the very same vector) assigns the text to it again."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        text = normalize_rows(rng.normal(size=(1, 384))).astype(np.float32)
        result = cluster_embeddings(np.repeat(text, 500, axis=0))
        snapshot = ThemeSnapshot(
            1,
            datetime.now(UTC),
            (ThemeInfo(theme_id="thm-00000001", label="copies", threshold=float(result.thresholds[0])),),
            result.centroids,
        )
        assert float(result.thresholds[0]) < 1.0
        assert not assign_to_themes(text, snapshot)[0].is_novel


def test_non_unit_rows_are_normalised() -> None:
    vectors, _ = blobs([40, 40], seed=2)
    scaled = vectors * np.linspace(0.5, 3.0, vectors.shape[0], dtype=np.float32)[:, None]
    np.testing.assert_array_equal(cluster_embeddings(scaled).labels, cluster_embeddings(vectors).labels)


@pytest.mark.parametrize(
    "bad",
    [
        np.ones(DIMENSION, dtype=np.float32),
        np.full((3, DIMENSION), np.nan, dtype=np.float32),
        np.zeros((3, DIMENSION), dtype=np.float32),
    ],
    ids=["one-dimensional", "nan", "zero-rows"],
)
def test_refuses_malformed_input(bad: npt.NDArray[np.float32]) -> None:
    with pytest.raises(ValueError, match="embeddings"):
        cluster_embeddings(bad)


def test_config_is_validated_and_frozen() -> None:
    with pytest.raises(ValidationError):
        ClusteringConfig(cohesion=1.5)
    with pytest.raises(ValidationError):
        ClusteringConfig(unknown_option=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        DEFAULT_CONFIG.cohesion = 0.5  # type: ignore[misc]


# ------------------------------------------------------------------------------------ warm start
#
# A "cloud" is reports spread evenly over a 4-d patch of the sphere: no natural clusters, so the
# cohesion cut's boundaries are arbitrary and a cold run on slightly different data draws them
# elsewhere (the hard case for stable theme ids; blobs are stable even cold).

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def cloud(n: int = 600, *, seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(reports, an orthonormal basis of 12 directions: 0 the cloud's centre, 1-4 its spread)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIMENSION, 12)))[0].T.astype(np.float32)
    points = (
        basis[0]
        + rng.normal(size=(n, 4)) @ basis[1:5]
        + rng.normal(scale=0.3 / np.sqrt(DIMENSION), size=(n, DIMENSION))
    )
    return normalize_rows(points.astype(np.float32)), basis


def tight_group(centre: npt.NDArray[np.float32], count: int, *, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    points = normalize_rows(centre[None, :]) + rng.normal(
        scale=0.25 / np.sqrt(DIMENSION), size=(count, DIMENSION)
    )
    return normalize_rows(points.astype(np.float32))


def churned(
    vectors: npt.NDArray[np.float32], *, share: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """`share` of the rows removed and as many near-copies of remaining ones added at the end:
    (the rows kept, the new window, which of its rows are new)."""
    rng = np.random.default_rng(seed)
    n = vectors.shape[0]
    kept = np.sort(rng.choice(n, size=n - round(n * share), replace=False))
    sources = rng.choice(kept, size=n - kept.size)
    added = normalize_rows(
        vectors[sources] + rng.normal(scale=0.1 / np.sqrt(DIMENSION), size=(sources.size, DIMENSION))
    )
    new_rows = np.r_[np.zeros(kept.size, dtype=np.bool_), np.ones(sources.size, dtype=np.bool_)]
    return kept, np.concatenate([vectors[kept], added.astype(np.float32)]), new_rows


def kept_share(before: npt.NDArray[np.int64], after: npt.NDArray[np.int64]) -> float:
    """Share of the reports clustered `before` that the best one-to-one mapping of clusters keeps
    together `after` (what theme ids can at best follow)."""
    clustered = before >= 0
    both = clustered & (after >= 0)
    table = np.zeros((before.max() + 1, max(after.max() + 1, 1)))
    np.add.at(table, (before[both], after[both]), 1)
    rows, columns = linear_sum_assignment(table, maximize=True)
    return float(table[rows, columns].sum() / clustered.sum())


def identities(
    first: ClusterResult, first_ids: list[str], second: ClusterResult, second_ids: list[str]
) -> IdentityResult:
    """Run 2's theme identities as the recluster job computes them (run 1 against no snapshot)."""

    def members(result: ClusterResult, ids: list[str]) -> list[list[str]]:
        return [[ids[row] for row in np.flatnonzero(result.labels == c)] for c in range(result.n_clusters)]

    before = NOW - timedelta(days=1)
    minted = match_themes(
        ThemeSnapshot.empty(DIMENSION), {}, first.centroids, members(first, first_ids), version=1, now=before
    )
    snapshot = ThemeSnapshot(
        1, before, tuple(c.theme_info(label=c.theme_id) for c in minted.clusters), first.centroids
    )
    previous_members = dict(zip(minted.theme_ids, members(first, first_ids), strict=True))
    return match_themes(
        snapshot, previous_members, second.centroids, members(second, second_ids), version=2, now=NOW
    )


@pytest.fixture(scope="module")
def cloud_run() -> tuple[npt.NDArray[np.float32], ClusterResult]:
    vectors, _ = cloud()
    return vectors, cluster_embeddings(vectors, seed=0)


def test_the_state_holds_every_micro_cluster_and_captures_its_members(
    cloud_run: tuple[npt.NDArray[np.float32], ClusterResult],
) -> None:
    vectors, result = cloud_run
    state = result.state
    assert state.dimension == DIMENSION
    assert state.cohesion == DEFAULT_CONFIG.cohesion
    assert state.micro_centroids.shape == (state.micro_clusters, DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(state.micro_centroids, axis=1), 1.0, atol=1e-5)
    assert state.micro_groups.min() == 0
    # Every report is within the radius of its nearest micro-cluster: an unchanged window is captured whole.
    similarity = vectors @ state.micro_centroids.T
    nearest = similarity.argmax(axis=1)
    assert np.all(similarity[np.arange(len(vectors)), nearest] >= state.micro_radii[nearest] - 1e-4)


def test_warm_start_on_unchanged_data_finds_the_same_clusters(
    cloud_run: tuple[npt.NDArray[np.float32], ClusterResult],
) -> None:
    vectors, first = cloud_run
    assert first.n_clusters >= 5
    # The window has no natural clusters: a cold run with another seed cuts it elsewhere ...
    assert adjusted_rand_score(first.labels, cluster_embeddings(vectors, seed=1).labels) < 0.9
    # ... a warm one keeps the cut, whatever its own seed.
    for seed in (0, 1):
        again = cluster_embeddings(
            vectors, seed=seed, previous=first.state, new_rows=np.zeros(len(vectors), bool)
        )
        assert adjusted_rand_score(first.labels, again.labels) == 1.0
        assert again.n_left_out == first.n_left_out


def test_warm_start_keeps_clusters_through_churn(
    cloud_run: tuple[npt.NDArray[np.float32], ClusterResult],
) -> None:
    vectors, first = cloud_run
    for seed in (1, 2):
        kept, window, new_rows = churned(vectors, share=0.05, seed=seed)
        cold = cluster_embeddings(window, seed=0)
        warm = cluster_embeddings(window, seed=0, previous=first.state, new_rows=new_rows)
        assert kept_share(first.labels[kept], cold.labels[: kept.size]) < 0.8  # what the ids suffered before
        assert kept_share(first.labels[kept], warm.labels[: kept.size]) >= 0.98


def test_a_new_tight_group_is_born_and_the_rest_continues(
    cloud_run: tuple[npt.NDArray[np.float32], ClusterResult],
) -> None:
    vectors, first = cloud_run
    _, basis = cloud()
    # Close to the cloud (cosine ~0.55 to the nearest theme's centroid), yet a group of its own.
    centre = normalize_rows((basis[0] + 0.6 * basis[6])[None, :])[0]
    assert 0.5 < float((first.centroids @ centre).max()) < 0.6
    group = tight_group(centre, 40, seed=3)
    window = np.concatenate([vectors, group])
    new_rows = np.r_[np.zeros(len(vectors), bool), np.ones(len(group), bool)]
    second = cluster_embeddings(window, seed=0, previous=first.state, new_rows=new_rows)

    group_labels = set(second.labels[len(vectors) :].tolist())
    assert len(group_labels) == 1
    assert LEFT_OUT not in group_labels
    (group_cluster,) = group_labels
    assert second.sizes[group_cluster] == len(group)  # nothing else joined it
    ids = [f"r{i}" for i in range(len(window))]
    outcome = identities(first, ids[: len(vectors)], second, ids)
    events = [identity.lineage.event for identity in outcome.clusters]
    assert events[group_cluster] is LineageEvent.BORN
    assert events.count(LineageEvent.CONTINUED) == len(events) - 1 == first.n_clusters


def test_warm_start_is_deterministic(cloud_run: tuple[npt.NDArray[np.float32], ClusterResult]) -> None:
    vectors, first = cloud_run
    _, window, new_rows = churned(vectors, share=0.1, seed=4)
    one = cluster_embeddings(window, seed=5, previous=first.state, new_rows=new_rows)
    two = cluster_embeddings(window.copy(), seed=5, previous=first.state, new_rows=new_rows.copy())
    for left, right in [
        (one.labels, two.labels),
        (one.centroids, two.centroids),
        (one.thresholds, two.thresholds),
        (one.state.micro_centroids, two.state.micro_centroids),
        (one.state.micro_radii, two.state.micro_radii),
        (one.state.micro_groups, two.state.micro_groups),
    ]:
        np.testing.assert_array_equal(left, right)


def on_arc(basis: npt.NDArray[np.float32], degrees: float) -> npt.NDArray[np.float32]:
    """The unit vector `degrees` along the great circle through basis[0] and basis[1]."""
    angle = np.radians(degrees)
    return (np.cos(angle) * basis[0] + np.sin(angle) * basis[1]).astype(np.float32)


def arc_window(
    basis: npt.NDArray[np.float32], groups: dict[str, float], *, seed: int
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """40 reports per named group at its angle on the arc, plus four unrelated themes far away."""
    named = {**groups, **{f"other{i}": -1.0 - i for i in range(4)}}
    vectors, ids = [], []
    for number, (name, degrees) in enumerate(named.items()):
        centre = on_arc(basis, degrees) if degrees >= 0 else basis[int(-degrees) + 3]
        vectors.append(tight_group(centre, 40, seed=seed * 100 + number))
        ids += [f"{name}-{seed}-{i}" for i in range(40)]
    return np.concatenate(vectors), ids


def test_a_theme_whose_middle_leaves_splits() -> None:
    _, basis = cloud()
    # Run 1: one theme along an arc of 78 degrees, ends and middle equally full.
    vectors_1, ids_1 = arc_window(basis, {"left": 0.0, "middle": 39.0, "right": 78.0}, seed=1)
    first = cluster_embeddings(vectors_1, seed=0)
    arc = first.labels[: 3 * 40]
    assert len(set(arc.tolist())) == 1
    # Run 2: the middle's reports left the window, new ones arrived at both ends.
    vectors_2, ids_2 = arc_window(basis, {"left": 0.0, "right": 78.0}, seed=2)
    keep = [i for i, report in enumerate(ids_1) if not report.startswith("middle")]
    window = np.concatenate([vectors_1[keep], vectors_2])
    ids = [ids_1[i] for i in keep] + ids_2
    second = cluster_embeddings(
        window, seed=0, previous=first.state, new_rows=np.array([r not in ids_1 for r in ids])
    )

    left = {second.labels[i] for i, r in enumerate(ids) if r.startswith("left")}
    right = {second.labels[i] for i, r in enumerate(ids) if r.startswith("right")}
    assert len(left) == len(right) == 1
    assert left != right
    events = [identity.lineage.event for identity in identities(first, ids_1, second, ids).clusters]
    assert events[left.pop()] is events[right.pop()] is LineageEvent.SPLIT


@pytest.mark.parametrize(
    ("degrees_apart", "merged"),
    [(46.0, True), (60.0, False)],
    ids=["much-closer-merge", "a-little-closer-stay-apart"],
)
def test_two_themes_whose_far_sides_leave_merge_only_when_clearly_one(
    degrees_apart: float, merged: bool
) -> None:
    _, basis = cloud()
    # Run 1: two themes, each two groups 37 degrees apart, `degrees_apart` between the themes.
    groups = {"a_far": 0.0, "a_near": 37.0, "b_near": 37.0 + degrees_apart, "b_far": 74.0 + degrees_apart}
    vectors_1, ids_1 = arc_window(basis, groups, seed=1)
    first = cluster_embeddings(vectors_1, seed=0)
    assert len(set(first.labels[:80].tolist())) == len(set(first.labels[80:160].tolist())) == 1
    assert first.labels[0] != first.labels[80]
    # Run 2: only the near sides are left, with new reports there.
    near_sides = {"a_near": groups["a_near"], "b_near": groups["b_near"]}
    vectors_2, ids_2 = arc_window(basis, near_sides, seed=2)
    keep = [i for i, report in enumerate(ids_1) if "_far" not in report]
    window = np.concatenate([vectors_1[keep], vectors_2])
    ids = [ids_1[i] for i in keep] + ids_2
    new_rows = np.array([report not in ids_1 for report in ids])
    second = cluster_embeddings(window, seed=0, previous=first.state, new_rows=new_rows)

    near = [i for i, report in enumerate(ids) if "near" in report]
    # A cold run merges the near sides either way (their union passes `cohesion`) ...
    assert len(set(cluster_embeddings(window, seed=0).labels[near].tolist())) == 1
    # ... a warm one only when they are clearly one theme (cohesion + merge_margin): no flapping.
    assert len(set(second.labels[near].tolist())) == (1 if merged else 2)
    if merged:
        events = [identity.lineage.event for identity in identities(first, ids_1, second, ids).clusters]
        assert events[second.labels[near[0]]] is LineageEvent.MERGED


def test_a_previous_theme_that_loosened_a_little_stays_one() -> None:
    """A warm unit is kept down to cohesion - keep_margin: a theme whose tighter half mostly left
    the window (cohesion 0.797 -> 0.771, under the 0.78 a new theme needs) stays a theme, whole."""

    def theme(first: int, second: int, axis: int, within: float, across: float) -> npt.NDArray[np.float64]:
        # Two sub-groups: pairwise `within` inside one, `across` between them.
        rows = np.zeros((first + second, DIMENSION))
        side = np.r_[np.zeros(first, dtype=np.int64), np.ones(second, dtype=np.int64)]
        rows[:, axis] = np.sqrt(across)
        rows[np.arange(side.size), axis + 1 + side] = np.sqrt(within - across)
        rows[np.arange(side.size), axis + 3 + np.arange(side.size)] = np.sqrt(1 - within)
        return rows

    loosening = theme(40, 10, axis=0, within=0.7, across=0.5)
    steady = theme(25, 25, axis=200, within=0.8, across=0.75)
    vectors = np.vstack([loosening, steady]).astype(np.float32)
    first = cluster_embeddings(vectors)
    assert first.n_clusters == 2
    assert len(set(first.labels[:50].tolist())) == 1

    remaining = np.r_[np.arange(30, 50), np.arange(50, 100)]  # 30 of the tighter side leave
    second = cluster_embeddings(vectors[remaining], previous=first.state, new_rows=np.zeros(70, bool))

    assert second.n_clusters == 2
    assert len(set(second.labels[:20].tolist())) == 1
    assert second.labels[0] != LEFT_OUT
    cold = cluster_embeddings(vectors[remaining])  # what a new theme needs, it no longer has
    assert cold.labels[0] == LEFT_OUT or len(set(cold.labels[:20].tolist())) > 1


def test_a_state_that_does_not_fit_is_ignored(
    cloud_run: tuple[npt.NDArray[np.float32], ClusterResult],
) -> None:
    vectors, first = cloud_run
    cold = cluster_embeddings(vectors, seed=1)
    no_new = np.zeros(len(vectors), bool)
    other_model = cluster_embeddings(vectors[:, :100], seed=1, previous=first.state, new_rows=no_new)
    assert other_model.labels.tolist() == cluster_embeddings(vectors[:, :100], seed=1).labels.tolist()
    empty = cluster_embeddings(
        vectors, seed=1, previous=ClusteringState.empty(DIMENSION, 0.78), new_rows=no_new
    )
    np.testing.assert_array_equal(empty.labels, cold.labels)
    tighter = ClusteringConfig(cohesion=0.8)
    other_cohesion = cluster_embeddings(vectors, tighter, seed=1, previous=first.state, new_rows=no_new)
    np.testing.assert_array_equal(other_cohesion.labels, cluster_embeddings(vectors, tighter, seed=1).labels)


def test_warm_start_needs_to_know_the_new_reports(
    cloud_run: tuple[npt.NDArray[np.float32], ClusterResult],
) -> None:
    vectors, first = cloud_run
    with pytest.raises(ValueError, match="new_rows is required"):
        cluster_embeddings(vectors, previous=first.state)
    with pytest.raises(ValueError, match="one flag per row"):
        cluster_embeddings(vectors, previous=first.state, new_rows=np.zeros(3, bool))


# --- a strategist's merge ---------------------------------------------------------------------------


def test_merge_clusters_makes_one_cluster_of_a_group_and_keeps_the_rest(twelve_blobs: Blobs) -> None:
    vectors, _, result = twelve_blobs
    a, b = result.n_clusters - 1, result.n_clusters - 2  # the two smallest
    merged = merge_clusters(vectors, result, [[a, b]])

    assert merged.n_clusters == result.n_clusters - 1
    joined = (result.labels == a) | (result.labels == b)
    # The merged reports share one cluster, and nothing else is in it.
    (only,) = np.unique(merged.labels[joined])
    assert np.array_equal(merged.labels == only, joined)
    assert merged.sizes[only] == joined.sum()
    expected = vectors[joined].astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(merged.centroids[only], expected / np.linalg.norm(expected), atol=1e-5)
    # Every other cluster is untouched (the same reports), renumbered largest first.
    for c in range(result.n_clusters):
        if c not in (a, b):
            (new,) = np.unique(merged.labels[result.labels == c])
            assert np.array_equal(merged.labels == new, result.labels == c)
    assert list(merged.sizes) == sorted(merged.sizes, reverse=True)
    # The warm start keeps the merged clusters' micro-clusters in one group from now on.
    assert merged.groups[only] == result.groups[a] or merged.groups[only] == result.groups[b]
    carried = np.isin(result.state.micro_groups, result.groups[[a, b]])
    assert carried.any()
    assert set(merged.state.micro_groups[carried].tolist()) == {int(merged.groups[only])}


def test_a_cluster_two_merge_groups_claim_joins_the_first_only(twelve_blobs: Blobs) -> None:
    """Half of a cluster came from each of two merge targets: it joins the first group, the two
    targets stay two themes, and the warm-start state agrees with the clusters it returns."""
    vectors, _, result = twelve_blobs
    a, b, shared = 0, 1, result.n_clusters - 1
    merged = merge_clusters(vectors, result, [[a, shared], [b, shared]])

    assert merged.n_clusters == result.n_clusters - 1
    (first,) = np.unique(merged.labels[(result.labels == a) | (result.labels == shared)])
    (second,) = np.unique(merged.labels[result.labels == b])
    assert first != second
    assert np.array_equal(merged.labels == second, result.labels == b)
    # Every cluster's group holds micro-clusters in the state a warm start continues from.
    assert set(merged.groups.tolist()) <= set(merged.state.micro_groups.tolist())


def test_merge_clusters_without_groups_changes_nothing_and_refuses_unknown_clusters(
    twelve_blobs: Blobs,
) -> None:
    vectors, _, result = twelve_blobs
    same = merge_clusters(vectors, result, [])
    assert np.array_equal(same.labels, result.labels)
    np.testing.assert_allclose(same.centroids, result.centroids, atol=1e-6)
    with pytest.raises(ValueError, match="not within"):
        merge_clusters(vectors, result, [[0, result.n_clusters]])
