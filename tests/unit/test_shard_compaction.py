"""Daily shard compaction, on shards held in a dict: which objects a reader reads, which days are
compacted, and what a compacted shard holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from riskradar.adapters.s3 import EmbeddingShard, ReportFacts
from riskradar.shard_compaction import (
    RECOMPACT_AFTER,
    DayShards,
    compacted_sequence,
    days_to_compact,
    merge_day,
    read_day,
)

DAY = date(2026, 11, 20)


def shard(
    ids: str, *, offset: float = 0.0, replaces: tuple[str, ...] = (), texts: bool = True
) -> EmbeddingShard:
    """One row per character of `ids`; a report's vector and time encode its id (plus `offset`)."""
    n = len(ids)
    return EmbeddingShard(
        day=DAY,
        report_ids=tuple(ids),
        theme_ids=tuple(f"thm-{c}" for c in ids),
        created_at=np.array([ord(c) + offset for c in ids], dtype=np.float64),
        vectors=np.array([[ord(c) + offset, 1.0] for c in ids], dtype=np.float32),
        texts=tuple(f"text {c}{offset:g}" for c in ids) if texts else (),
        facts=ReportFacts(
            businesses=tuple(f"biz-{c}" for c in ids),
            reporter_roles=("user",) * n,
            reporter_hashes=tuple(f"r-{c}" for c in ids),
            subject_types=("",) * n,
            subject_hashes=("",) * n,
            amounts_usd=np.array([float(ord(c)) for c in ids]),
        ),
        replaces=replaces,
    )


def key(name: str) -> str:
    return f"embeddings/dt={DAY.isoformat()}/{name}.npz"


def compacted_key(sequence: int, suffix: str = "ab12") -> str:
    return key(f"compacted-{sequence:06d}-{suffix}")


class Bucket:
    """Shards by key, recording the keys read."""

    def __init__(self, objects: dict[str, EmbeddingShard]) -> None:
        self.objects = objects
        self.reads: list[str] = []

    def read(self, key: str) -> EmbeddingShard:
        self.reads.append(key)
        return self.objects[key]

    def read_if_present(self, key: str) -> EmbeddingShard | None:
        return self.read(key) if key in self.objects else None


def test_compacted_keys_carry_their_sequence_and_triage_keys_none() -> None:
    assert compacted_sequence(compacted_key(12)) == 12
    assert compacted_sequence(key("0f3a9c")) is None
    # A triage shard id that happens to start with the word is not a compacted shard.
    assert compacted_sequence(key("compacted")) is None


def test_a_day_without_compaction_reads_every_shard() -> None:
    bucket = Bucket({key("s1"): shard("ab"), key("s2"): shard("cd")})

    day = read_day(DAY, [key("s1"), key("s2")], bucket)

    assert bucket.reads == [key("s1"), key("s2")]
    assert day.last_sequence == 0


def test_a_compacted_day_reads_the_newest_compacted_shard_and_what_came_after_it() -> None:
    replaced_once = (key("s1"), key("s2"))
    bucket = Bucket(
        {
            key("s1"): shard("ab"),
            key("s2"): shard("cd"),
            compacted_key(1): shard("abcd", replaces=replaced_once),
            key("s3"): shard("e"),  # written after the first compaction
            compacted_key(2): shard("abcde", replaces=(*replaced_once, compacted_key(1), key("s3"))),
            key("s4"): shard("f"),  # written after the second
        }
    )
    listing = [compacted_key(1), compacted_key(2), key("s1"), key("s2"), key("s3"), key("s4")]

    day = read_day(DAY, listing, bucket)

    assert bucket.reads == [compacted_key(2), key("s4")]
    assert day.last_sequence == 2
    # Both compacted shards are superseded by the next one: the listing names them.
    assert set(day.compacted_keys) == {compacted_key(1), compacted_key(2)}
    assert [k for k, _ in day.read] == [compacted_key(2), key("s4")]


def test_a_compacted_shard_gone_since_the_listing_is_skipped_and_its_shards_read() -> None:
    # A concurrent run superseded it and deleted it between our listing and our read.
    bucket = Bucket({key("s1"): shard("ab"), key("s2"): shard("c")})

    day = read_day(DAY, [compacted_key(1), key("s1"), key("s2")], bucket)

    assert [k for k, _ in day.read] == [key("s1"), key("s2")]
    assert day.last_sequence == 1


def test_two_compacted_shards_of_one_sequence_are_both_read() -> None:
    # Two runs compacted the day at once: neither names the other, so both are read (the window
    # reader keeps each report once); the next compaction replaces both.
    bucket = Bucket(
        {
            key("s1"): shard("ab"),
            compacted_key(1, "aa"): shard("ab", replaces=(key("s1"),)),
            compacted_key(1, "bb"): shard("ab", replaces=(key("s1"),)),
        }
    )

    day = read_day(DAY, list(bucket.objects), bucket)

    assert sorted(bucket.reads) == [compacted_key(1, "aa"), compacted_key(1, "bb")]
    merged = merge_day(day, sealed=True)
    assert merged.report_ids == ("a", "b")
    assert set(merged.replaces) == {key("s1"), compacted_key(1, "aa"), compacted_key(1, "bb")}


