"""Apply the strategist's records to the themes a recluster run carries forward.

The recluster job matches its new clusters to the *previous* snapshot's themes
(riskradar.theme_identity), and whatever a previous theme carries — its strategist name, its
verdict — travels with its id. So the strategist's curation table is applied to the previous
snapshot before matching:

- a **verdict** and a **name** replace the theme's (a name also marks it `named_by_strategist`,
  so later runs keep it instead of relabelling);
- a theme **merged into** another disappears from the previous snapshot and its member reports
  join the target's, so the reports of both vote for the target's id in the match; so do the
  online alerts it was caught as first (`online_precursors`). Chains (a → b → c) are followed as
  far as themes are still in the snapshot.

`merge_groups` finds the new clusters that hold a merged theme's reports, and the recluster job
makes them one theme (riskradar.clustering.merge_clusters) before matching identities.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from riskradar.strategist.models import ThemeCuration
from riskradar.themes import OnlinePrecursor, ThemeInfo, ThemeSnapshot

__all__ = ["apply_curation", "merge_groups"]


def apply_curation(
    snapshot: ThemeSnapshot,
    members: Mapping[str, Sequence[str]],
    curation: Mapping[str, ThemeCuration],
) -> tuple[ThemeSnapshot, dict[str, list[str]]]:
    """The previous snapshot and its members as the strategist left them (see the module docstring)."""
    present = {theme.theme_id for theme in (*snapshot.themes, *snapshot.dormant)}
    target_of = {theme_id: _final_target(theme_id, curation, present) for theme_id in present}
    merged_away = {theme_id for theme_id, target in target_of.items() if target != theme_id}

    curated_members: dict[str, list[str]] = {}
    for theme_id, reports in members.items():
        target = target_of.get(theme_id, theme_id)
        curated_members.setdefault(target, []).extend(reports)

    absorbed: dict[str, list[OnlinePrecursor]] = {}
    for theme in (*snapshot.themes, *snapshot.dormant):
        if theme.theme_id in merged_away:
            absorbed.setdefault(target_of[theme.theme_id], []).extend(theme.online_precursors)

    def curated(theme: ThemeInfo) -> ThemeInfo:
        carried = _with_precursors(theme, absorbed.get(theme.theme_id, ()))
        return _curated(carried, curation.get(theme.theme_id))

    keep = [row for row, theme in enumerate(snapshot.themes) if theme.theme_id not in merged_away]
    themes = tuple(curated(snapshot.themes[row]) for row in keep)
    dormant = tuple(curated(theme) for theme in snapshot.dormant if theme.theme_id not in merged_away)
    centroids = snapshot.centroids[np.array(keep, dtype=np.int64)] if keep else snapshot.centroids[:0]
    return ThemeSnapshot(
        snapshot.version, snapshot.created_at, themes, centroids, dormant=dormant
    ), curated_members


def merge_groups(
    cluster_members: Sequence[Sequence[str]],
    previous_members: Mapping[str, Sequence[str]],
    curation: Mapping[str, ThemeCuration],
    *,
    majority: float = 0.5,
    min_shared_reports: int = 3,
) -> list[list[int]]:
    """Groups of new clusters (indices) to make one theme: for every theme that absorbed others,
    the clusters whose reports present in the previous run came mostly from its (merged) members.
    Only groups of two or more are returned."""
    owner: dict[str, str] = {
        report_id: theme_id for theme_id, reports in previous_members.items() for report_id in reports
    }
    targets = {
        theme_id for theme_id, record in curation.items() if record.absorbed and not record.merged_into
    }
    groups: list[list[int]] = []
    for target in sorted(targets & set(previous_members)):
        group = []
        for cluster, reports in enumerate(cluster_members):
            known = [owner[report_id] for report_id in reports if report_id in owner]
            shared = sum(1 for theme_id in known if theme_id == target)
            if shared >= min_shared_reports and shared >= majority * len(known):
                group.append(cluster)
        if len(group) > 1:
            groups.append(group)
    return groups


def _final_target(theme_id: str, curation: Mapping[str, ThemeCuration], present: set[str]) -> str:
    """The last theme still in the snapshot along `theme_id`'s chain of merges."""
    seen = {theme_id}
    current = target = theme_id
    while (record := curation.get(current)) is not None and record.merged_into:
        if record.merged_into in seen:  # a cycle can only come from hand-edited records: no merge
            return theme_id
        seen.add(record.merged_into)
        current = record.merged_into
        if current in present:
            target = current
    return target


def _with_precursors(theme: ThemeInfo, absorbed: Sequence[OnlinePrecursor]) -> ThemeInfo:
    known = {precursor.provisional_id for precursor in theme.online_precursors}
    added = [precursor for precursor in absorbed if precursor.provisional_id not in known]
    if not added:
        return theme
    return theme.model_copy(update={"online_precursors": (*theme.online_precursors, *added)})


def _curated(theme: ThemeInfo, record: ThemeCuration | None) -> ThemeInfo:
    if record is None:
        return theme
    update: dict[str, object] = {}
    if record.verdict is not None:
        update["verdict"] = record.verdict.value
    if record.name:
        update["label"] = record.name
        update["named_by_strategist"] = True
    return theme.model_copy(update=update) if update else theme
