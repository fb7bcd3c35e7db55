"""S3 adapters: embedding shards (written by triage, read in bulk by recluster and one by one by the
online detector), theme snapshots, and the online detector's state.

Layout in the artifacts bucket:

    embeddings/dt=YYYY-MM-DD/<shard id>.npz   one shard per triaged batch and day: vectors, ids, texts
    embeddings/dt=YYYY-MM-DD/compacted-<sequence>-<id>.npz   the day's shards (so far) in one,
                                              written by the recluster job (riskradar.shard_compaction)
    themes/v<version>/manifest.json           a published snapshot: theme metadata ...
    themes/v<version>/centroids.npy           ... its centroids ...
    themes/v<version>/members.npz             ... each theme's member report ids in that run ...
    themes/v<version>/<name>.json             ... documents published with it (stats.json) ...
    themes/v<version>/clustering.npz          ... and the clustering's state, the next run's warm start
    themes/current.json                       the pointer readers follow: {"version", "manifest_key"}
    novelty/state.json                        the online novelty detector's state (one JSON object)

A snapshot is published by writing its objects first and the pointer last. Each S3 PUT is atomic,
so a reader sees either the old snapshot or the whole new one, never half of it. Snapshots published
before warm starts existed have no clustering.npz (and no `clustering_state_key`): the next run
then starts cold.

Shards, snapshots and digests expire after the retention period (`ReportRetentionDays`, S3
lifecycle rules in template.yaml, counted from when each object was written); the pointers, rewritten
on every publication, do not. A run publishes a snapshot whenever its window holds a report, so the
current one expires only after no report came for the retention period and the window together: its
reports expired before it. The pointer then names objects that are gone, and the snapshot reads as
an empty one of that version (every report is novel; the next run publishes the version after it),
and the digest as none.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import uuid
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from botocore.exceptions import ClientError

from riskradar.themes import ClusteringState, SnapshotManifest, ThemeSnapshot, Vectors

EMBEDDINGS_PREFIX = "embeddings/"
_DOCUMENT_NAME = re.compile(r"[a-z]+(-[a-z]+)*")
SNAPSHOT_POINTER_KEY = "themes/current.json"


@dataclass(frozen=True)
class ReportFacts:
    """What per-theme statistics need of each report, row-aligned with a shard's report ids: so
    that the recluster job counts themes by business, role, subject and money from S3 alone,
    without scanning the reports table. "" (or NaN for money) where a report has no such fact."""

    businesses: tuple[str, ...]
    reporter_roles: tuple[str, ...]
    #: Keyed pseudonyms (HMAC) only, as everywhere past intake.
    reporter_hashes: tuple[str, ...]
    subject_types: tuple[str, ...]
    subject_hashes: tuple[str, ...]
    #: The stated amount in USD at the scoring config's rates; NaN when the report states none.
    amounts_usd: npt.NDArray[np.float64]

    #: npz array name of each field.
    ARRAYS: ClassVar[tuple[str, ...]] = (
        "businesses",
        "reporter_roles",
        "reporter_hashes",
        "subject_types",
        "subject_hashes",
    )

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, name)) for name in self.ARRAYS} | {len(self.amounts_usd)}
        if len(lengths) > 1:
            raise ValueError(f"report facts of unequal lengths: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.amounts_usd)

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, tuple[str, ...]], amounts_usd: npt.NDArray[np.float64]
    ) -> ReportFacts:
        """From the text columns by field name (see ARRAYS) and the amounts."""
        return cls(
            businesses=columns["businesses"],
            reporter_roles=columns["reporter_roles"],
            reporter_hashes=columns["reporter_hashes"],
            subject_types=columns["subject_types"],
            subject_hashes=columns["subject_hashes"],
            amounts_usd=amounts_usd,
        )

    @classmethod
    def unknown(cls, count: int) -> ReportFacts:
        """Facts of reports triaged before shards carried them: all unknown."""
        blank = ("",) * count
        return cls(blank, blank, blank, blank, blank, np.full(count, np.nan))

    def take(self, rows: npt.NDArray[np.int64] | Sequence[int]) -> ReportFacts:
        """The facts of `rows`, in that order."""
        index = np.asarray(rows, dtype=np.int64)
        picked = {name: tuple(getattr(self, name)[i] for i in index.tolist()) for name in self.ARRAYS}
        return ReportFacts.from_columns(picked, self.amounts_usd[index])

    @classmethod
    def concatenate(cls, parts: Sequence[ReportFacts]) -> ReportFacts:
        joined = {
            name: tuple(value for part in parts for value in getattr(part, name)) for name in cls.ARRAYS
        }
        amounts = np.concatenate([part.amounts_usd for part in parts]) if parts else np.zeros(0)
        return cls.from_columns(joined, amounts)


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
    #: Business, role, subject and money of each report (None: written before shards carried them).
    facts: ReportFacts | None = None
    #: A compacted shard only: the keys (same day) of the shards and earlier compacted shards whose
    #: reports it holds ...
    replaces: tuple[str, ...] = ()
    #: ... and whether it was written after its day was over (a day compacted while it still grew is
    #: compacted once more when it is over).
    sealed: bool = False


def shard_key(day: date) -> str:
    """A new key for a triaged batch's shard of `day`."""
    return f"{EMBEDDINGS_PREFIX}dt={day.isoformat()}/{uuid.uuid4().hex}.npz"


