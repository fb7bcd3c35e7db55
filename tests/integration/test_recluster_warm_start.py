"""Warm-started recluster runs through the handler against moto (`mock_aws`): theme ids survive churn.

The reports are a "cloud": spread evenly over a patch of the sphere, with no natural clusters, so a
clustering from scratch draws the theme boundaries elsewhere on slightly different data — the case
in which ids used to move. The tests run in order on one mocked stack (one bucket).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import numpy.typing as npt
import pytest

from riskradar.adapters.s3 import (
    SNAPSHOT_POINTER_KEY,
    EmbeddingShard,
    EmbeddingShardStore,
    ThemeSnapshotStore,
)
from riskradar.clustering import cluster_embeddings
from riskradar.theme_identity import match_themes
from riskradar.themes import LineageEvent, normalize_rows
from tests.helpers import ROOT, MockedFunction, mocked_function

DIMENSION = 384
SHARDS, PER_SHARD = 20, 30
NOW = datetime.now(UTC)
RNG_SEED = 11


@pytest.fixture(scope="module")
def recluster() -> Iterator[MockedFunction]:
    with mocked_function("ReclusterFunction", function_dir="recluster") as function:
        yield function


@pytest.fixture(scope="module")
def basis() -> npt.NDArray[np.float32]:
    """Orthonormal directions: 0 the cloud's centre, 1-4 its spread, the rest unused by it."""
    rng = np.random.default_rng(RNG_SEED)
    return np.linalg.qr(rng.normal(size=(DIMENSION, 8)))[0].T.astype(np.float32)


def bucket(function: MockedFunction) -> str:
    return str(function.stack.physical_id("ArtifactsBucket"))


def write_shard(
    function: MockedFunction, name: str, vectors: npt.NDArray[np.float32], *, days_ago: float
) -> tuple[str, list[str]]:
    """One triage shard of reports `name`-0, `name`-1, …; returns its key and report ids."""
    moment = NOW - timedelta(days=days_ago)
    ids = [f"{name}-{i}" for i in range(len(vectors))]
    key = EmbeddingShardStore(boto3.client("s3"), bucket(function)).write(
        EmbeddingShard(
            day=moment.date(),
            report_ids=tuple(ids),
            theme_ids=("",) * len(ids),
            created_at=np.full(len(ids), moment.timestamp()),
            vectors=vectors,
            texts=tuple(f"report {name} {i}" for i in range(len(ids))),
        )
    )
    return key, ids


def run(function: MockedFunction) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "recluster_scheduled.json").read_text())
    summary: dict[str, Any] = function.invoke(event, timeout_s=900)
    return summary


def theme_of_report(function: MockedFunction) -> dict[str, str]:
    members = ThemeSnapshotStore(boto3.client("s3"), bucket(function), dimension=DIMENSION).current_members()
    return {report: theme for theme, reports in members.items() for report in reports}


def test_an_empty_window_publishes_nothing(recluster: MockedFunction) -> None:
    summary = run(recluster)
    assert summary["snapshot_version"] == 0
    assert summary["reports"] == 0
    store = ThemeSnapshotStore(boto3.client("s3"), bucket(recluster), dimension=DIMENSION)
    assert store.current().version == 0
    assert store.current_clustering_state() is None


