"""S3 adapters against moto: embedding shards (with and without report facts), snapshot documents, the
clustering state (the next run's warm start) and the conditional JSON state object."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from riskradar.adapters.s3 import (
    SNAPSHOT_POINTER_KEY,
    EmbeddingShard,
    EmbeddingShardStore,
    JsonStateStore,
    ReportFacts,
    StateConflict,
    ThemeSnapshotStore,
)
from riskradar.clustering import cluster_embeddings
from riskradar.shard_compaction import compacted_sequence
from riskradar.themes import ClusteringState, ThemeInfo, ThemeSnapshot, normalize_rows

BUCKET = "artifacts"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def shard(facts: ReportFacts | None) -> EmbeddingShard:
    return EmbeddingShard(
        day=date(2026, 11, 20),
        report_ids=("a", "b"),
        theme_ids=("thm-1", ""),
        created_at=np.array([1.0, 2.0]),
        vectors=normalize_rows(np.eye(2, 4, dtype=np.float32)),
        texts=("first", "second"),
        facts=facts,
    )


def test_report_facts_round_trip_through_a_shard(s3: Any) -> None:
    facts = ReportFacts(
        businesses=("shop", "payments"),
        reporter_roles=("user", "seller"),
        reporter_hashes=("r1", "r2"),
        subject_types=("order", ""),
        subject_hashes=("o1", ""),
        amounts_usd=np.array([12.5, np.nan]),
    )
    store = EmbeddingShardStore(s3, BUCKET)

    back = store.read(store.write(shard(facts)))

    assert back.facts is not None
    assert back.facts.businesses == facts.businesses
    assert back.facts.reporter_roles == facts.reporter_roles
    assert back.facts.reporter_hashes == facts.reporter_hashes
    assert back.facts.subject_types == facts.subject_types
    assert back.facts.subject_hashes == facts.subject_hashes
    np.testing.assert_array_equal(back.facts.amounts_usd, facts.amounts_usd)


def test_a_shard_written_before_report_facts_reads_without_them(s3: Any) -> None:
    store = EmbeddingShardStore(s3, BUCKET)
    back = store.read(store.write(shard(None)))
    assert back.facts is None
    assert back.report_ids == ("a", "b")


def test_a_compacted_shard_is_listed_with_its_day_and_keeps_what_it_replaces(s3: Any) -> None:
    store = EmbeddingShardStore(s3, BUCKET)
    written = [store.write(shard(None)), store.write(shard(None))]

    key = store.write_compacted(replace(shard(None), replaces=tuple(written)), sequence=3)

    assert compacted_sequence(key) == 3
    assert key.startswith("embeddings/dt=2026-11-20/")
    assert sorted(store.keys_for_day(date(2026, 11, 20))) == sorted([*written, key])
    assert store.read(key).replaces == tuple(written)
    assert store.read(written[0]).replaces == ()  # a triage shard replaces nothing
    with pytest.raises(ValueError, match="must name the shards it replaces"):
        store.write_compacted(shard(None), sequence=4)
    assert not store.read(key).sealed
    sealed = store.write_compacted(replace(shard(None), replaces=(key,), sealed=True), sequence=4)
    assert store.read(sealed).sealed

    # Superseded compacted shards are deleted; a triage shard never is.
    with pytest.raises(ValueError, match="only compacted shards"):
        store.delete_compacted([key, written[0]])
    store.delete_compacted([key])
    assert store.read_if_present(key) is None
    assert store.read_if_present(sealed) is not None
    assert sorted(store.keys_for_day(date(2026, 11, 20))) == sorted([*written, sealed])


def test_deleting_compacted_shards_goes_1000_keys_a_request_and_raises_on_refused_keys() -> None:
    class Client:
        """What DeleteObjects answers: it refuses the keys named in `refused`, per key."""

        def __init__(self, refused: set[str]) -> None:
            self.refused = refused
            self.requests: list[int] = []

        def delete_objects(self, **request: Any) -> dict[str, Any]:
            keys = [item["Key"] for item in request["Delete"]["Objects"]]
            self.requests.append(len(keys))
            errors = [{"Key": k, "Code": "AccessDenied", "Message": "no"} for k in keys if k in self.refused]
            return {"Errors": errors} if errors else {}

    keys = [f"embeddings/dt=2026-11-20/compacted-{n:06d}-ab.npz" for n in range(2500)]
    client = Client(refused=set())
    EmbeddingShardStore(client, BUCKET).delete_compacted(keys)
    assert client.requests == [1000, 1000, 500]

    with pytest.raises(ClientError, match="AccessDenied"):
        EmbeddingShardStore(Client(refused={keys[3]}), BUCKET).delete_compacted(keys[:10])


def test_texts_round_trip_whatever_their_length_and_script(s3: Any) -> None:
    store = EmbeddingShardStore(s3, BUCKET)
    texts = ("x" * 5000, "", "ünïcödé — 退款 🙂")
    written = replace(
        shard(None),
        report_ids=("a", "b", "c"),
        theme_ids=("", "", ""),
        created_at=np.zeros(3),
        vectors=np.ones((3, 4), dtype=np.float32),
        texts=texts,
    )

    key = store.write(written)

    assert store.read(key).texts == texts
    # Stored as bytes, not padded to the longest text (fixed-width would take 3 x 5,000 x 4 bytes).
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] < 10_000


def test_a_shard_without_texts_reads_back_without_them_and_a_partial_one_is_refused(s3: Any) -> None:
    store = EmbeddingShardStore(s3, BUCKET)

    assert store.read(store.write(replace(shard(None), texts=()))).texts == ()
    with pytest.raises(ValueError, match="2 reports with 1 texts"):
        store.write(replace(shard(None), texts=("only one",)))


def test_a_shard_written_with_fixed_width_texts_still_reads(s3: Any) -> None:
    buffer = io.BytesIO()
    np.savez(  # as shards were written before texts were stored as bytes
        buffer,
        vectors=np.ones((2, 4), dtype=np.float32),
        report_ids=np.array(["a", "b"]),
        theme_ids=np.array(["", ""]),
        created_at=np.zeros(2),
        texts=np.array(["first", "second"]),
    )
    s3.put_object(Bucket=BUCKET, Key="embeddings/dt=2026-11-20/old.npz", Body=buffer.getvalue())

    back = EmbeddingShardStore(s3, BUCKET).read("embeddings/dt=2026-11-20/old.npz")

    assert back.texts == ("first", "second")
    assert back.report_ids == ("a", "b")


def test_report_facts_of_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="unequal lengths"):
        ReportFacts(("shop",), ("user", "user"), ("r",), ("",), ("",), np.array([np.nan]))


def test_documents_are_published_with_the_snapshot_and_read_from_the_current_one(s3: Any) -> None:
    store = ThemeSnapshotStore(s3, BUCKET, dimension=4)
    assert store.current_document("stats") is None  # nothing published yet
    assert store.current_version() == 0

    for version in (1, 2):
        snapshot = ThemeSnapshot(
            version,
            datetime(2026, 11, 20, tzinfo=UTC),
            (ThemeInfo(theme_id="thm-1", label="one"),),
            normalize_rows(np.ones((1, 4), dtype=np.float32)),
        )
        store.publish(snapshot, documents={"stats": f'{{"v": {version}}}'.encode()})

    assert store.current_document("stats") == b'{"v": 2}'
    assert store.current_version() == 2
    assert store.current_document("missing") is None
    with pytest.raises(ValueError, match="lower-case"):
        store.publish(snapshot, documents={"../escape": b"{}"})


def test_the_state_object_is_written_only_over_the_version_it_was_read_at(s3: Any) -> None:
    store = JsonStateStore(s3, BUCKET, "novelty/state.json")
    assert store.load() is None

    first = store.save({"n": 1}, replacing=None)
    with pytest.raises(StateConflict):
        store.save({"n": 1}, replacing=None)  # "there is none yet" no longer holds
    second = store.save({"n": 2}, replacing=first)
    with pytest.raises(StateConflict):
        store.save({"n": 3}, replacing=first)  # someone else wrote `second` meanwhile

    loaded = store.load()
    assert loaded is not None
    assert (loaded.etag, loaded.document) == (second, {"n": 2})


def test_reading_the_state_one_already_holds_downloads_nothing(s3: Any) -> None:
    store = JsonStateStore(s3, BUCKET, "novelty/state.json")
    etag = store.save({"n": 1}, replacing=None)

    unchanged = store.load(known_etag=etag)
    assert unchanged is not None
    assert (unchanged.etag, unchanged.document) == (etag, None)

    store.save({"n": 2}, replacing=etag)
    changed = store.load(known_etag=etag)
    assert changed is not None
    assert changed.document == {"n": 2}
    assert changed.etag != etag


def test_the_previous_window_is_members_and_left_out_reports(s3: Any) -> None:
    store = ThemeSnapshotStore(s3, BUCKET, dimension=4)
    assert store.current_window() == set()
    snapshot = ThemeSnapshot(
        1,
        datetime(2026, 11, 20, tzinfo=UTC),
        (ThemeInfo(theme_id="thm-1", label="one"),),
        normalize_rows(np.ones((1, 4), dtype=np.float32)),
    )
    store.publish(snapshot, members={"thm-1": ["a", "b"]}, left_out=["noise-1", "noise-2"])
    assert store.current_window() == {"a", "b", "noise-1", "noise-2"}
    assert store.current_members() == {"thm-1": ["a", "b"]}
    # A snapshot published before left-out ids were kept: its members only.
    store.publish(replace(snapshot, version=2), members={"thm-1": ["a", "c"]})
    assert store.current_window() == {"a", "c"}


# --- the clustering state: the next recluster run's warm start ------------------------------------

DIMENSION = 16
NOW = datetime(2026, 11, 2, tzinfo=UTC)


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


def test_a_current_snapshot_that_has_expired_reads_as_an_empty_one_of_its_version(s3: Any) -> None:
    """S3 expires a snapshot's objects after the retention period, one by one, and not the pointer
    (rewritten every run). Readers then see no theme and no document, and the next run publishes the
    version after it."""
    versioned = {"Status": "Enabled"}  # as the artifacts bucket: expiry leaves a delete marker
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration=versioned)
    publisher = ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION)
    publisher.publish(
        a_snapshot(7), members={"thm-1": ["r1"]}, documents={"stats": b"{}"}, clustering_state=a_state(0)
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="themes/v")["Contents"]]
    members_key = next(key for key in keys if key.endswith("members.npz"))

    s3.delete_object(Bucket=BUCKET, Key=members_key)  # the first of its objects to expire
    assert publisher.current_members() == {}
    assert publisher.current_window() == set()
    assert publisher.current_document("stats") == b"{}"

    for key in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)
    reader = ThemeSnapshotStore(s3, BUCKET, dimension=DIMENSION)
    snapshot = reader.current()
    assert (snapshot.version, snapshot.themes, snapshot.centroids.shape) == (7, (), (0, DIMENSION))
    assert reader.current_members() == {}
    assert reader.current_document("stats") is None
    assert reader.current_clustering_state() is None
    assert reader.current_version() == 7


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
