"""S3 adapters: embedding shards (written by triage, read in bulk by recluster) and theme snapshots.

Layout in the artifacts bucket:

    embeddings/dt=YYYY-MM-DD/<shard id>.npz   one shard per triaged batch and day: vectors, ids, texts
    themes/v<version>/manifest.json           a published snapshot: theme metadata ...
    themes/v<version>/centroids.npy           ... its centroids ...
    themes/v<version>/members.npz             ... each theme's member report ids in that run ...
    themes/v<version>/clustering.npz          ... and the clustering's state, the next run's warm start
    themes/current.json                       the pointer readers follow: {"version", "manifest_key"}

A snapshot is published by writing its objects first and the pointer last. Each S3 PUT is atomic,
so a reader sees either the old snapshot or the whole new one, never half of it. Snapshots published
before warm starts existed have no clustering.npz (and no `clustering_state_key`): the next run
then starts cold.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from riskradar.themes import ClusteringState, SnapshotManifest, ThemeSnapshot, Vectors

EMBEDDINGS_PREFIX = "embeddings/"
SNAPSHOT_POINTER_KEY = "themes/current.json"


@dataclass(frozen=True)
class EmbeddingShard:
    day: date
    report_ids: tuple[str, ...]
    #: Theme each report was assigned to at triage time ("" for the novelty pool).
    theme_ids: tuple[str, ...]
    #: Report creation times, seconds since the epoch.
    created_at: npt.NDArray[np.float64]
    vectors: Vectors
    #: The redacted report texts, so that recluster can label themes from S3 alone.
    texts: tuple[str, ...] = ()


class EmbeddingShardStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write(self, shard: EmbeddingShard) -> str:
        key = f"{EMBEDDINGS_PREFIX}dt={shard.day.isoformat()}/{uuid.uuid4().hex}.npz"
        buffer = io.BytesIO()
        np.savez(
            buffer,
            vectors=shard.vectors.astype(np.float32),
            report_ids=np.array(shard.report_ids, dtype=np.str_),
            theme_ids=np.array(shard.theme_ids, dtype=np.str_),
            created_at=shard.created_at.astype(np.float64),
            texts=np.array(shard.texts, dtype=np.str_),
        )
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=buffer.getvalue())
        return key

    def keys_for_days(self, days: list[date]) -> list[str]:
        keys = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for day in days:
            for page in paginator.paginate(
                Bucket=self._bucket, Prefix=f"{EMBEDDINGS_PREFIX}dt={day.isoformat()}/"
            ):
                keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def read(self, key: str) -> EmbeddingShard:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        with np.load(io.BytesIO(body), allow_pickle=False) as data:
            day = date.fromisoformat(key.split("dt=", 1)[1].split("/", 1)[0])
            return EmbeddingShard(
                day=day,
                report_ids=tuple(str(v) for v in data["report_ids"]),
                theme_ids=tuple(str(v) for v in data["theme_ids"]),
                created_at=data["created_at"],
                vectors=data["vectors"],
                texts=tuple(str(v) for v in data["texts"]) if "texts" in data.files else (),
            )


class ThemeSnapshotStore:
    """Reads the current snapshot (cached until its version changes) and publishes new ones."""

    def __init__(self, s3: Any, bucket: str, *, dimension: int) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._dimension = dimension
        self._cached: ThemeSnapshot | None = None
        self._members_key: str | None = None
        self._clustering_state_key: str | None = None

    def current(self) -> ThemeSnapshot:
        """The published snapshot; an empty one before the first publication.

        One small GET per call (the pointer); the manifest and centroids are fetched only when
        the version differs from the cached one.
        """
        try:
            pointer = json.loads(
                self._s3.get_object(Bucket=self._bucket, Key=SNAPSHOT_POINTER_KEY)["Body"].read()
            )
        except self._s3.exceptions.NoSuchKey:
            return self._cached or ThemeSnapshot.empty(self._dimension)
        if self._cached is None or self._cached.version != pointer["version"]:
            self._cached = self._load(str(pointer["manifest_key"]))
        return self._cached

    def _load(self, manifest_key: str) -> ThemeSnapshot:
        manifest = self._manifest(manifest_key)
        raw = self._s3.get_object(Bucket=self._bucket, Key=manifest.centroids_key)["Body"].read()
        centroids = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float32)
        self._members_key = manifest.members_key
        self._clustering_state_key = manifest.clustering_state_key
        return ThemeSnapshot(
            manifest.version, manifest.created_at, manifest.themes, centroids, dormant=manifest.dormant_themes
        )

    def _manifest(self, manifest_key: str) -> SnapshotManifest:
        return SnapshotManifest.model_validate_json(
            self._s3.get_object(Bucket=self._bucket, Key=manifest_key)["Body"].read()
        )

    def current_members(self) -> dict[str, list[str]]:
        """Member report ids per theme of the current snapshot (empty before the first one)."""
        self.current()
        if not self._members_key:
            return {}
        raw = self._s3.get_object(Bucket=self._bucket, Key=self._members_key)["Body"].read()
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            theme_ids = [str(v) for v in data["theme_ids"]]
            members: dict[str, list[str]] = {theme_id: [] for theme_id in theme_ids}
            for report_id, theme_index in zip(data["report_ids"], data["theme_index"], strict=True):
                members[theme_ids[int(theme_index)]].append(str(report_id))
        return members

    def current_clustering_state(self) -> ClusteringState | None:
        """The clustering state published with the current snapshot, for the next run's warm start.

        None before the first snapshot, for a snapshot published without one and when its object
        is gone (the warm start is an optimisation: the run starts cold). Raises ValueError naming
        the key when the object is there but is not a clustering state.
        """
        self.current()
        key = self._clustering_state_key
        if not key:
            return None
        try:
            raw = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        try:
            return clustering_state_from_npz(raw)
        except ValueError as error:
            raise ValueError(f"s3://{self._bucket}/{key}: {error}") from error

    def publish(
        self,
        snapshot: ThemeSnapshot,
        *,
        members: Mapping[str, Sequence[str]] | None = None,
        clustering_state: ClusteringState | None = None,
    ) -> SnapshotManifest:
        """Write the snapshot's objects, then the pointer: readers switch to it atomically."""
        prefix = f"themes/v{snapshot.version:010d}/"
        buffer = io.BytesIO()
        np.save(buffer, snapshot.centroids.astype(np.float32), allow_pickle=False)
        members_key = None
        if members is not None:
            members_key = f"{prefix}members.npz"
            self._s3.put_object(Bucket=self._bucket, Key=members_key, Body=_members_npz(members))
        clustering_state_key = None
        if clustering_state is not None:
            clustering_state_key = f"{prefix}clustering.npz"
            self._s3.put_object(
                Bucket=self._bucket, Key=clustering_state_key, Body=clustering_state_npz(clustering_state)
            )
        manifest = SnapshotManifest(
            version=snapshot.version,
            created_at=snapshot.created_at,
            dimension=int(snapshot.centroids.shape[1]),
            themes=snapshot.themes,
            centroids_key=f"{prefix}centroids.npy",
            dormant_themes=snapshot.dormant,
            members_key=members_key,
            clustering_state_key=clustering_state_key,
        )
        self._s3.put_object(Bucket=self._bucket, Key=manifest.centroids_key, Body=buffer.getvalue())
        manifest_key = f"{prefix}manifest.json"
        self._s3.put_object(Bucket=self._bucket, Key=manifest_key, Body=manifest.model_dump_json().encode())
        pointer = {"version": snapshot.version, "manifest_key": manifest_key}
        self._s3.put_object(Bucket=self._bucket, Key=SNAPSHOT_POINTER_KEY, Body=json.dumps(pointer).encode())
        return manifest


