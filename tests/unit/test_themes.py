"""Assignment of embeddings to themes, with hand-made unit vectors."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from riskradar.themes import ClusteringState, ThemeInfo, ThemeSnapshot, assign_to_themes, normalize_rows

E1, E2, E3 = np.eye(3, dtype=np.float32)


def snapshot(*themes: tuple[str, float], centroids: list[np.ndarray] | None = None) -> ThemeSnapshot:
    infos = tuple(ThemeInfo(theme_id=tid, label=tid, threshold=threshold) for tid, threshold in themes)
    rows = centroids if centroids is not None else [E1, E2][: len(themes)]
    return ThemeSnapshot(3, datetime(2026, 11, 1, tzinfo=UTC), infos, np.array(rows, dtype=np.float32))


def test_nearest_theme_above_its_threshold_wins() -> None:
    vectors = normalize_rows([[0.9, 0.1, 0.0], [0.1, 0.9, 0.1]])
    assignments = assign_to_themes(vectors, snapshot(("cards", 0.8), ("refunds", 0.8)))
    assert [a.theme.theme_id if a.theme else None for a in assignments] == ["cards", "refunds"]
    assert assignments[0].similarity == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-6)


def test_below_threshold_goes_to_the_novelty_pool_but_remembers_the_nearest() -> None:
    vectors = normalize_rows([[0.6, 0.0, 0.8]])  # cosine 0.6 to E1
    [assignment] = assign_to_themes(vectors, snapshot(("cards", 0.7), ("refunds", 0.7)))
    assert assignment.is_novel
    assert assignment.nearest_theme_id == "cards"
    assert assignment.similarity == pytest.approx(0.6, abs=1e-6)


def test_each_theme_uses_its_own_threshold() -> None:
    vectors = normalize_rows([[0.6, 0.0, 0.8], [0.0, 0.6, 0.8]])
    assignments = assign_to_themes(vectors, snapshot(("tight", 0.9), ("broad", 0.5)))
    assert [a.theme.theme_id if a.theme else None for a in assignments] == [None, "broad"]


def test_empty_snapshot_sends_everything_to_the_novelty_pool() -> None:
    assignments = assign_to_themes(normalize_rows([[1, 0, 0], [0, 1, 0]]), ThemeSnapshot.empty(3))
    assert all(a.is_novel and a.nearest_theme_id is None for a in assignments)


def test_no_vectors_no_assignments() -> None:
    assert assign_to_themes(np.zeros((0, 3), dtype=np.float32), snapshot(("cards", 0.5))) == []


def test_snapshot_rejects_centroids_that_do_not_match_its_themes() -> None:
    with pytest.raises(ValueError, match="2 themes but centroids of shape"):
        snapshot(("a", 0.5), ("b", 0.5), centroids=[E1])


def test_normalize_rows_keeps_zero_rows() -> None:
    rows = normalize_rows([[3, 4, 0], [0, 0, 0]])
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])


def clustering_state(**changes: object) -> ClusteringState:
    fields: dict[str, object] = {
        "micro_centroids": np.array([E1, E2], dtype=np.float32),
        "micro_radii": np.array([0.9, 0.8], dtype=np.float32),
        "micro_groups": np.array([0, 0], dtype=np.int64),
        "cohesion": 0.78,
    }
    return ClusteringState(**{**fields, **changes})  # type: ignore[arg-type]


def test_clustering_state_knows_its_size() -> None:
    state = clustering_state()
    assert (state.micro_clusters, state.dimension) == (2, 3)
    empty = ClusteringState.empty(384, 0.78)
    assert (empty.micro_clusters, empty.dimension, empty.cohesion) == (0, 384, 0.78)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"micro_radii": np.array([0.9], dtype=np.float32)}, "disagree"),
        ({"micro_groups": np.array([0, 1, 2], dtype=np.int64)}, "disagree"),
        ({"micro_centroids": np.array([1.0, 0.0], dtype=np.float32)}, "disagree"),
        ({"micro_radii": np.array([np.nan, 0.8], dtype=np.float32)}, "NaN"),
        ({"micro_groups": np.array([0, -2], dtype=np.int64)}, ">= -1"),
    ],
    ids=["radii", "groups", "one-dimensional", "nan", "negative-group"],
)
def test_clustering_state_refuses_inconsistent_arrays(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        clustering_state(**changes)
