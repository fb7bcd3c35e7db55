"""Online new-theme detection between scheduled reclusters: the use case behind NoveltyFunction.

Triage announces every embedding shard it writes on a FIFO queue (one message group, so the shards
arrive one batch at a time, in the order they were written). For each batch of notices this module
loads the detector's state from S3, reads each shard, feeds its reports to `riskradar.novelty`'s
`NoveltyDetector` in order, sends a `ThemeAlert` (source "online") for each burst it flags, and
saves the state.

Which reports are fed is a setting: "all" (every triaged report; the detector learns the whole
stream's background, which its benchmark found detects new themes sooner with no more false
alarms) or "pool" (only those triage left in the novelty pool).

Exactly-once observation, at-least-once alerts:

* The state remembers the keys of the last shards it observed; a redelivered notice is skipped.
* It also remembers fingerprints of the last observed report ids: a report that reaches a second
  shard (a retried triage batch writes its shard again) is observed once.
* Alerts are sent before the state is saved. A crash in between redelivers the notices, which are
  observed again from the old state and raise the same alerts with the same `alert_id` — a
  consumer drops the repeat. A crash after the save finds the shards already observed.
* The state is written conditionally on the ETag it was read at: a second writer cannot silently
  overwrite it. A warm container keeps the state it saved and asks S3 only whether it changed.

An alert names the theme by what triage assigned its reports to: a known theme's id when most of
the burst's reports were assigned to that theme (a known theme surging, caught between runs), and
otherwise a provisional id `new-<hash>`, kept while later alerts' centroids stay close to the first
one, until the next recluster gives the theme its real id. Its label and keywords come from the
burst's texts (c-TF-IDF against the other reports of the shards at hand), its examples are the
burst's reports nearest its centroid.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
from botocore.exceptions import BotoCoreError, ClientError
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships with scikit-learn

from riskradar.adapters.s3 import EmbeddingShard, StoredState
from riskradar.models import ShardNotice, ThemeAlert
from riskradar.novelty import NoveltyAlert, NoveltyConfig, NoveltyDetector
from riskradar.theme_labels import class_tfidf_keywords, label_from_keywords, nearest_examples
from riskradar.themes import Vectors

__all__ = [
    "PROVISIONAL_PREFIX",
    "BatchResult",
    "DetectionBatch",
    "Feed",
    "IncompatibleState",
    "NoticeOutcome",
    "ObservedMemory",
    "OnlineDetectionService",
    "OnlineState",
    "ProvisionalTheme",
    "ProvisionalThemeReader",
    "ProvisionalThemes",
    "report_fingerprint",
]

logger = logging.getLogger(__name__)

Feed = Literal["all", "pool"]
#: Version of the document this module writes (the detector's own part has its own version).
STATE_FORMAT: Final = 1
#: A redelivered notice comes back within minutes; this many shard keys is hours of traffic.
REMEMBERED_SHARDS: Final = 2_000
#: Provisional themes kept for naming later alerts of the same new theme.
REMEMBERED_PROVISIONAL_THEMES: Final = 200
#: Reports kept per provisional theme (its alerts' bursts, newest kept): enough for the recluster
#: job to find the theme they became, bounded so that the state stays small.
REMEMBERED_PROVISIONAL_MEMBERS: Final = 256
#: A later alert whose centroid is at least this similar to a provisional theme's first alert is
#: the same theme growing (a region's centroid moves little as it grows; distinct intents of one
#: domain sit below this, see the unit tests).
SAME_PROVISIONAL_THEME: Final = 0.8
PROVISIONAL_PREFIX: Final = "new-"
#: BLAS threads while a batch runs. The detector does one small product per report (its
#: remembered reports against the report); more threads only spin-wait on each other. On the shared
#: 2-core reference machine one thread took 2.1 ms per report, two 25 ms, with the detector's
#: previous micro-clusters (benchmarks/novelty_function.py).
BLAS_THREADS: Final = 1

_Fingerprints = npt.NDArray[np.uint64]


class ShardReader(Protocol):
    def read(self, key: str) -> EmbeddingShard: ...


class StateStore(Protocol):
    def load(self, *, known_etag: str | None = None) -> StoredState | None: ...

    def save(self, document: Mapping[str, Any], *, replacing: str | None) -> str: ...


class MessageQueue(Protocol):
    def send(self, body: str, *, attributes: dict[str, str] | None = None) -> str: ...


class SnapshotVersions(Protocol):
    def current_version(self) -> int: ...


class IncompatibleState(ValueError):
    """The stored state cannot be read by this code (another format, or another feed)."""


class NoticeOutcome(StrEnum):
    OBSERVED = "observed"
    #: Its shard was observed before (a redelivered notice).
    ALREADY_OBSERVED = "already_observed"
    #: Feed "pool" and no report of the shard is in the novelty pool: not even read.
    NOTHING_TO_OBSERVE = "nothing_to_observe"


def report_fingerprint(report_id: str) -> int:
    """64 bits of a report id: what the state remembers of it (an id can be 128 characters)."""
    return int.from_bytes(hashlib.blake2b(report_id.encode(), digest_size=8).digest(), "little")


class ObservedMemory:
    """The last observed shards, each with the fingerprints of the reports observed from it."""

    def __init__(self, capacity_reports: int) -> None:
        self.capacity_reports = capacity_reports
        self._shards: deque[tuple[str, _Fingerprints]] = deque()
        self._keys: Counter[str] = Counter()
        self._shard_of: dict[int, str] = {}
        self._reports = 0

    def __contains__(self, shard_key: object) -> bool:
        return shard_key in self._keys

    def seen(self, fingerprint: int) -> bool:
        return fingerprint in self._shard_of

    def shard_of(self, report_id: str) -> str | None:
        return self._shard_of.get(report_fingerprint(report_id))

    def add(self, shard_key: str, fingerprints: Sequence[int]) -> None:
        array = np.array(fingerprints, dtype=np.uint64)
        self._shards.append((shard_key, array))
        self._keys[shard_key] += 1
        for fingerprint in fingerprints:
            self._shard_of[fingerprint] = shard_key
        self._reports += len(array)
        while len(self._shards) > 1 and (
            self._reports > self.capacity_reports or len(self._shards) > REMEMBERED_SHARDS
        ):
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        key, array = self._shards.popleft()
        self._keys[key] -= 1
        if not self._keys[key]:
            del self._keys[key]
        for fingerprint in array.tolist():
            if self._shard_of.get(fingerprint) == key:
                del self._shard_of[fingerprint]
        self._reports -= len(array)

    def to_document(self) -> dict[str, Any]:
        return {
            "shard_keys": [key for key, _ in self._shards],
            "report_counts": [len(array) for _, array in self._shards],
            "report_fingerprints": _encode_uint64(
                np.concatenate([array for _, array in self._shards])
                if self._shards
                else np.zeros(0, dtype=np.uint64)
            ),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any], capacity_reports: int) -> ObservedMemory:
        memory = cls(capacity_reports)
        keys = [str(key) for key in document["shard_keys"]]
        counts = [int(count) for count in document["report_counts"]]
        fingerprints = _decode_uint64(str(document["report_fingerprints"]))
        if len(keys) != len(counts) or sum(counts) != len(fingerprints):
            raise IncompatibleState("observed-shard memory is inconsistent")
        start = 0
        for key, count in zip(keys, counts, strict=True):
            memory.add(key, fingerprints[start : start + count].tolist())
            start += count
        return memory


@dataclass(frozen=True)
class ProvisionalTheme:
    """A new theme the online detector alerted on, under its provisional id (`new-…`)."""

    theme_id: str
    #: When its first alert went out (None: kept by a state written before this was recorded).
    first_alerted_at: datetime | None
    #: Report ids of its alerts' bursts, oldest first (at most REMEMBERED_PROVISIONAL_MEMBERS).
    members: tuple[str, ...]


@dataclass
class ProvisionalThemes:
    """Provisional ids of new themes alerted on, with the centroid of each one's first alert, when
    that was, and the reports its alerts showed: the recluster job links the theme it later finds
    among those reports to the provisional id (riskradar.theme_identity.link_online_precursors)."""

    ids: list[str] = field(default_factory=list)
    centroids: list[Vectors] = field(default_factory=list)
    first_alerted: list[datetime | None] = field(default_factory=list)
    members: list[list[str]] = field(default_factory=list)

    def name(self, centroid: Vectors, alert_id: str, *, members: Sequence[str], at: datetime) -> str:
        """The provisional id of the theme at `centroid`: an earlier one's if it is close enough,
        else a new id derived from this alert (deterministic: a retried batch names it the same).
        The alert's `members` are added to that theme's."""
        if self.centroids:
            similarity = np.stack(self.centroids) @ centroid
            nearest = int(similarity.argmax())
            if float(similarity[nearest]) >= SAME_PROVISIONAL_THEME:
                self.members[nearest] = _newest_last(self.members[nearest], members)
                return self.ids[nearest]
        theme_id = f"{PROVISIONAL_PREFIX}{hashlib.sha256(alert_id.encode()).hexdigest()[:12]}"
        self.ids.append(theme_id)
        self.centroids.append(np.asarray(centroid, dtype=np.float32))
        self.first_alerted.append(at)
        self.members.append(_newest_last([], members))
        for kept in (self.ids, self.centroids, self.first_alerted, self.members):
            del kept[:-REMEMBERED_PROVISIONAL_THEMES]
        return theme_id

    def themes(self) -> list[ProvisionalTheme]:
        return [
            ProvisionalTheme(theme_id, first, tuple(members))
            for theme_id, first, members in zip(self.ids, self.first_alerted, self.members, strict=True)
        ]

    def to_document(self) -> dict[str, Any]:
        rows = np.stack(self.centroids) if self.centroids else np.zeros((0, 0), dtype=np.float32)
        return {
            "ids": list(self.ids),
            "dimension": int(rows.shape[1]) if len(rows) else 0,
            "centroids": base64.b64encode(np.ascontiguousarray(rows, dtype="<f4").tobytes()).decode(),
            "first_alerted_at": [moment.isoformat() if moment else None for moment in self.first_alerted],
            "members": [list(members) for members in self.members],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ProvisionalThemes:
        """Also reads a document written before first alert times and members were kept (they are
        then unknown and empty)."""
        ids = [str(theme_id) for theme_id in document["ids"]]
        raw = np.frombuffer(base64.b64decode(document["centroids"]), dtype="<f4").astype(np.float32)
        dimension = int(document["dimension"])
        if (not ids and raw.size) or (ids and raw.size != len(ids) * dimension):
            raise IncompatibleState("provisional themes are inconsistent")
        times = document.get("first_alerted_at", [None] * len(ids))
        members = document.get("members", [[] for _ in ids])
        if len(times) != len(ids) or len(members) != len(ids):
            raise IncompatibleState("provisional themes are inconsistent")
        return cls(
            ids,
            list(raw.reshape(len(ids), dimension)) if ids else [],
            [_aware(moment) if moment else None for moment in times],
            [[str(report_id) for report_id in group] for group in members],
        )


def _newest_last(kept: Sequence[str], latest: Sequence[str]) -> list[str]:
    """`kept` then `latest`, each report once at its latest place, trimmed to the newest
    REMEMBERED_PROVISIONAL_MEMBERS."""
    newest = list(dict.fromkeys(latest))
    fresh = set(newest)
    return ([report_id for report_id in kept if report_id not in fresh] + newest)[
        -REMEMBERED_PROVISIONAL_MEMBERS:
    ]


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise IncompatibleState(f"provisional theme time without a time zone: {text!r}")
    return moment


class ProvisionalThemeReader:
    """What the recluster job reads of the online detector's state: its provisional themes.

    Read-only, and forgiving: no state yet, or one this code cannot read, means no provisional
    themes to link (a recluster run never fails for the online detector's sake)."""

    def __init__(self, state_store: StateStore) -> None:
        self._state_store = state_store

    def provisional_themes(self) -> list[ProvisionalTheme]:
        try:
            stored = self._state_store.load()
            if stored is None or stored.document is None:
                return []
            document = stored.document
            if document.get("format") != STATE_FORMAT:
                raise IncompatibleState(f"state format {document.get('format')!r}, expected {STATE_FORMAT}")
            return ProvisionalThemes.from_document(document["provisional_themes"]).themes()
        except (IncompatibleState, KeyError, TypeError, ValueError, ClientError, BotoCoreError) as error:
            # Unreadable, or S3 refused (access, KMS, throttling): this run links nothing.
            logger.warning("the online detector's provisional themes are unreadable: %r", error)
            return []


@dataclass
class OnlineState:
    """Everything NoveltyFunction keeps between batches: one JSON document in S3."""

    detector: NoveltyDetector
    feed: Feed
    memory: ObservedMemory
    provisional: ProvisionalThemes

    @classmethod
    def fresh(cls, feed: Feed, remember_reports: int, config: NoveltyConfig | None = None) -> OnlineState:
        return cls(NoveltyDetector(config), feed, ObservedMemory(remember_reports), ProvisionalThemes())

    def to_document(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "feed": self.feed,
            "detector": self.detector.to_state(),
            "observed": self.memory.to_document(),
            "provisional_themes": self.provisional.to_document(),
        }

    @classmethod
    def from_document(
        cls,
        document: Mapping[str, Any],
        *,
        feed: Feed,
        remember_reports: int,
        config: NoveltyConfig | None = None,
    ) -> tuple[OnlineState, str | None]:
        """The state, and why its detector was started afresh (None: it was not).

        Raises IncompatibleState when the document is of another format or was fed another
        stream: its memory and rates mean nothing here. A detector state the installed
        `riskradar.novelty` cannot read (its encoding changed) costs only the detector: the
        memory of observed shards and the provisional themes are kept.
        """
        if document.get("format") != STATE_FORMAT:
            raise IncompatibleState(f"state format {document.get('format')!r}, expected {STATE_FORMAT}")
        if document.get("feed") != feed:
            raise IncompatibleState(
                f"state was fed {document.get('feed')!r} reports, the setting is {feed!r}"
            )
        try:
            memory = ObservedMemory.from_document(document["observed"], remember_reports)
            provisional = ProvisionalThemes.from_document(document["provisional_themes"])
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleState(f"unreadable state: {error!r}") from error
        try:
            detector = NoveltyDetector.from_state(dict(document["detector"]))
        except (KeyError, TypeError, ValueError) as error:
            reason = f"detector started afresh, its state is unreadable: {error}"
            return cls(NoveltyDetector(config), feed, memory, provisional), reason
        return cls(detector, feed, memory, provisional), None


@dataclass(frozen=True)
class BatchResult:
    shards_observed: int
    shards_skipped: int
    reports_observed: int
    #: Reports of observed shards that had been observed before (from another shard) and were skipped.
    reports_repeated: int
    alerts: tuple[ThemeAlert, ...]
    #: False when the batch changed nothing, so nothing was written.
    saved: bool


@dataclass
class DetectionBatch:
    """One SQS batch: observe notices in order, then `commit` (alerts, then state)."""

    service: OnlineDetectionService
    state: OnlineState
    etag: str | None
    #: Why the state was started afresh on loading (None: it was not).
    reset_reason: str | None
    _pending: list[NoveltyAlert] = field(default_factory=list)
    _shards: dict[str, EmbeddingShard] = field(default_factory=dict)
    _observed: list[tuple[str, int, int]] = field(default_factory=list)
    _skipped: int = 0
    _dirty: bool = False
    #: The detector raised while observing: its in-memory state may be half-updated, never save it.
    _broken: bool = False
    committed: bool = False

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def broken(self) -> bool:
        return self._broken

    def observe(self, notice: ShardNotice) -> NoticeOutcome:
        """Observe one shard. Raises (S3 errors, a missing shard) without changing the state."""
        if self._broken:
            raise RuntimeError("an earlier shard of this batch broke the detector; the batch is retried")
        memory = self.state.memory
        if notice.shard_key in memory:
            self._skipped += 1
            return NoticeOutcome.ALREADY_OBSERVED
        if self.state.feed == "pool" and notice.novelty_pool_reports == 0:
            # Nothing to remember either: a redelivery of it is skipped the same way, unread.
            return NoticeOutcome.NOTHING_TO_OBSERVE
        shard = self.service.shards.read(notice.shard_key)
        self._shards[notice.shard_key] = shard
        rows: list[int] = []
        fingerprints: list[int] = []
        in_this_shard: set[int] = set()
        repeated = 0
        for row, report_id in enumerate(shard.report_ids):
            if self.state.feed == "pool" and shard.theme_ids[row]:
                continue
            fingerprint = report_fingerprint(report_id)
            if memory.seen(fingerprint) or fingerprint in in_this_shard:
                repeated += 1
                continue
            rows.append(row)
            fingerprints.append(fingerprint)
            in_this_shard.add(fingerprint)
        dimension = self.state.detector.dimension
        if shard.vectors.ndim != 2 or (
            dimension is not None and rows and shard.vectors.shape[1] != dimension
        ):
            # Refused before the detector sees it: the batch goes on without this shard.
            raise ValueError(
                f"{notice.shard_key}: vectors of shape {shard.vectors.shape}; the detector's have "
                f"{dimension} dimensions"
            )
        try:
            alerts = self.state.detector.observe(
                shard.vectors[rows],
                [shard.report_ids[row] for row in rows],
                [float(shard.created_at[row]) for row in rows],
            )
        except Exception:
            self._broken = True
            raise
        memory.add(notice.shard_key, fingerprints)
        self._pending.extend(alerts)
        self._observed.append((notice.shard_key, len(rows), repeated))
        self._dirty = True
        return NoticeOutcome.OBSERVED

    def commit(self) -> BatchResult:
        """Send the batch's alerts, then save the state (see the module docstring for why in this
        order). Raises, saving nothing, if the detector broke or a send or the save fails."""
        if self._broken:
            raise RuntimeError("the detector raised during this batch; its state is not saved")
        alerts: list[ThemeAlert] = []
        if self._pending:
            snapshot_version = self.service.snapshots.current_version()
            now = self.service.clock().astimezone(UTC)
            alerts = [self._theme_alert(alert, snapshot_version, now) for alert in self._pending]
            for alert in alerts:
                self.service.alerts.send(
                    alert.model_dump_json(),
                    attributes={
                        "alert_id": alert.alert_id,
                        "source": alert.source,
                        "theme_id": alert.theme_id,
                    },
                )
        saved = False
        if self._dirty:
            self.etag = self.service.state_store.save(self.state.to_document(), replacing=self.etag)
            saved = True
        self.committed = True
        return BatchResult(
            shards_observed=len(self._observed),
            shards_skipped=self._skipped,
            reports_observed=sum(observed for _, observed, _ in self._observed),
            reports_repeated=sum(repeated for _, _, repeated in self._observed),
            alerts=tuple(alerts),
            saved=saved,
        )

    # -- alerts -----------------------------------------------------------------------------------

    def _theme_alert(self, found: NoveltyAlert, snapshot_version: int, now: datetime) -> ThemeAlert:
        members = self._member_rows(found.members)
        texts = [shard.texts[row] if shard.texts else "" for shard, row in members]
        vectors = (
            np.stack([shard.vectors[row] for shard, row in members]).astype(np.float32)
            if members
            else np.zeros((0, len(found.centroid)), dtype=np.float32)
        )
        member_ids = set(found.members)
        background = [
            shard.texts[row]
            for shard in self._shards.values()
            if shard.texts
            for row, report_id in enumerate(shard.report_ids)
            if report_id not in member_ids
        ]
        keywords = class_tfidf_keywords([texts], background=background)[0]
        terms = [term for term, _ in keywords]
        # The burst's reports identify it: the same notices observed again from the same state
        # raise the same burst, hence the same id.
        alert_id = hashlib.sha256(("online|" + "|".join(found.members)).encode()).hexdigest()[:16]
        known = Counter(theme_id for shard, row in members if (theme_id := shard.theme_ids[row]))
        top = known.most_common(1)
        if top and top[0][1] * 2 > len(members):
            theme_id = top[0][0]
        else:
            theme_id = self.state.provisional.name(
                np.asarray(found.centroid, dtype=np.float32), alert_id, members=found.members, at=now
            )
        return ThemeAlert(
            alert_id=alert_id,
            source="online",
            theme_id=theme_id,
            theme_label=label_from_keywords(terms),
            keywords=terms,
            examples=list(nearest_examples(vectors, texts, found.centroid)),
            surprise=round(float(found.surprise), 3),
            observed=int(found.burst_size),
            expected=round(float(found.expected), 3),
            size=int(found.size),
            snapshot_version=snapshot_version,
            detected_at=now,
        )

    def _member_rows(self, report_ids: Sequence[str]) -> list[tuple[EmbeddingShard, int]]:
        """Where each of the burst's reports is: the shards of this batch, else the remembered one
        (read again; alerts are rare). Reports no longer remembered are left out."""
        found: list[tuple[EmbeddingShard, int]] = []
        for report_id in report_ids:
            location = self._find(report_id)
            if location is not None:
                found.append(location)
        return found

    def _find(self, report_id: str) -> tuple[EmbeddingShard, int] | None:
        for shard in self._shards.values():
            if report_id in shard.report_ids:
                return shard, shard.report_ids.index(report_id)
        key = self.state.memory.shard_of(report_id)
        if key is None or key in self._shards:
            return None
        shard = self.service.shards.read(key)
        self._shards[key] = shard
        return (shard, shard.report_ids.index(report_id)) if report_id in shard.report_ids else None


@dataclass
class OnlineDetectionService:
    state_store: StateStore
    shards: ShardReader
    alerts: MessageQueue
    snapshots: SnapshotVersions
    feed: Feed
    remember_reports: int
    clock: Callable[[], datetime]
    #: The configuration of a detector started afresh; None: riskradar.novelty's defaults.
    detector_config: NoveltyConfig | None = None
    #: The state this container saved last, with its ETag: reused while S3 still holds it.
    _warm: tuple[str, OnlineState] | None = field(default=None, init=False, repr=False)

    @contextlib.contextmanager
    def batch(self) -> Iterator[DetectionBatch]:
        """A batch over the current state. A batch that changed the in-memory state and did not
        commit (an exception) drops it, so that the next batch reads the saved one again."""
        batch = self._open()
        try:
            with threadpool_limits(limits=BLAS_THREADS):
                yield batch
        finally:
            if batch.committed and batch.etag is not None:
                self._warm = (batch.etag, batch.state)
            elif batch.dirty or batch.broken:  # broken: the detector may hold half a shard
                self._warm = None

    def _open(self) -> DetectionBatch:
        warm_etag = self._warm[0] if self._warm else None
        stored = self.state_store.load(known_etag=warm_etag)
        if stored is None:
            return DetectionBatch(self, self._fresh(), None, None)
        if stored.document is None and self._warm is not None:
            return DetectionBatch(self, self._warm[1], stored.etag, None)
        try:
            state, reason = OnlineState.from_document(
                stored.document or {},
                feed=self.feed,
                remember_reports=self.remember_reports,
                config=self.detector_config,
            )
        except IncompatibleState as error:
            return DetectionBatch(self, self._fresh(), stored.etag, f"state started afresh: {error}")
        return DetectionBatch(self, state, stored.etag, reason)

    def _fresh(self) -> OnlineState:
        return OnlineState.fresh(self.feed, self.remember_reports, self.detector_config)


def _encode_uint64(values: _Fingerprints) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<u8").tobytes()).decode("ascii")


def _decode_uint64(text: str) -> _Fingerprints:
    decoded: _Fingerprints = np.frombuffer(base64.b64decode(text), dtype="<u8").astype(np.uint64)
    return decoded
