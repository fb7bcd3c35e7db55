"""Daily compaction of the embedding shards, so that an hourly recluster reads a few objects a day
instead of one per triaged batch.

Triage writes one shard per batch and day (`embeddings/dt=<day>/<id>.npz`); at a million reports a
month that is some 10,000 shards in a 30-day window, read one GET after the other every hour. Once
a day is over, the recluster job (which has just read all of its shards) writes them as one
*compacted shard* beside them, `embeddings/dt=<day>/compacted-<sequence>-<id>.npz`, holding each
report once and the keys of everything it replaces. Readers read a day's compacted shards first,
newest (highest sequence) first, and skip every key a compacted shard they read replaces.

Nothing is deleted: the online detector reads shards by key for weeks after they were written, and
every reader of a window deduplicates by report id, so a key read twice (two runs compacting the
same day at once, a run stopped between writes) costs a GET, never a report counted twice. A shard
that arrives for a day after it was compacted (a redriven batch of old reports) is read as usual
and folded in once a few have gathered (`RECOMPACT_AFTER`): the next sequence replaces the
previous compacted shard too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from riskradar.adapters.s3 import EmbeddingShard, ReportFacts

__all__ = [
    "RECOMPACT_AFTER",
    "CompactedDay",
    "DayShards",
    "compacted_sequence",
    "days_to_compact",
    "merge_day",
    "read_day",
]

_COMPACTED_NAME = re.compile(r"/compacted-(\d+)-[0-9a-f]+\.npz$")


def compacted_sequence(key: str) -> int | None:
    """The sequence of a compacted shard's key; None for a shard triage wrote."""
    found = _COMPACTED_NAME.search(key)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class DayShards:
    """What a reader read of one day: each object read, by key, in reading order."""

    day: date
    read: tuple[tuple[str, EmbeddingShard], ...]
    #: The highest sequence among the day's compacted shards (0: none yet).
    last_sequence: int


@dataclass(frozen=True)
class CompactedDay:
    day: date
    key: str
    reports: int
    #: Objects it replaces that a reader would otherwise have read.
    replaced: int


def read_day(day: date, keys: Sequence[str], read: Callable[[str], EmbeddingShard]) -> DayShards:
    """Read one day's objects: its compacted shards newest first, then every key none of those
    replaces (shards written since, and compacted shards written by a concurrent run)."""
    sequences = {key: compacted_sequence(key) for key in keys}
    compacted = sorted((key for key in keys if sequences[key] is not None), key=lambda k: (sequences[k], k))
    replaced: set[str] = set()
    done: list[tuple[str, EmbeddingShard]] = []
    for key in [*reversed(compacted), *(key for key in keys if sequences[key] is None)]:
        if key in replaced:
            continue
        shard = read(key)
        replaced.update(shard.replaces)
        done.append((key, shard))
    last = max((sequences[key] or 0 for key in compacted), default=0)
    return DayShards(day, tuple(done), last)


#: A day already compacted is compacted again once this many objects are read besides its compacted
#: shard: each compaction rewrites the whole day (and the old copy stays), so a few late shards are
#: read as they are rather than rewriting the day for each.
RECOMPACT_AFTER = 10


def days_to_compact(
    days: Iterable[DayShards],
    *,
    first_full_day: date,
    closed_before: date,
    recompact_after: int = RECOMPACT_AFTER,
) -> list[DayShards]:
    """The days worth compacting: over (`closed_before` is the first day that may still grow), wholly
    inside the window (from `first_full_day`), and read from several objects — from
    `recompact_after` more than its compacted shard, once it has one."""

    def worth_it(day: DayShards) -> bool:
        return len(day.read) > (1 if day.last_sequence == 0 else recompact_after)

    return [day for day in days if first_full_day <= day.day < closed_before and worth_it(day)]


def merge_day(day: DayShards) -> EmbeddingShard:
    """One shard holding every report of the day once (the copy read last: a shard written after a
    compaction wins over it) and the keys of every object it replaces."""
    location: dict[str, tuple[int, int]] = {}
    for part, (_, shard) in enumerate(day.read):
        for row, report_id in enumerate(shard.report_ids):
            location[report_id] = (part, row)
    kept: list[list[int]] = [[] for _ in day.read]
    for part, row in location.values():
        kept[part].append(row)
    shards = [shard for _, shard in day.read]
    taken = [
        (shard, np.array(sorted(rows), dtype=np.int64)) for shard, rows in zip(shards, kept, strict=True)
    ]
    taken = [(shard, rows) for shard, rows in taken if len(rows)]
    replaces = {key for key, _ in day.read}
    for shard in shards:
        replaces.update(shard.replaces)
    return EmbeddingShard(
        day=day.day,
        report_ids=tuple(shard.report_ids[r] for shard, rows in taken for r in rows.tolist()),
        theme_ids=tuple(shard.theme_ids[r] for shard, rows in taken for r in rows.tolist()),
        created_at=np.concatenate([shard.created_at[rows] for shard, rows in taken]).astype(np.float64),
        vectors=np.concatenate([shard.vectors[rows] for shard, rows in taken]).astype(np.float32),
        # Shards written before they carried texts give "" (as the window reader does).
        texts=tuple(shard.texts[r] if shard.texts else "" for shard, rows in taken for r in rows.tolist()),
        facts=ReportFacts.concatenate(
            [(shard.facts or ReportFacts.unknown(len(shard.report_ids))).take(rows) for shard, rows in taken]
        ),
        replaces=tuple(sorted(replaces)),
    )
