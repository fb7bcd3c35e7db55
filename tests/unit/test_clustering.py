"""Theme clustering on synthetic unit-vector blobs (random centres on the sphere plus noise)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError
from sklearn.metrics import adjusted_rand_score

from riskradar.clustering import (
    DEFAULT_CONFIG,
    LEFT_OUT,
    ClusteringConfig,
    ClusterResult,
    cluster_embeddings,
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