_COMPACTED_NAME = re.compile(r"/compacted-(\d+)-[0-9a-f]+\.npz$")


def compacted_sequence(key: str) -> int | None:
    """The sequence of a compacted shard's key; None for a shard triage wrote."""
    found = _COMPACTED_NAME.search(key)
    return int(found.group(1)) if found else None


def compacted_shard_key(day: date, sequence: int) -> str:
    """A new key for `day`'s `sequence`-th compacted shard (template.yaml grants the recluster job
    writes to these keys only)."""
    return f"{EMBEDDINGS_PREFIX}dt={day.isoformat()}/compacted-{sequence:06d}-{uuid.uuid4().hex}.npz"


class EmbeddingShardStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write(self, shard: EmbeddingShard) -> str:
        """Store a triaged batch's shard under a new key; the key."""
        return self._put(shard_key(shard.day), shard)

    def write_compacted(self, shard: EmbeddingShard, sequence: int) -> str:
        """Store a day's compacted shard (its `replaces` set) as that day's `sequence`-th; the key."""
        if not shard.replaces:
            raise ValueError("a compacted shard must name the shards it replaces")
        return self._put(compacted_shard_key(shard.day, sequence), shard)

    def delete_compacted(self, keys: Sequence[str]) -> None:
        """Delete superseded compacted shards (only those: a triage shard is read by key for weeks,
        and expires only after the retention period, by the bucket's lifecycle rule)."""
        if any(compacted_sequence(key) is None for key in keys):
            raise ValueError(f"only compacted shards are deleted, not {sorted(keys)}")
        for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1,000 keys
            answer = self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True},
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ClientError(
                    {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}},
                    "DeleteObjects",
                )

    def _put(self, key: str, shard: EmbeddingShard) -> str:
        if len(shard.texts) not in (0, len(shard.report_ids)):
            raise ValueError(f"a shard of {len(shard.report_ids)} reports with {len(shard.texts)} texts")
        arrays: dict[str, Any] = _facts_arrays(shard.facts)
        if shard.replaces:
            arrays |= _packed_strings("replaced", shard.replaces)
            arrays["sealed"] = np.array(shard.sealed)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            vectors=shard.vectors.astype(np.float32),
            report_ids=np.array(shard.report_ids, dtype=np.str_),
            theme_ids=np.array(shard.theme_ids, dtype=np.str_),
            created_at=shard.created_at.astype(np.float64),
            **_packed_strings("text", shard.texts),
            **arrays,
        )
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=buffer.getvalue())
        return key

    def keys_for_days(self, days: list[date]) -> list[str]:
        return [key for day in days for key in self.keys_for_day(day)]

    def keys_for_day(self, day: date) -> list[str]:
        """Every object of the day: the shards triage wrote and the day's compacted shards."""
        keys = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self._bucket, Prefix=f"{EMBEDDINGS_PREFIX}dt={day.isoformat()}/"
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def read_if_present(self, key: str) -> EmbeddingShard | None:
        """The shard, or None if it is gone (a compacted shard a newer one superseded)."""
        try:
            return self.read(key)
        except self._s3.exceptions.NoSuchKey:
            return None

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
                texts=_unpacked_strings(data, "text", "texts"),
                facts=_facts_from(data),
                replaces=_unpacked_strings(data, "replaced", "replaces"),
                sealed=bool(data["sealed"]) if "sealed" in data.files else False,
            )