def test_merging_keeps_each_report_once_the_copy_read_last_with_all_its_columns() -> None:
    day = DayShards(
        DAY,
        (
            (key("s1"), shard("abc")),
            (key("s2"), shard("cd", offset=0.5)),  # a later copy of c
            (key("s3"), shard("e", texts=False)),  # written before shards carried texts
        ),
        last_sequence=0,
    )

    merged = merge_day(day, sealed=True)

    rows = {report_id: i for i, report_id in enumerate(merged.report_ids)}
    assert sorted(rows) == ["a", "b", "c", "d", "e"]
    assert len(merged.report_ids) == 5
    assert merged.created_at[rows["c"]] == ord("c") + 0.5
    assert merged.vectors[rows["c"]].tolist() == [ord("c") + 0.5, 1.0]
    assert merged.texts[rows["c"]] == "text c0.5"
    assert merged.texts[rows["e"]] == ""
    assert merged.theme_ids[rows["d"]] == "thm-d"
    assert merged.facts is not None
    assert merged.facts.businesses[rows["d"]] == "biz-d"
    assert merged.facts.amounts_usd[rows["a"]] == ord("a")
    assert merged.replaces == (key("s1"), key("s2"), key("s3"))
    for report_id, row in rows.items():  # every column stays aligned with the ids
        assert merged.facts.reporter_hashes[row] == f"r-{report_id}"


def test_a_merge_names_what_the_compacted_shards_it_read_replaced() -> None:
    day = DayShards(
        DAY,
        ((compacted_key(1), shard("ab", replaces=(key("s1"), key("s2")))), (key("s3"), shard("c"))),
        last_sequence=1,
    )

    assert merge_day(day, sealed=False).replaces == tuple(
        sorted((compacted_key(1), key("s1"), key("s2"), key("s3")))
    )


def test_a_day_read_from_a_sealed_compacted_shard_says_so() -> None:
    for sealed in (False, True):
        bucket = Bucket({compacted_key(1): replace(shard("ab", replaces=(key("s1"),)), sealed=sealed)})

        assert read_day(DAY, [key("s1"), compacted_key(1)], bucket).sealed is sealed
    assert merge_day(DayShards(DAY, ((key("s1"), shard("a")),), 0), sealed=True).sealed


@pytest.mark.parametrize(
    ("day", "sealed", "others", "today", "due"),
    [
        (date(2026, 11, 10), False, 1, date(2026, 11, 20), True),  # over, not sealed: one more object
        (date(2026, 11, 10), False, 0, date(2026, 11, 20), False),  # already one object
        (date(2026, 11, 10), True, RECOMPACT_AFTER - 1, date(2026, 11, 20), False),  # sealed: late
        (date(2026, 11, 10), True, RECOMPACT_AFTER, date(2026, 11, 20), True),  # shards wait
        (date(2026, 11, 20), False, RECOMPACT_AFTER - 1, date(2026, 11, 20), False),  # the current day
        (date(2026, 11, 20), False, RECOMPACT_AFTER, date(2026, 11, 20), True),  # waits for enough
        # Over, but within the settle time (the run is at 00:30 on the 21st): it waits, to be sealed
        # in one rewrite after it, however many shards it holds.
        (date(2026, 11, 20), False, RECOMPACT_AFTER, date(2026, 11, 21), False),
        (date(2026, 11, 9), False, 5, date(2026, 11, 20), False),  # the window's first day, partly outside it
    ],
)
def test_days_to_compact(day: date, sealed: bool, others: int, today: date, due: bool) -> None:
    compacted = (compacted_key(1), replace(shard("ab", replaces=(key("s1"),)), sealed=sealed))
    late = [(key(f"late{i}"), shard("c")) for i in range(others)]
    chosen = days_to_compact(
        [DayShards(day, (compacted, *late), 1, sealed=sealed)],
        first_full_day=date(2026, 11, 10),
        closed_before=date(2026, 11, 20),
        today=today,
    )

    assert bool(chosen) is due


def test_days_to_compact_come_oldest_first() -> None:
    two = ((key("s1"), shard("a")), (key("s2"), shard("b")))
    days = [DayShards(date(2026, 11, d), two, 0) for d in (15, 11, 13)]

    chosen = days_to_compact(
        days, first_full_day=date(2026, 11, 10), closed_before=date(2026, 11, 20), today=date(2026, 11, 20)
    )

    assert [day.day.day for day in chosen] == [11, 13, 15]