def _members_npz(members: Mapping[str, Sequence[str]]) -> bytes:
    theme_ids = list(members)
    report_ids = [report_id for theme_id in theme_ids for report_id in members[theme_id]]
    theme_index = [index for index, theme_id in enumerate(theme_ids) for _ in members[theme_id]]
    buffer = io.BytesIO()
    np.savez(
        buffer,
        theme_ids=np.array(theme_ids, dtype=np.str_),
        report_ids=np.array(report_ids, dtype=np.str_),
        theme_index=np.array(theme_index, dtype=np.int32),
    )
    return buffer.getvalue()


def clustering_state_npz(state: ClusteringState) -> bytes:
    """The bytes of `themes/v<version>/clustering.npz` (read back by clustering_state_from_npz)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        micro_centroids=state.micro_centroids.astype(np.float32),
        micro_radii=state.micro_radii.astype(np.float32),
        micro_groups=state.micro_groups.astype(np.int64),
        cohesion=np.float64(state.cohesion),
    )
    return buffer.getvalue()


def clustering_state_from_npz(raw: bytes) -> ClusteringState:
    """Raises ValueError for an object that is not a consistent clustering state."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return ClusteringState(
                micro_centroids=data["micro_centroids"].astype(np.float32),
                micro_radii=data["micro_radii"].astype(np.float32),
                micro_groups=data["micro_groups"].astype(np.int64),
                cohesion=float(data["cohesion"]),
            )
    # Not an .npz, or one without these arrays (a bad shape or NaN is ClusteringState's ValueError).
    except (KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"not a clustering state object: {error}") from error
