"""The strategist's records applied to the themes a recluster run carries forward."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from riskradar.strategist.curation import apply_curation, merge_groups
from riskradar.strategist.models import ThemeCuration, Verdict
from riskradar.themes import OnlinePrecursor, ThemeInfo, ThemeSnapshot, normalize_rows

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def snapshot() -> ThemeSnapshot:
    themes = tuple(ThemeInfo(theme_id=f"thm-0000000{i}", label=f"auto {i}") for i in range(3))
    return ThemeSnapshot(
        4,
        NOW,
        themes,
        normalize_rows(np.eye(3, 5, dtype=np.float32)),
        dormant=(ThemeInfo(theme_id="thm-00000009", label="old"),),
    )


def record(theme_id: str, **fields: object) -> ThemeCuration:
    return ThemeCuration(theme_id=theme_id, updated_by="alice", updated_at=NOW, **fields)  # type: ignore[arg-type]


MEMBERS = {"thm-00000000": ["a1", "a2"], "thm-00000001": ["b1"], "thm-00000002": ["c1", "c2", "c3"]}


def test_verdicts_and_names_replace_the_snapshots() -> None:
    curated, members = apply_curation(
        snapshot(),
        MEMBERS,
        {
            "thm-00000001": record("thm-00000001", verdict=Verdict.FRAUD, name="Fake support"),
            "thm-00000009": record("thm-00000009", verdict=Verdict.BENIGN),
        },
    )
    by_id = {theme.theme_id: theme for theme in (*curated.themes, *curated.dormant)}
    assert by_id["thm-00000001"].verdict == "fraud"
    assert by_id["thm-00000001"].label == "Fake support"
    assert by_id["thm-00000001"].named_by_strategist
    assert by_id["thm-00000000"].label == "auto 0"
    assert not by_id["thm-00000000"].named_by_strategist
    assert by_id["thm-00000009"].verdict == "benign"
    assert members == MEMBERS


def test_a_merged_theme_leaves_and_its_reports_join_the_target() -> None:
    curated, members = apply_curation(
        snapshot(),
        MEMBERS,
        {
            "thm-00000000": record("thm-00000000", merged_into="thm-00000002"),
            "thm-00000002": record("thm-00000002", absorbed=("thm-00000000",), verdict=Verdict.ABUSE),
        },
    )
    assert [theme.theme_id for theme in curated.themes] == ["thm-00000001", "thm-00000002"]
    # The centroid rows follow their themes.
    np.testing.assert_array_equal(curated.centroids, snapshot().centroids[[1, 2]])
    assert sorted(members["thm-00000002"]) == ["a1", "a2", "c1", "c2", "c3"]
    assert "thm-00000000" not in members


def test_a_merged_theme_hands_the_online_alerts_it_was_caught_as_to_its_target() -> None:
    early = OnlinePrecursor(provisional_id="new-early", first_alerted_at=NOW, shared_reports=5)
    own = OnlinePrecursor(provisional_id="new-own", first_alerted_at=NOW, shared_reports=8)
    base = snapshot()
    themes = (
        base.themes[0].model_copy(update={"online_precursors": (early, own)}),
        base.themes[1],
        base.themes[2].model_copy(update={"online_precursors": (own,)}),
    )
    curated, _ = apply_curation(
        ThemeSnapshot(base.version, base.created_at, themes, base.centroids, dormant=base.dormant),
        MEMBERS,
        {
            "thm-00000000": record("thm-00000000", merged_into="thm-00000002"),
            "thm-00000002": record("thm-00000002", absorbed=("thm-00000000",)),
        },
    )
    target = next(theme for theme in curated.themes if theme.theme_id == "thm-00000002")
    assert [p.provisional_id for p in target.online_precursors] == ["new-own", "new-early"]


def test_merge_chains_are_followed_and_a_missing_target_leaves_the_theme_alone() -> None:
    curated, members = apply_curation(
        snapshot(),
        MEMBERS,
        {
            "thm-00000000": record("thm-00000000", merged_into="thm-00000001"),
            "thm-00000001": record("thm-00000001", merged_into="thm-00000002"),
            "thm-00000002": record("thm-00000002", merged_into="thm-0000dead"),  # not in the snapshot
        },
    )
    assert [theme.theme_id for theme in curated.themes] == ["thm-00000002"]
    assert sorted(members["thm-00000002"]) == ["a1", "a2", "b1", "c1", "c2", "c3"]


def test_a_merge_cycle_changes_nothing() -> None:
    curated, _ = apply_curation(
        snapshot(),
        MEMBERS,
        {
            "thm-00000000": record("thm-00000000", merged_into="thm-00000001"),
            "thm-00000001": record("thm-00000001", merged_into="thm-00000000"),
        },
    )
    assert len(curated.themes) == 3


def test_clusters_made_mostly_of_a_merged_themes_reports_are_grouped() -> None:
    previous = {"thm-00000002": ["a1", "a2", "a3", "c1", "c2", "c3"], "thm-00000001": ["b1", "b2", "b3"]}
    curation = {"thm-00000002": record("thm-00000002", absorbed=("thm-00000000",))}
    clusters = [
        ["c1", "c2", "c3", "new1"],  # the target's own region
        ["a1", "a2", "a3"],  # the absorbed theme's region
        ["b1", "b2", "b3"],  # another theme
        ["new2", "new3", "new4"],  # nothing known
    ]
    assert merge_groups(clusters, previous, curation) == [[0, 1]]
    # Without a merge on record, nothing is grouped.
    assert merge_groups(clusters, previous, {}) == []
