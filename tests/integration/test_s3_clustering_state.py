"""S3 adapters against moto: the theme snapshot store's clustering state (the next run's warm start)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from riskradar.adapters.s3 import SNAPSHOT_POINTER_KEY, ThemeSnapshotStore
from riskradar.clustering import cluster_embeddings
from riskradar.themes import ClusteringState, ThemeInfo, ThemeSnapshot, normalize_rows

BUCKET = "artifacts"
DIMENSION = 16
NOW = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def a_state(seed: int) -> ClusteringState:
    """The state of a real clustering run (three groups of 40 reports)."""
    rng = np.random.default_rng(seed)
    centres = normalize_rows(rng.normal(size=(3, DIMENSION)).astype(np.float32))
    vectors = normalize_rows(np.repeat(centres, 40, axis=0) + 0.05 * rng.normal(size=(120, DIMENSION)))
    return cluster_embeddings(vectors.astype(np.float32), seed=seed).state


def a_snapshot(version: int) -> ThemeSnapshot:
    return ThemeSnapshot(
        version, NOW, (ThemeInfo(theme_id="thm-1", label="one"),), np.eye(1, DIMENSION, dtype=np.float32)
    )


def assert_same_state(actual: ClusteringState | None, expected: ClusteringState) -> None:
    assert actual is not None
    np.testing.assert_array_equal(actual.micro_centroids, expected.micro_centroids)
    np.testing.assert_array_equal(actual.micro_radii, expected.micro_radii)
    np.testing.assert_array_equal(actual.micro_groups, expected.micro_groups)
    assert actual.cohesion == expected.cohesion


def test_the_clustering_state_is_published_with_its_snapshot_and_read_back(s3: Any) -> None:
    store = ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION)
    assert store.current_clustering_state() is None  # nothing published yet
    first, second = a_state(1), a_state(2)
    assert first.micro_clusters > 0

    manifest = store.publish(a_snapshot(1), members={"thm-1": ["r1"]}, clustering_state=first)
    assert manifest.clustering_state_key == "themes/v0000000001/clustering.npz"
    assert_same_state(ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION).current_clustering_state(), first)

    store.publish(a_snapshot(2), members={"thm-1": ["r1"]}, clustering_state=second)
    assert_same_state(store.current_clustering_state(), second)  # it follows the pointer


def test_a_snapshot_without_a_clustering_state_gives_none(s3: Any) -> None:
    store = ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION)
    store.publish(a_snapshot(1), members={"thm-1": ["r1"]})
    assert store.current_clustering_state() is None

    # A manifest written before the field existed (no key at all) still reads, and gives none.
    pointer = json.loads(s3.get_object(Bucket=BUCKET, Key=SNAPSHOT_POINTER_KEY)["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=pointer["manifest_key"])["Body"].read())
    del manifest["clustering_state_key"]
    old = {**manifest, "version": 2}
    s3.put_object(Bucket=BUCKET, Key="themes/v0000000002/manifest.json", Body=json.dumps(old).encode())
    s3.put_object(
        Bucket=BUCKET,
        Key=SNAPSHOT_POINTER_KEY,
        Body=json.dumps({"version": 2, "manifest_key": "themes/v0000000002/manifest.json"}).encode(),
    )
    fresh = ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION)
    assert fresh.current().version == 2
    assert fresh.current_clustering_state() is None


def test_a_missing_state_object_gives_none_and_a_corrupt_one_is_an_error(s3: Any) -> None:
    store = ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION)
    manifest = store.publish(a_snapshot(1), clustering_state=a_state(1))
    key = manifest.clustering_state_key
    assert key is not None

    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not an npz")
    with pytest.raises(ValueError, match=f"s3://{BUCKET}/{key}"):
        store.current_clustering_state()

    s3.delete_object(Bucket=BUCKET, Key=key)
    assert store.current_clustering_state() is None
