"""A synthetic report stream for the online detection tests: known topics around fixed centres in
embedding space, and a tight new topic that appears when a test says so."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from riskradar.adapters.s3 import EmbeddingShard
from riskradar.models import ShardNotice
from riskradar.themes import normalize_rows

DIMENSION = 384
KNOWN_TOPICS = 20
#: Known topics' texts: each topic has words of its own, all share the filler.
TOPIC_WORDS = [
    ("refund", "delayed", "blender"),
    ("parcel", "missing", "locker"),
    ("seller", "rude", "chat"),
    ("coupon", "expired", "checkout"),
    ("stream", "frozen", "audio"),
    ("payout", "pending", "bank"),
    ("listing", "removed", "photos"),
    ("account", "locked", "password"),
    ("wrong", "size", "shoes"),
    ("broken", "screen", "phone"),
    ("double", "charged", "subscription"),
    ("review", "deleted", "stars"),
    ("shipping", "cost", "high"),
    ("tracking", "number", "invalid"),
    ("counterfeit", "bag", "logo"),
    ("ad", "rejected", "policy"),
    ("creator", "badge", "verification"),
    ("return", "label", "printer"),
    ("voucher", "balance", "gone"),
    ("live", "auction", "bid"),
]
NEW_TOPIC_TEXTS = (
    "courier called and asked for a customs fee paid in gift cards before delivering my parcel",
    "a courier wants a customs fee in gift cards or the parcel goes back",
    "paid a customs fee with gift cards to a courier who never delivered",
    "fake courier asking customs fee gift card codes by text",
)


def topic_text(topic: int, serial: int) -> str:
    first, second, third = TOPIC_WORDS[topic]
    return f"hello, {first} {second} problem with my {third}, please help (case {serial})"


@dataclass
class Stream:
    """Synthetic reports: known topics around fixed centres, one tight new topic, in shards."""

    seed: int = 7
    next_serial: int = 0
    next_time: float = 1_790_000_000.0
    centres: np.ndarray = field(init=False)
    rng: np.random.Generator = field(init=False)
    shards: dict[str, EmbeddingShard] = field(default_factory=dict)
    topic_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.centres = normalize_rows(self.rng.normal(size=(KNOWN_TOPICS + 1, DIMENSION))).astype(np.float32)

    @property
    def new_topic(self) -> int:
        return KNOWN_TOPICS

    def shard(
        self,
        topics: Sequence[int],
        *,
        pool_known: bool = False,
        write: Callable[[EmbeddingShard], str] | None = None,
    ) -> ShardNotice:
        """A shard of reports of `topics` (in that order), kept in `shards` or written by `write`
        (which returns its key), and its notice. Known topics are assigned their theme at triage
        unless `pool_known`; the new topic never is."""
        ids = tuple(f"rep-{self.next_serial + i:06d}" for i in range(len(topics)))
        noise = 0.025 * self.rng.normal(size=(len(topics), DIMENSION))
        vectors = normalize_rows(self.centres[list(topics)] + noise).astype(np.float32)
        texts = tuple(
            NEW_TOPIC_TEXTS[(self.next_serial + i) % len(NEW_TOPIC_TEXTS)]
            if topic == self.new_topic
            else topic_text(topic, self.next_serial + i)
            for i, topic in enumerate(topics)
        )
        theme_ids = tuple(
            "" if topic == self.new_topic or pool_known else f"thm-{topic:02d}" for topic in topics
        )
        times = self.next_time + 60.0 * np.arange(len(topics))
        self.next_serial += len(topics)
        self.next_time += 60.0 * len(topics)
        shard = EmbeddingShard(
            day=date(2026, 11, 24),
            report_ids=ids,
            theme_ids=theme_ids,
            created_at=times,
            vectors=vectors,
            texts=texts,
        )
        if write is None:
            key = f"embeddings/dt=2026-11-24/{hashlib.sha256(ids[0].encode()).hexdigest()[:32]}.npz"
            self.shards[key] = shard
        else:
            key = write(shard)
        self.topic_of.update(zip(ids, topics, strict=True))
        return ShardNotice(
            shard_key=key,
            reports=len(ids),
            novelty_pool_reports=sum(1 for theme_id in theme_ids if not theme_id),
            written_at=datetime.fromtimestamp(float(times[-1]), UTC),
        )

    def background(self, count: int, *, extra: Sequence[int] = ()) -> list[int]:
        topics = [int(t) for t in self.rng.integers(0, KNOWN_TOPICS, count)] + list(extra)
        self.rng.shuffle(topics)
        return topics

    def read(self, key: str) -> EmbeddingShard:
        return self.shards[key]