class ThemeSnapshotStore:
    """Reads the current snapshot (cached until its version changes) and publishes new ones."""

    def __init__(self, s3: Any, bucket: str, *, dimension: int) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._dimension = dimension
        self._cached: ThemeSnapshot | None = None
        self._members_key: str | None = None
        self._documents: dict[str, str] = {}
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
            try:
                self._cached = self._load(str(pointer["manifest_key"]))
            except self._s3.exceptions.NoSuchKey:
                # Expired with its reports (see the module docstring): nothing of it is read.
                self._members_key, self._documents, self._clustering_state_key = None, {}, None
                self._cached = replace(ThemeSnapshot.empty(self._dimension), version=int(pointer["version"]))
        return self._cached

    def current_version(self) -> int:
        """The version of the published snapshot (0 before the first), from the pointer alone."""
        try:
            pointer = json.loads(
                self._s3.get_object(Bucket=self._bucket, Key=SNAPSHOT_POINTER_KEY)["Body"].read()
            )
        except self._s3.exceptions.NoSuchKey:
            return 0
        return int(pointer["version"])

    def _load(self, manifest_key: str) -> ThemeSnapshot:
        manifest = self._manifest(manifest_key)
        raw = self._s3.get_object(Bucket=self._bucket, Key=manifest.centroids_key)["Body"].read()
        centroids = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float32)
        self._members_key = manifest.members_key
        self._documents = dict(manifest.documents)
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
        raw = self._current_object(self._members_key)
        if raw is None:
            return {}
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            theme_ids = [str(v) for v in data["theme_ids"]]
            members: dict[str, list[str]] = {theme_id: [] for theme_id in theme_ids}
            for report_id, theme_index in zip(data["report_ids"], data["theme_index"], strict=True):
                members[theme_ids[int(theme_index)]].append(str(report_id))
        return members

    def current_window(self) -> set[str]:
        """Every report id the current snapshot's run clustered: its themes' members and the reports
        it left out (empty before the first snapshot). A snapshot published before left-out ids were
        kept gives its members only."""
        self.current()
        raw = self._current_object(self._members_key)
        if raw is None:
            return set()
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            seen = {str(report_id) for report_id in data["report_ids"]}
            if "left_out_ids" in data.files:
                seen.update(str(report_id) for report_id in data["left_out_ids"])
        return seen

    def current_document(self, name: str) -> bytes | None:
        """A JSON document published with the current snapshot (None before one, or if it has none)."""
        self.current()
        return self._current_object(self._documents.get(name))

    def _current_object(self, key: str | None) -> bytes | None:
        """An object of the current snapshot; None for none, or one gone (S3 expires a snapshot's
        objects one by one: the manifest may outlive the others by a day)."""
        if key is None:
            return None
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return body

    def current_clustering_state(self) -> ClusteringState | None:
        """The clustering state published with the current snapshot, for the next run's warm start.

        None before the first snapshot, for a snapshot published without one and when its object
        is gone (the warm start is an optimisation: the run starts cold). Raises ValueError naming
        the key when the object is there but is not a clustering state.
        """
        self.current()
        key = self._clustering_state_key
        raw = self._current_object(key or None)
        if raw is None:
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
        left_out: Sequence[str] = (),
        documents: Mapping[str, bytes] | None = None,
        clustering_state: ClusteringState | None = None,
    ) -> SnapshotManifest:
        """Write the snapshot's objects, then the pointer: readers switch to it atomically.
        `members` are the report ids of each theme and `left_out` the run's reports in no theme;
        `documents` are JSON bodies by name (lower-case letters and dashes), published with it."""
        prefix = f"themes/v{snapshot.version:010d}/"
        buffer = io.BytesIO()
        np.save(buffer, snapshot.centroids.astype(np.float32), allow_pickle=False)
        members_key = None
        if members is not None:
            members_key = f"{prefix}members.npz"
            self._s3.put_object(Bucket=self._bucket, Key=members_key, Body=_members_npz(members, left_out))
        document_keys: dict[str, str] = {}
        for name, body in (documents or {}).items():
            if not _DOCUMENT_NAME.fullmatch(name):
                raise ValueError(f"document name {name!r} must be lower-case letters and dashes")
            document_keys[name] = f"{prefix}{name}.json"
            self._s3.put_object(
                Bucket=self._bucket, Key=document_keys[name], Body=body, ContentType="application/json"
            )
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
            documents=document_keys,
            clustering_state_key=clustering_state_key,
        )
        self._s3.put_object(Bucket=self._bucket, Key=manifest.centroids_key, Body=buffer.getvalue())
        manifest_key = f"{prefix}manifest.json"
        self._s3.put_object(Bucket=self._bucket, Key=manifest_key, Body=manifest.model_dump_json().encode())
        pointer = {"version": snapshot.version, "manifest_key": manifest_key}
        self._s3.put_object(Bucket=self._bucket, Key=SNAPSHOT_POINTER_KEY, Body=json.dumps(pointer).encode())
        return manifest