def test_a_rerun_with_churn_keeps_theme_ids(
    recluster: MockedFunction, basis: npt.NDArray[np.float32]
) -> None:
    rng = np.random.default_rng(RNG_SEED)
    keys, vectors_of = [], {}
    for shard in range(SHARDS):
        points = basis[0] + rng.normal(size=(PER_SHARD, 4)) @ basis[1:5]
        vectors = normalize_rows(
            points + rng.normal(scale=0.3 / np.sqrt(DIMENSION), size=(PER_SHARD, DIMENSION))
        )
        key, ids = write_shard(recluster, f"s{shard}", vectors, days_ago=shard + 1)
        keys.append(key)
        vectors_of.update(zip(ids, vectors, strict=True))
    first = run(recluster)
    assert first["snapshot_version"] == 1
    assert first["reports"] == SHARDS * PER_SHARD
    before = theme_of_report(recluster)
    assert len(set(before.values())) >= 5
    s3 = boto3.client("s3")
    store = ThemeSnapshotStore(s3, bucket(recluster), dimension=DIMENSION)
    assert store.current_clustering_state() is not None
    v1, v1_members = store.current(), store.current_members()

    # 5 % churn: the oldest shard's reports leave the window, as many near-copies arrive today.
    s3.delete_object(Bucket=bucket(recluster), Key=keys[-1])
    remaining = [report for report in vectors_of if not report.startswith(f"s{SHARDS - 1}-")]
    sources = rng.choice(len(remaining), size=PER_SHARD)
    copies = normalize_rows(
        np.stack([vectors_of[remaining[i]] for i in sources])
        + rng.normal(scale=0.1 / np.sqrt(DIMENSION), size=(PER_SHARD, DIMENSION))
    )
    _, new_ids = write_shard(recluster, "new", copies, days_ago=0.1)

    second = run(recluster)
    assert second["snapshot_version"] == 2
    after = theme_of_report(recluster)
    judged = [report for report in before if report in remaining]
    kept = sum(after.get(report) == before[report] for report in judged) / len(judged)
    assert kept >= 0.95
    lineage = [theme.lineage for theme in store.current().themes]
    assert all(item is not None and item.event is LineageEvent.CONTINUED for item in lineage)

    # The same churn clustered from scratch (as before warm starts) would have moved many of them.
    window = remaining + new_ids
    window_vectors = np.concatenate([np.stack([vectors_of[r] for r in remaining]), copies])
    cold = cluster_embeddings(window_vectors)
    cold_members = [[window[row] for row in np.flatnonzero(cold.labels == c)] for c in range(cold.n_clusters)]
    cold_ids = match_themes(v1, v1_members, cold.centroids, cold_members, version=2, now=NOW).theme_ids
    cold_theme = {report: cold_ids[c] for c, reports in enumerate(cold_members) for report in reports}
    assert sum(cold_theme.get(report) == before[report] for report in judged) / len(judged) < 0.9


def test_a_new_group_of_reports_is_born(recluster: MockedFunction, basis: npt.NDArray[np.float32]) -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    store = ThemeSnapshotStore(boto3.client("s3"), bucket(recluster), dimension=DIMENSION)
    before = {theme.theme_id for theme in store.current().themes}
    # A tight group beside the cloud, arriving today.
    centre = normalize_rows((basis[0] + 0.6 * basis[6])[None, :])
    group = normalize_rows(centre + rng.normal(scale=0.25 / np.sqrt(DIMENSION), size=(40, DIMENSION)))
    _, group_ids = write_shard(recluster, "group", group, days_ago=0.05)

    summary = run(recluster)

    assert summary["snapshot_version"] == 3
    after = theme_of_report(recluster)
    (group_theme,) = {after[report] for report in group_ids}
    assert group_theme not in before
    snapshot = store.current()
    theme = snapshot.theme(group_theme)
    assert theme is not None
    assert theme.size == len(group_ids)
    assert theme.lineage is not None
    assert theme.lineage.event is LineageEvent.BORN
    assert {t.theme_id for t in snapshot.themes} - {group_theme} == before


def test_a_snapshot_without_a_clustering_state_starts_cold(recluster: MockedFunction) -> None:
    # As a snapshot published before warm starts existed: its manifest names no state object.
    s3 = boto3.client("s3")
    pointer = json.loads(s3.get_object(Bucket=bucket(recluster), Key=SNAPSHOT_POINTER_KEY)["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket(recluster), Key=pointer["manifest_key"])["Body"].read())
    s3.delete_object(Bucket=bucket(recluster), Key=manifest.pop("clustering_state_key"))
    s3.put_object(Bucket=bucket(recluster), Key=pointer["manifest_key"], Body=json.dumps(manifest).encode())
    store = ThemeSnapshotStore(s3, bucket(recluster), dimension=DIMENSION)
    assert store.current_clustering_state() is None

    summary = run(recluster)

    assert summary["snapshot_version"] == 4
    assert summary["themes"] > 0
    state = store.current_clustering_state()
    assert state is not None
    assert state.dimension == DIMENSION


def test_an_unreadable_clustering_state_starts_the_run_cold(recluster: MockedFunction) -> None:
    # A corrupt state object, or one a newer release wrote (a rollback): the run goes on, cold, and
    # publishes a state of its own, instead of failing every hour until someone deletes the object.
    s3 = boto3.client("s3")
    store = ThemeSnapshotStore(s3, bucket(recluster), dimension=DIMENSION)
    pointer = json.loads(s3.get_object(Bucket=bucket(recluster), Key=SNAPSHOT_POINTER_KEY)["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket(recluster), Key=pointer["manifest_key"])["Body"].read())
    key = manifest["clustering_state_key"]
    s3.put_object(Bucket=bucket(recluster), Key=key, Body=b"not a clustering state")
    with pytest.raises(ValueError, match=r"clustering\.npz"):
        store.current_clustering_state()
    before = store.current_version()

    summary = run(recluster)

    assert summary["snapshot_version"] == before + 1
    assert summary["themes"] > 0
    assert store.current_clustering_state() is not None
