"""Compaction of the embedding shards, so that an hourly recluster reads a few objects a day instead
of one per triaged batch.

Triage writes one shard per batch and day (`embeddings/dt=<day>/<id>.npz`): at a million reports a
month, 10,000 shards in a 30-day window in full batches of 100, and many more when batches are
small (quiet hours: the 5-second batching window closes on a few reports). The recluster job, which
has just read them all, writes a day's objects as one *compacted shard* beside them,
`embeddings/dt=<day>/compacted-<sequence>-<id>.npz`, holding each report once and the keys of
everything it replaces. Readers read a day's compacted shards newest (highest sequence) first and
skip every key a compacted shard they read replaces.

When (`days_to_compact`): a day that has been over for the job's settle time (an hour), as soon as
it is read from more than one object (the compacted shard is *sealed*; within the settle time the
day waits, to be sealed in one rewrite); the current day, and a sealed day that late shards arrive
for (a redriven batch, a backdated report), once `RECOMPACT_AFTER` objects gathered besides its
compacted shard — each compaction rewrites the whole day, so it is not done for every shard. The
job compacts a few days a run (`riskradar.recluster.COMPACTION_DAYS_PER_RUN`), oldest first.

No function deletes a triage shard: the online detector reads them by key for weeks. Every shard,
triage's and compacted, expires after the retention period (`ReportRetentionDays`, an S3 lifecycle
rule counting from when the shard was written), which template.yaml keeps longer than any recluster
window plus the 14 days a shard notice can wait in SQS: a shard in a window is never an expired one.
A compacted shard that a newer one replaces is deleted at once (only the recluster job reads
compacted shards, one run at a time). Every reader of a window deduplicates by report id, so a key
read twice (a run stopped between its writes, a deletion that failed) costs a GET, never a report
counted twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
import numpy.typing as npt

from riskradar.adapters.s3 import EmbeddingShard, ReportFacts, compacted_sequence

__all__ = [
    "RECOMPACT_AFTER",
    "CompactedDay",
    "DayShards",
    "ShardSource",
    "compacted_sequence",
    "days_to_compact",
    "latest_copies",
    "merge_day",
    "read_day",
]


@dataclass(frozen=True)
class DayShards:
    """What a reader read of one day: each object read, by key, in reading order."""

    day: date
    read: tuple[tuple[str, EmbeddingShard], ...]
    #: The highest sequence among the day's compacted shards (0: none yet).
    last_sequence: int
    #: The newest compacted shard read was written after the day was over.
    sealed: bool = False
    #: Every compacted shard the day's listing held (what a new compacted shard supersedes).
    compacted_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompactedDay:
    day: date
    key: str
    reports: int
    #: Objects it replaces that a reader would otherwise have read.
    replaced: int


class ShardSource(Protocol):
    def read(self, key: str) -> EmbeddingShard: ...

    def read_if_present(self, key: str) -> EmbeddingShard | None: ...


def read_day(day: date, keys: Sequence[str], shards: ShardSource) -> DayShards:
    """Read one day's objects: its compacted shards newest first, then every key none of those
    replaces (shards written since, and compacted shards written by a concurrent run). A compacted
    shard gone since the listing (deleted by a concurrent run that superseded it) is skipped: no
    function deletes the triage shards it held, and none in a window has expired yet, so they are
    read instead."""
    sequences = {key: compacted_sequence(key) for key in keys}
    compacted = sorted((key for key in keys if sequences[key] is not None), key=lambda k: (sequences[k], k))
    replaced: set[str] = set()
    done: list[tuple[str, EmbeddingShard]] = []
    for key in [*reversed(compacted), *(key for key in keys if sequences[key] is None)]:
        if key in replaced:
            continue
        shard = shards.read(key) if sequences[key] is None else shards.read_if_present(key)
        if shard is None:
            continue
        replaced.update(shard.replaces)
        done.append((key, shard))
    last = max((sequences[key] or 0 for key in compacted), default=0)
    newest = next((shard for key, shard in done if sequences[key] is not None), None)
    return DayShards(
        day, tuple(done), last, sealed=newest is not None and newest.sealed, compacted_keys=tuple(compacted)
    )


#: Objects a day may gather besides its compacted shard before it is compacted (again): each
#: compaction rewrites the whole day, so the current day and late shards of a sealed one are read as
#: they are for a while. A day that is over is sealed as soon as it has more than one object.
RECOMPACT_AFTER = 10


def days_to_compact(
    days: Iterable[DayShards],
    *,
    first_full_day: date,
    closed_before: date,
    today: date,
    recompact_after: int = RECOMPACT_AFTER,
) -> list[DayShards]:
    """The days worth compacting, oldest first, of those wholly inside the window (from
    `first_full_day`): a day that is over (before `closed_before`) and not sealed yet, read from
    more than one object; the current day (`today`) and sealed days, read from more than
    `recompact_after` besides the compacted shard. A day that is over but may still get shards (from
    `closed_before` to `today`) waits, so that it is sealed in one rewrite."""

    def worth_it(day: DayShards) -> bool:
        if day.day < closed_before and not day.sealed:
            return len(day.read) > 1
        if closed_before <= day.day < today:
            return False
        return len(day.read) > recompact_after

    return sorted(
        (day for day in days if day.day >= first_full_day and worth_it(day)), key=lambda day: day.day
    )


def latest_copies(
    shards: Sequence[EmbeddingShard],
    *,
    day: date,
    keep: Callable[[EmbeddingShard], npt.NDArray[np.bool_]] | None = None,
) -> EmbeddingShard:
    """Every report of `shards` once, as one shard of `day`: the copy in the last shard that holds
    it (of the rows `keep` selects, if given), grouped by the shard it came from."""
    location: dict[str, tuple[int, int]] = {}
    for part, shard in enumerate(shards):
        rows = range(len(shard.report_ids)) if keep is None else np.flatnonzero(keep(shard)).tolist()
        for row in rows:
            location[shard.report_ids[row]] = (part, row)
    kept: list[list[int]] = [[] for _ in shards]
    for part, row in location.values():
        kept[part].append(row)
    taken = [
        (shard, np.array(sorted(rows), dtype=np.int64))
        for shard, rows in zip(shards, kept, strict=True)
        if rows
    ]
    if not taken:
        return EmbeddingShard(
            day, (), (), np.zeros(0), np.zeros((0, 0), dtype=np.float32), (), ReportFacts.unknown(0)
        )
    return EmbeddingShard(
        day=day,
        report_ids=tuple(shard.report_ids[r] for shard, rows in taken for r in rows.tolist()),
        theme_ids=tuple(shard.theme_ids[r] for shard, rows in taken for r in rows.tolist()),
        created_at=np.concatenate([shard.created_at[rows] for shard, rows in taken]).astype(np.float64),
        vectors=np.concatenate([shard.vectors[rows] for shard, rows in taken]).astype(np.float32),
        # Shards written before they carried texts give "".
        texts=tuple(shard.texts[r] if shard.texts else "" for shard, rows in taken for r in rows.tolist()),
        facts=ReportFacts.concatenate(
            [(shard.facts or ReportFacts.unknown(len(shard.report_ids))).take(rows) for shard, rows in taken]
        ),
    )


def merge_day(day: DayShards, *, sealed: bool) -> EmbeddingShard:
    """One shard holding every report of the day once (the copy read last: a shard written after a
    compaction wins over it) and the keys of every object it replaces; `sealed`: the day is over."""
    replaces = {key for key, _ in day.read}
    for _, shard in day.read:
        replaces.update(shard.replaces)
    merged = latest_copies([shard for _, shard in day.read], day=day.day)
    return dataclasses.replace(merged, replaces=tuple(sorted(replaces)), sealed=sealed)