class StateConflict(RuntimeError):
    """The state object changed since it was read: another writer got there first."""


@dataclass(frozen=True)
class StoredState:
    #: The object's ETag, to write it back conditionally (and to ask whether it changed).
    etag: str
    #: The JSON document; None when it is unchanged since the ETag the caller already had.
    document: dict[str, Any] | None


class JsonStateStore:
    """One JSON document at one key, read and replaced with optimistic concurrency.

    A read names the ETag the caller already holds: S3 answers 304 Not Modified without a body when
    the object is still that one, so a warm container does not download its own last write. A write
    is conditional on the ETag it replaces (If-Match; If-None-Match: * for the first write): two
    writers can never silently overwrite each other, the second gets `StateConflict`.
    """

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self.key = key

    def load(self, *, known_etag: str | None = None) -> StoredState | None:
        """The stored document (None before the first write)."""
        request: dict[str, Any] = {"Bucket": self._bucket, "Key": self.key}
        if known_etag is not None:
            request["IfNoneMatch"] = known_etag
        try:
            response = self._s3.get_object(**request)
        except self._s3.exceptions.NoSuchKey:
            return None
        except ClientError as error:
            if known_etag is not None and _status(error) == 304:
                return StoredState(etag=known_etag, document=None)
            raise
        document = json.loads(response["Body"].read())
        if not isinstance(document, dict):
            raise ValueError(f"s3://{self._bucket}/{self.key} does not hold a JSON object")
        return StoredState(etag=str(response["ETag"]), document=document)

    def save(self, document: Mapping[str, Any], *, replacing: str | None) -> str:
        """Write the document if the stored one is still `replacing` (None: if there is none yet);
        return the new ETag. Raises StateConflict otherwise."""
        request: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": self.key,
            "Body": json.dumps(document, separators=(",", ":")).encode(),
            "ContentType": "application/json",
        }
        if replacing is None:
            request["IfNoneMatch"] = "*"
        else:
            request["IfMatch"] = replacing
        try:
            response = self._s3.put_object(**request)
        except ClientError as error:
            # 412: the precondition failed; 409: a concurrent conditional write is in progress.
            if _status(error) in (409, 412):
                raise StateConflict(f"s3://{self._bucket}/{self.key} changed since it was read") from error
            raise
        return str(response["ETag"])


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _packed_strings(name: str, values: Sequence[str]) -> dict[str, Any]:
    """Strings as their UTF-8 bytes end to end (`<name>_bytes`) plus where each ends (`<name>_ends`):
    a fixed-width numpy string array pads every value to the longest, in UTF-32 (a compacted day
    with one 5,000-character report would take 20 KB a row)."""
    encoded = [value.encode() for value in values]
    return {
        f"{name}_bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        f"{name}_ends": np.cumsum([len(item) for item in encoded], dtype=np.int64),
    }


def _unpacked_strings(data: Any, name: str, fixed_width_name: str) -> tuple[str, ...]:
    """The strings `_packed_strings` wrote, or the fixed-width array shards carried before it."""
    if f"{name}_bytes" in data.files:
        raw = data[f"{name}_bytes"].tobytes()
        ends = data[f"{name}_ends"].tolist()
        return tuple(raw[start:end].decode() for start, end in itertools.pairwise([0, *ends]))
    if fixed_width_name in data.files:
        return tuple(str(v) for v in data[fixed_width_name])
    return ()


