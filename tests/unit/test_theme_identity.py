"""Theme identities across recluster runs, on hand-made clusters of unit vectors and report ids."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from riskradar.theme_identity import (
    ClusterIdentity,
    IdentityResult,
    MatchRules,
    carry_online_precursors,
    link_online_precursors,
    match_themes,
    mint_theme_id,
)
from riskradar.themes import (
    LineageEvent,
    OnlinePrecursor,
    SnapshotManifest,
    ThemeInfo,
    ThemeSnapshot,
    Vectors,
    normalize_rows,
)

DIMENSION = 8
AXES = np.eye(DIMENSION, dtype=np.float32)
BEFORE = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 2, tzinfo=UTC)
MINTED = re.compile(r"^thm-[0-9a-f]{8}$")


def direction(*weights: tuple[int, float]) -> Vectors:
    """A unit vector from (axis, weight) pairs."""
    vector = np.zeros((1, DIMENSION), dtype=np.float32)
    for axis, weight in weights:
        vector[0, axis] = weight
    return normalize_rows(vector).reshape(DIMENSION)


def random_direction(rng: np.random.Generator) -> Vectors:
    return normalize_rows(rng.normal(size=(1, DIMENSION)).astype(np.float32)).reshape(DIMENSION)


def reports(prefix: str, count: int, start: int = 0) -> list[str]:
    return [f"{prefix}{number:03d}" for number in range(start, start + count)]


def theme(theme_id: str, **fields: object) -> ThemeInfo:
    return ThemeInfo.model_validate({"theme_id": theme_id, "label": f"auto {theme_id}", **fields})


def snapshot(
    themes: Sequence[ThemeInfo], axes: Sequence[int], dormant: Sequence[ThemeInfo] = ()
) -> ThemeSnapshot:
    return ThemeSnapshot(1, BEFORE, tuple(themes), AXES[list(axes)], dormant=tuple(dormant))


# The previous run: four themes on axes 0-3 with 100, 60, 40 and 30 member reports.
CARDS, SUPPORT, PARCELS, GIFTS = "thm-cards", "thm-support", "thm-parcels", "thm-gifts"
PREVIOUS_MEMBERS = {
    CARDS: reports("card-", 100),
    SUPPORT: reports("support-", 60),
    PARCELS: reports("parcel-", 40),
    GIFTS: reports("gift-", 30),
}


def previous_snapshot(**overrides: ThemeInfo) -> ThemeSnapshot:
    themes = [overrides.get(theme_id, theme(theme_id)) for theme_id in (CARDS, SUPPORT, PARCELS, GIFTS)]
    return snapshot(themes, axes=[0, 1, 2, 3])


def run(
    clusters: Sequence[tuple[np.ndarray, Sequence[str]]],
    previous: ThemeSnapshot | None = None,
    members: dict[str, list[str]] | None = None,
    **options: object,
) -> IdentityResult:
    centroids = np.array([centroid for centroid, _ in clusters], dtype=np.float32).reshape(-1, DIMENSION)
    return match_themes(
        previous if previous is not None else previous_snapshot(),
        members if members is not None else PREVIOUS_MEMBERS,
        centroids,
        [list(ids) for _, ids in clusters],
        version=2,
        now=NOW,
        **options,  # type: ignore[arg-type]
    )


def steady(theme_id: str) -> tuple[np.ndarray, list[str]]:
    """The theme again, unchanged: same centroid, same reports."""
    axis = [CARDS, SUPPORT, PARCELS, GIFTS].index(theme_id)
    return AXES[axis], PREVIOUS_MEMBERS[theme_id]


def lineage_of(identity: ClusterIdentity) -> tuple[LineageEvent, tuple[str, ...]]:
    return identity.lineage.event, tuple(parent.theme_id for parent in identity.lineage.parents)


# ------------------------------------------------------------------------------------- continued


def test_a_theme_that_drifts_a_little_and_swaps_5_percent_of_its_reports_keeps_its_id() -> None:
    drifted = direction((0, 1.0), (5, 0.15))  # cosine 0.99 to the old centroid
    cards = reports("card-", 95, start=5) + reports("new-card-", 5)
    result = run([steady(SUPPORT), (drifted, cards), steady(PARCELS), steady(GIFTS)])

    assert result.theme_ids == (SUPPORT, CARDS, PARCELS, GIFTS)
    identity = result.clusters[1]
    assert lineage_of(identity) == (LineageEvent.CONTINUED, (CARDS,))
    assert identity.lineage.parents[0].shared_reports == 95
    assert identity.lineage.parents[0].share_of_parent == 1.0  # the 5 gone are in no cluster now
    assert identity.lineage.version == 2
    assert not identity.lineage.by_centroid
    assert result.previous[CARDS].event is LineageEvent.CONTINUED
    assert result.dormant == ()


def test_first_seen_stays_with_the_id_and_last_seen_is_the_run() -> None:
    first = datetime(2026, 9, 1, tzinfo=UTC)
    previous = previous_snapshot(**{CARDS: theme(CARDS, first_seen=first)})
    result = run([steady(CARDS), steady(SUPPORT), steady(PARCELS), steady(GIFTS)], previous)

    info = result.clusters[0].theme_info(label="card, stolen", size=100)
    assert (info.first_seen, info.last_seen) == (first, NOW)
    assert result.clusters[1].first_seen == BEFORE  # no first_seen recorded: the snapshot's time


# ------------------------------------------------------------------------------------------ born


def test_a_cluster_of_new_reports_far_from_every_theme_is_born_with_a_new_id() -> None:
    result = run([*map(steady, (CARDS, SUPPORT, PARCELS, GIFTS)), (AXES[6], reports("crypto-", 25))])

    born = result.clusters[4]
    assert MINTED.match(born.theme_id)
    assert born.theme_id not in PREVIOUS_MEMBERS
    assert lineage_of(born) == (LineageEvent.BORN, ())
    assert (born.strategist_label, born.verdict, born.first_seen) == (None, None, NOW)


def test_a_cluster_with_the_reports_of_a_theme_but_a_distant_centroid_is_not_that_theme() -> None:
    far = direction((0, 0.3), (6, 1.0))  # cosine 0.29 to the cards centroid
    result = run([(far, PREVIOUS_MEMBERS[CARDS]), steady(SUPPORT), steady(PARCELS), steady(GIFTS)])

    assert result.clusters[0].lineage.event is LineageEvent.BORN
    assert result.previous[CARDS].event is LineageEvent.DORMANT


# ---------------------------------------------------------------------------------------- merged


def test_two_themes_merged_into_one_keep_the_id_of_the_one_that_brought_most_reports() -> None:
    merged = direction((0, 1.0), (1, 0.8))
    result = run(
        [(merged, PREVIOUS_MEMBERS[CARDS] + PREVIOUS_MEMBERS[SUPPORT]), steady(PARCELS), steady(GIFTS)]
    )

    identity = result.clusters[0]
    assert identity.theme_id == CARDS
    assert lineage_of(identity) == (LineageEvent.MERGED, (CARDS, SUPPORT))
    assert [parent.shared_reports for parent in identity.lineage.parents] == [100, 60]
    assert result.previous[SUPPORT].event is LineageEvent.MERGED
    assert result.previous[SUPPORT].successors == (CARDS,)
    assert result.previous[CARDS].event is LineageEvent.MERGED
    assert SUPPORT not in result.theme_ids
    assert result.dormant == ()


# ----------------------------------------------------------------------------------------- split


def split_cards() -> list[tuple[np.ndarray, list[str]]]:
    """Cards splits 60 / 40: the smaller child happens to sit closer to the old centroid."""
    larger = direction((0, 1.0), (5, 0.6))  # cosine 0.86
    smaller = direction((0, 1.0), (6, -0.3))  # cosine 0.96
    cards = PREVIOUS_MEMBERS[CARDS]
    return [(smaller, cards[60:] + reports("new-", 10)), (larger, cards[:60])]


def test_a_split_theme_keeps_its_id_on_the_child_with_most_of_its_reports() -> None:
    result = run([*split_cards(), steady(SUPPORT), steady(PARCELS), steady(GIFTS)])

    smaller, larger = result.clusters[:2]
    assert larger.theme_id == CARDS
    assert MINTED.match(smaller.theme_id)
    assert lineage_of(larger) == lineage_of(smaller) == (LineageEvent.SPLIT, (CARDS,))
    assert smaller.lineage.parents[0].share_of_parent == 0.4
    assert result.previous[CARDS].event is LineageEvent.SPLIT
    assert result.previous[CARDS].successors == (CARDS, smaller.theme_id)


def test_a_few_reports_wandering_into_a_new_cluster_is_not_a_split() -> None:
    wanderers = PREVIOUS_MEMBERS[CARDS][:5]  # 5 % of cards, below the 20 % a split child needs
    rest = PREVIOUS_MEMBERS[CARDS][5:]
    result = run(
        [(AXES[0], rest), (AXES[6], wanderers + reports("crypto-", 40)), steady(SUPPORT), steady(PARCELS)],
    )
    assert lineage_of(result.clusters[0]) == (LineageEvent.CONTINUED, (CARDS,))
    assert result.clusters[1].lineage.event is LineageEvent.BORN


# --------------------------------------------------------------------------------------- dormant


def test_a_theme_with_no_successor_goes_dormant_with_its_name_and_verdict() -> None:
    named = theme(GIFTS, label="Gift card scams", named_by_strategist=True, verdict="fraud", last_seen=BEFORE)
    result = run([steady(CARDS), steady(SUPPORT), steady(PARCELS)], previous_snapshot(**{GIFTS: named}))

    assert GIFTS not in result.theme_ids
    assert result.previous[GIFTS].event is LineageEvent.DORMANT
    [dormant] = result.dormant
    assert (dormant.theme_id, dormant.label, dormant.verdict, dormant.last_seen) == (
        GIFTS,
        "Gift card scams",
        "fraud",
        BEFORE,
    )
    assert dormant.lineage is not None
    assert dormant.lineage.event is LineageEvent.DORMANT


def test_dormant_themes_are_carried_until_their_retention_runs_out() -> None:
    recent = theme("thm-recent", last_seen=NOW - timedelta(days=10))
    stale = theme("thm-stale", last_seen=NOW - timedelta(days=400))
    previous = snapshot([theme(CARDS)], axes=[0], dormant=[recent, stale])
    members = {CARDS: PREVIOUS_MEMBERS[CARDS]}

    kept = run([steady(CARDS)], previous, members)
    forever = run([steady(CARDS)], previous, members, rules=MatchRules(dormant_retention=None))

    assert [t.theme_id for t in kept.dormant] == ["thm-recent"]
    assert [t.theme_id for t in forever.dormant] == ["thm-recent", "thm-stale"]


def test_a_dormant_theme_is_never_assigned_to() -> None:
    previous = snapshot([theme(CARDS)], axes=[0], dormant=[theme("thm-old")])
    result = run([(AXES[0], PREVIOUS_MEMBERS[CARDS]), (AXES[1], reports("x-", 20))], previous, {})
    # No shared evidence (members not given): cards continues on its centroid alone; the dormant
    # theme has no centroid, so the second cluster is born rather than revived.
    assert result.clusters[0].theme_id == CARDS
    assert result.clusters[0].lineage.by_centroid
    assert result.clusters[1].lineage.event is LineageEvent.BORN


# ------------------------------------------------------------------------------ centroid fallback


def test_with_no_shared_reports_a_near_identical_centroid_continues_the_theme() -> None:
    moved_window = [
        (direction((0, 1.0), (5, 0.2)), reports("later-card-", 80)),  # cosine 0.98
        (direction((1, 1.0), (5, 0.6)), reports("later-support-", 50)),  # cosine 0.86: too far
    ]
    result = run(moved_window, snapshot([theme(CARDS), theme(SUPPORT)], axes=[0, 1]))

    assert result.clusters[0].theme_id == CARDS
    assert lineage_of(result.clusters[0]) == (LineageEvent.CONTINUED, (CARDS,))
    assert result.clusters[0].lineage.by_centroid
    assert result.clusters[1].lineage.event is LineageEvent.BORN
    assert result.previous[SUPPORT].event is LineageEvent.DORMANT


def test_the_centroid_fallback_never_takes_a_theme_whose_reports_went_elsewhere() -> None:
    merged = direction((0, 1.0), (1, 0.8))
    newcomer = direction((1, 1.0), (0, 0.05))  # cosine 0.999 to support, but support merged
    result = run(
        [(merged, PREVIOUS_MEMBERS[CARDS] + PREVIOUS_MEMBERS[SUPPORT]), (newcomer, reports("x-", 30))],
        snapshot([theme(CARDS), theme(SUPPORT)], axes=[0, 1]),
    )
    assert result.previous[SUPPORT].event is LineageEvent.MERGED
    assert result.clusters[1].lineage.event is LineageEvent.BORN


# ------------------------------------------------------------------------------ strategist names


NAMED_CARDS = theme(CARDS, label="Card testing ring", named_by_strategist=True, verdict="fraud")


def test_a_strategist_name_and_verdict_survive_a_continued_theme() -> None:
    drifted = direction((0, 1.0), (5, 0.15))
    result = run([(drifted, PREVIOUS_MEMBERS[CARDS][3:])], previous_snapshot(**{CARDS: NAMED_CARDS}))

    identity = result.clusters[0]
    assert (identity.strategist_label, identity.verdict) == ("Card testing ring", "fraud")
    info = identity.theme_info(label="card, stolen", keywords=("card", "stolen"))
    assert (info.label, info.named_by_strategist, info.verdict, info.keywords) == (
        "Card testing ring",
        True,
        "fraud",
        ("card", "stolen"),
    )


def test_after_a_split_only_the_largest_child_keeps_the_name_and_verdict() -> None:
    result = run(split_cards(), previous_snapshot(**{CARDS: NAMED_CARDS}))

    smaller, larger = result.clusters
    assert (larger.theme_id, larger.strategist_label, larger.verdict) == (CARDS, "Card testing ring", "fraud")
    assert (smaller.strategist_label, smaller.verdict) == (None, None)
    assert smaller.theme_info(label="card, abroad").label == "card, abroad"
    # The other child's lineage tells the strategist where it came from and what that was.
    parent = smaller.lineage.parents[0]
    assert (parent.label, parent.named_by_strategist, parent.verdict) == ("Card testing ring", True, "fraud")


def test_a_merge_keeps_the_name_of_the_largest_named_parent_even_if_another_keeps_the_id() -> None:
    named_support = theme(SUPPORT, label="Fake support agents", named_by_strategist=True, verdict="abuse")
    named_parcels = theme(PARCELS, label="Parcels never sent", named_by_strategist=True, verdict="fraud")
    everything = PREVIOUS_MEMBERS[CARDS] + PREVIOUS_MEMBERS[SUPPORT] + PREVIOUS_MEMBERS[PARCELS]
    merged = direction((0, 1.0), (1, 0.9), (2, 0.8))  # cosine 0.64, 0.58, 0.51 to the three
    result = run(
        [(merged, everything), steady(GIFTS)],
        previous_snapshot(**{SUPPORT: named_support, PARCELS: named_parcels}),
    )

    identity = result.clusters[0]
    assert identity.theme_id == CARDS  # most reports: the id
    assert (identity.strategist_label, identity.verdict) == ("Fake support agents", "abuse")  # largest named
    parents = identity.lineage.parents
    assert [(p.theme_id, p.label, p.named_by_strategist) for p in parents] == [
        (CARDS, f"auto {CARDS}", False),
        (SUPPORT, "Fake support agents", True),
        (PARCELS, "Parcels never sent", True),
    ]


def test_a_named_theme_whose_id_lives_on_elsewhere_lends_its_name_to_no_other_cluster() -> None:
    """55 of GIFTS' 100 reports go into the cluster that keeps SUPPORT's id; GIFTS' id stays with
    the other 45. That is a split of GIFTS, not a merge into SUPPORT: its name and verdict must not
    be on both themes at once."""
    gifts = reports("gift-", 100)
    named_gifts = theme(GIFTS, label="Gift card ring", named_by_strategist=True, verdict="fraud")
    members = {**PREVIOUS_MEMBERS, GIFTS: gifts}
    mixed = direction((1, 1.0), (3, 0.6))
    result = run(
        [
            steady(CARDS),
            (mixed, PREVIOUS_MEMBERS[SUPPORT] + gifts[:55]),
            steady(PARCELS),
            (direction((3, 1.0), (4, 0.2)), gifts[55:]),
        ],
        previous_snapshot(**{GIFTS: named_gifts}),
        members,
    )

    support, gifts_rest = result.clusters[1], result.clusters[3]
    assert (support.theme_id, gifts_rest.theme_id) == (SUPPORT, GIFTS)
    assert (gifts_rest.strategist_label, gifts_rest.verdict) == ("Gift card ring", "fraud")
    assert (support.strategist_label, support.verdict) == (None, None)
    assert lineage_of(support) == (LineageEvent.CONTINUED, (SUPPORT,))


def test_an_unnamed_merge_keeps_the_verdict_of_the_id_keeper() -> None:
    previous = previous_snapshot(
        **{CARDS: theme(CARDS, verdict="fraud"), SUPPORT: theme(SUPPORT, verdict="benign")}
    )
    merged = direction((0, 1.0), (1, 0.8))
    result = run([(merged, PREVIOUS_MEMBERS[CARDS] + PREVIOUS_MEMBERS[SUPPORT])], previous)
    assert (result.clusters[0].theme_id, result.clusters[0].verdict) == (CARDS, "fraud")


# ------------------------------------------------------------------------- determinism and ids


def mixed_run(order: Sequence[int]) -> IdentityResult:
    clusters = [
        *split_cards(),
        steady(SUPPORT),
        (AXES[6], reports("crypto-", 25)),
        (AXES[7], reports("romance-", 15)),
    ]
    return run([clusters[index] for index in order], seed="recluster")


def test_the_same_inputs_give_the_same_identities() -> None:
    assert mixed_run([0, 1, 2, 3, 4]) == mixed_run([0, 1, 2, 3, 4])


def test_an_id_depends_on_the_cluster_not_on_its_position_in_the_clustering() -> None:
    forward = mixed_run([0, 1, 2, 3, 4])
    backward = mixed_run([4, 3, 2, 1, 0])
    assert forward.theme_ids == tuple(reversed(backward.theme_ids))


def test_the_seed_and_version_make_new_ids_differ_between_runs() -> None:
    born = (AXES[6], reports("crypto-", 25))
    ids = {run([born], seed=seed).clusters[0].theme_id for seed in ("a", "b")}
    assert len(ids) == 2


def test_minting_skips_every_id_in_use() -> None:
    digest = "ab" * 32
    first = mint_theme_id(digest)
    assert first == "thm-abababab"
    second = mint_theme_id(digest, taken={first})
    assert MINTED.match(second)
    assert second != first
    assert mint_theme_id(digest, taken={first, second}) not in {first, second}


def test_ids_are_never_reused_over_many_runs() -> None:
    """Each run: every theme splits in two and a new one is born; no minted id was ever seen before."""
    rng = np.random.default_rng(7)
    previous = ThemeSnapshot.empty(DIMENSION)
    members: dict[str, list[str]] = {}
    ever: set[str] = set()
    for version in range(1, 6):
        clusters = [(random_direction(rng), reports(f"v{version}-born-", 20))]
        for number, ids in enumerate(members.values()):
            offset = random_direction(rng) * 0.1
            centroid = previous.centroids[number]
            clusters += [(centroid + offset, ids[: len(ids) // 2]), (centroid - offset, ids[len(ids) // 2 :])]
        centroids = np.array([c for c, _ in clusters], dtype=np.float32)
        result = match_themes(
            previous, members, centroids, [ids for _, ids in clusters], version=version, now=NOW
        )
        minted = {
            i.theme_id for i in result.clusters if i.lineage.event in (LineageEvent.BORN, LineageEvent.SPLIT)
        }
        minted -= set(members)
        assert not minted & ever
        ever |= set(result.theme_ids)
        infos = tuple(i.theme_info(label=i.theme_id) for i in result.clusters)
        previous = ThemeSnapshot(version, NOW, infos, normalize_rows(centroids), dormant=result.dormant)
        members = {i.theme_id: list(clusters[i.cluster][1]) for i in result.clusters}
    assert len(ever) == 1 + 2 + 4 + 8 + 16


# ------------------------------------------------------------------------------------- contract


def test_first_run_every_cluster_is_born() -> None:
    result = match_themes(
        ThemeSnapshot.empty(DIMENSION), {}, AXES[:2], [reports("a-", 5), reports("b-", 5)], version=1, now=NOW
    )
    assert [i.lineage.event for i in result.clusters] == [LineageEvent.BORN] * 2
    assert result.previous == {}
    assert result.dormant == ()


def test_no_clusters_every_theme_goes_dormant() -> None:
    result = match_themes(
        previous_snapshot(), PREVIOUS_MEMBERS, np.zeros((0, DIMENSION), np.float32), [], version=2, now=NOW
    )
    assert result.clusters == ()
    assert len(result.dormant) == 4


def test_a_report_in_two_clusters_is_refused() -> None:
    with pytest.raises(ValueError, match="card-000"):
        run([(AXES[0], reports("card-", 3)), (AXES[1], reports("card-", 3))])


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="2 centroids but 1 member sets"):
        match_themes(previous_snapshot(), {}, AXES[:2], [["x"]], version=2, now=NOW)


@pytest.mark.parametrize(
    "rules",
    [{"majority": 0.4}, {"min_split_share": 0.0}, {"min_shared_reports": 0}, {"min_cosine": 1.5}],
)
def test_nonsensical_rules_are_refused(rules: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(rules))):
        MatchRules(**rules)  # type: ignore[arg-type]


def test_identities_survive_a_manifest_round_trip() -> None:
    """What match_themes produces is what the snapshot publishes: JSON and back, unchanged."""
    result = run(
        [*split_cards(), steady(SUPPORT), steady(PARCELS)], previous_snapshot(**{CARDS: NAMED_CARDS})
    )
    themes = tuple(
        i.theme_info(label="auto", keywords=("card",), examples=("my card",)) for i in result.clusters
    )
    manifest = SnapshotManifest(
        version=2,
        created_at=NOW,
        dimension=DIMENSION,
        themes=themes,
        centroids_key="themes/v2/centroids.npy",
        dormant_themes=result.dormant,
    )
    assert SnapshotManifest.model_validate_json(manifest.model_dump_json()) == manifest


# ------------------------------------------------------------------------------ online precursors


@dataclass(frozen=True)
class Alerted:
    theme_id: str
    first_alerted_at: datetime | None
    members: tuple[str, ...]


def test_a_provisional_theme_is_tied_to_the_theme_holding_most_of_its_alerted_reports() -> None:
    new_gifts = reports("gift-", 30, start=100)
    themes = [(CARDS, PREVIOUS_MEMBERS[CARDS]), ("thm-born", new_gifts)]
    # 8 of its 10 alerted reports are in the new theme, one is in cards, one aged out of the window.
    alerted = Alerted("new-abc", BEFORE, (*new_gifts[:8], "card-000", "gone-001"))
    window = {*PREVIOUS_MEMBERS[CARDS], *new_gifts, "left-out-001"}

    linked = link_online_precursors([t for t, _ in themes], [m for _, m in themes], window, [alerted])

    assert linked == {
        "thm-born": [OnlinePrecursor(provisional_id="new-abc", first_alerted_at=BEFORE, shared_reports=8)]
    }


def test_no_majority_or_no_report_left_in_the_window_ties_nothing() -> None:
    halves = [("thm-a", reports("a-", 10)), ("thm-b", reports("b-", 10))]
    split_evenly = Alerted("new-split", NOW, (*reports("a-", 3), *reports("b-", 3)))
    mostly_left_out = Alerted("new-noise", NOW, (*reports("a-", 2), *reports("noise-", 3)))
    aged_out = Alerted("new-old", BEFORE, tuple(reports("old-", 5)))
    window = {*reports("a-", 10), *reports("b-", 10), *reports("noise-", 3)}

    linked = link_online_precursors(
        [t for t, _ in halves], [m for _, m in halves], window, [split_evenly, mostly_left_out, aged_out]
    )

    assert linked == {}


def test_precursors_stay_with_the_theme_id_and_follow_a_merge_oldest_first() -> None:
    early = OnlinePrecursor(provisional_id="new-early", first_alerted_at=BEFORE, shared_reports=6)
    late = OnlinePrecursor(provisional_id="new-late", first_alerted_at=NOW, shared_reports=9)
    unknown = OnlinePrecursor(provisional_id="new-unknown", first_alerted_at=None, shared_reports=5)
    previous = previous_snapshot(
        **{CARDS: theme(CARDS, online_precursors=[late]), SUPPORT: theme(SUPPORT, online_precursors=[early])}
    )
    merged = direction((0, 1.0), (1, 0.8))
    result = run(
        [(merged, PREVIOUS_MEMBERS[CARDS] + PREVIOUS_MEMBERS[SUPPORT]), steady(PARCELS), steady(GIFTS)],
        previous,
    )
    before = {t.theme_id: t for t in previous.themes}
    recount = OnlinePrecursor(provisional_id="new-late", first_alerted_at=NOW, shared_reports=12)

    linked = {CARDS: [recount, unknown]}
    carried = carry_online_precursors(CARDS, result.clusters[0].lineage, before, linked)
    parcels = carry_online_precursors(PARCELS, result.clusters[1].lineage, before, linked)

    assert carried == (early, recount, unknown)
    assert parcels == ()


def test_a_provisional_id_linked_to_another_theme_this_run_is_not_carried_by_its_old_one() -> None:
    moved = OnlinePrecursor(provisional_id="new-moved", first_alerted_at=BEFORE, shared_reports=6)
    stays = OnlinePrecursor(provisional_id="new-stays", first_alerted_at=BEFORE, shared_reports=5)
    previous = previous_snapshot(**{CARDS: theme(CARDS, online_precursors=[moved, stays])})
    before = {t.theme_id: t for t in previous.themes}
    result = run(split_cards(), previous)
    child = next(c for c in result.clusters if c.theme_id != CARDS and c.lineage.event is LineageEvent.SPLIT)
    # Its reports went with the split-off child: this run links it there.
    linked = {child.theme_id: [moved.model_copy(update={"shared_reports": 7})]}

    keeper = next(c for c in result.clusters if c.theme_id == CARDS)
    assert carry_online_precursors(CARDS, keeper.lineage, before, linked) == (stays,)
    assert [
        p.provisional_id for p in carry_online_precursors(child.theme_id, child.lineage, before, linked)
    ] == ["new-moved"]