def _facts_arrays(facts: ReportFacts | None) -> dict[str, Any]:
    if facts is None:
        return {}
    arrays: dict[str, Any] = {
        f"fact_{name}": np.array(getattr(facts, name), dtype=np.str_) for name in ReportFacts.ARRAYS
    }
    arrays["fact_amounts_usd"] = facts.amounts_usd.astype(np.float64)
    return arrays


def _facts_from(data: Any) -> ReportFacts | None:
    if "fact_amounts_usd" not in data.files:
        return None
    columns = {name: tuple(str(v) for v in data[f"fact_{name}"]) for name in ReportFacts.ARRAYS}
    return ReportFacts.from_columns(columns, np.asarray(data["fact_amounts_usd"], dtype=np.float64))


def _members_npz(members: Mapping[str, Sequence[str]], left_out: Sequence[str] = ()) -> bytes:
    theme_ids = list(members)
    report_ids = [report_id for theme_id in theme_ids for report_id in members[theme_id]]
    theme_index = [index for index, theme_id in enumerate(theme_ids) for _ in members[theme_id]]
    buffer = io.BytesIO()
    np.savez(
        buffer,
        theme_ids=np.array(theme_ids, dtype=np.str_),
        report_ids=np.array(report_ids, dtype=np.str_),
        theme_index=np.array(theme_index, dtype=np.int32),
        left_out_ids=np.array(list(left_out), dtype=np.str_),
    )
    return buffer.getvalue()


DIGESTS_PREFIX = "digests/"
DIGEST_POINTER_KEY = "digests/latest.json"
#: File name of each rendering of a digest, by format.
DIGEST_FILES = {"json": "digest.json", "html": "digest.html", "markdown": "digest.md"}
_DIGEST_CONTENT_TYPES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
}


@dataclass(frozen=True)
class DigestRef:
    """Where one published digest lives (the body of the `latest` pointer)."""

    snapshot_version: int
    generated_at: str
    #: Object key of each rendering, by format (json, html, markdown).
    keys: Mapping[str, str]


class DigestStore:
    """Digests under versioned keys — digests/v<snapshot version>/<time>/digest.{json,html,md} —
    and the pointer digests/latest.json, written last (as for snapshots: readers never see half)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def publish(self, snapshot_version: int, generated_at: str, renderings: Mapping[str, str]) -> DigestRef:
        unknown = set(renderings) - set(DIGEST_FILES)
        if unknown:
            raise ValueError(f"unknown digest formats {sorted(unknown)}; known: {sorted(DIGEST_FILES)}")
        stamp = re.sub(r"[^0-9TZ]", "", generated_at)
        prefix = f"{DIGESTS_PREFIX}v{snapshot_version:010d}/{stamp}/"
        keys: dict[str, str] = {}
        for kind, body in renderings.items():
            keys[kind] = prefix + DIGEST_FILES[kind]
            self._s3.put_object(
                Bucket=self._bucket,
                Key=keys[kind],
                Body=body.encode("utf-8"),
                ContentType=_DIGEST_CONTENT_TYPES[kind],
            )
        reference = DigestRef(snapshot_version, generated_at, keys)
        pointer = {"snapshot_version": snapshot_version, "generated_at": generated_at, "keys": keys}
        self._s3.put_object(
            Bucket=self._bucket,
            Key=DIGEST_POINTER_KEY,
            Body=json.dumps(pointer).encode(),
            ContentType="application/json",
        )
        return reference

    def latest(self) -> DigestRef | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=DIGEST_POINTER_KEY)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        pointer = json.loads(body)
        return DigestRef(
            int(pointer["snapshot_version"]), str(pointer["generated_at"]), dict(pointer["keys"])
        )

    def read(self, reference: DigestRef, kind: str) -> str | None:
        """One rendering of the digest; None once it has expired (see the module docstring)."""
        if kind not in reference.keys:
            raise KeyError(f"the digest has no {kind} rendering")
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=reference.keys[kind])["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return body.decode("utf-8")


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
    # Not an .npz, or one without these arrays (a bad shape or NaN is ClusteringState's ValueError);
    # a damaged zip can also fail as an unsupported zip version or a bad compressed stream, and an
    # array where a number belongs (another writer's layout) as a TypeError.
    except (
        KeyError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
        NotImplementedError,
        TypeError,
        zlib.error,
    ) as error:
        raise ValueError(f"not a clustering state object: {error}") from error
