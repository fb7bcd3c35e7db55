"""Stable theme identities across recluster runs.

Every recluster run clusters the recent window of reports from scratch, so its clusters come out
in a new order, a little moved and resized. This module decides, for each new cluster, which theme
it *is*: an existing theme (its id, strategist name and verdict are kept) or a new one (a new id).
The evidence is the reports present in both runs — a theme's id follows its reports — checked
against centroid cosine similarity; centroids alone decide only when no shared report can.

Inputs: the previous snapshot, the member report ids of each of its themes in the previous run, and
the new clustering (one centroid and one set of member report ids per cluster). "Shared reports" are
the reports in a cluster of both runs; for previous theme i and new cluster j:

- ``shared[i, j]``: shared reports in i then and in j now;
- ``share_of_parent = shared[i, j] / shared reports of i`` (how much of i went to j);
- ``share_of_child = shared[i, j] / shared reports of j`` (how much of j came from i).

A pair is *linked* when it has at least ``min_shared_reports`` shared reports and centroid cosine of
at least ``min_cosine``.

The rules, applied in this order:

1. **Ids follow the reports.** Linked pairs where one side holds the majority of the other
   (``share_of_parent`` or ``share_of_child`` ≥ ``majority``) are candidates; a one-to-one
   assignment (``scipy.optimize.linear_sum_assignment``) keeps the previous ids on the candidates
   that maximise the number of shared reports keeping their theme id (centroid cosine breaks ties).
   So after a split the child holding most of the parent's reports keeps the id, and after a merge
   the merged theme keeps the id of the parent that brought most reports.
2. **Merged**: a new cluster that holds the majority (``share_of_parent`` ≥ ``majority``) of two or
   more previous themes — or of one previous theme besides the one whose id it kept — is *merged*;
   its lineage lists every parent, largest first. A parent whose id was not kept is retired, recorded
   only there.
3. **Split**: a previous theme's *children* are the linked clusters that come mostly from it
   (``share_of_child`` ≥ ``majority``) and hold at least ``min_split_share`` of its reports. A theme
   with two or more successors (its children, plus the cluster that kept its id if that is not one
   of them) has *split*: every successor's lineage names the parent; the one that kept the id (rule
   1) is the one with most of its reports.
4. **Continued**: a new cluster that kept an id and is neither merged nor split.
5. **Centroid fallback**: a previous theme that would otherwise go dormant (no id kept, no merge or
   split successor) and a new cluster that would otherwise be born (no parent at all) are the same
   theme when their centroids have cosine ≥ ``centroid_only_cosine`` — this covers a window that
   moved past all of a theme's old reports. Matched one-to-one by cosine; lineage ``continued`` with
   ``by_centroid``.
6. **Born**: any other new cluster gets a new id.
7. **Dormant**: a previous theme with no successor (not kept, not merged into, not split) moves to
   the snapshot's dormant list (``ThemeSnapshot.dormant`` / ``SnapshotManifest.dormant_themes``)
   with its name, verdict and ``last_seen``, and no centroid: triage never assigns to a dormant
   theme, and this module does not revive one (a recurring pattern comes back as a new theme with a
   new id). Dormant themes are carried from run to run until ``dormant_retention`` after their
   ``last_seen``.

**Strategist curation** (``named_by_strategist``, its ``label``, and ``verdict``) travels with the
id: kept when a theme continues, by the largest child of a split (the other children start
unnamed, with no verdict; their lineage names the parent and its verdict for the strategist to
review), and on a merge the **name and verdict of the largest named parent** win even over an
unnamed id-keeper (the other parents, named or not, are recorded in the lineage). An unnamed merge
keeps the verdict of the parent whose id it kept.

**New ids** are ``thm-`` and 8 hex digits of SHA-256 over the run (``seed``, snapshot ``version``)
and the cluster's sorted member ids (its rounded centroid when it has none): deterministic — the
same inputs give the same ids, so a retried run publishes the same snapshot — and never one already
in use: an id of the previous snapshot (active, dormant, or named in a lineage) or minted earlier in
the run is skipped by re-hashing. Ids retired long ago and forgotten are not checked; with 2³² ids a
collision among n themes ever minted has odds about n² / 2³³.

Presence is "in a cluster": reports that a run left unclustered (noise) count as absent from it.

**Online precursors** (`link_online_precursors`): between runs the online detector alerts on new
themes under provisional ids (`new-…`, riskradar.online_detection), each with the reports its
alerts showed. A run ties a provisional theme to the theme holding the strict majority of those of
its reports that are in the window (in any cluster or left out), as a `ThemeInfo.online_precursors`
entry, so that whoever received the online alert knows which theme it became. A theme keeps its
precursors in later runs (`carry_online_precursors`): under its own id, and through a merge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from riskradar.themes import (
    DEFAULT_ASSIGNMENT_THRESHOLD,
    LineageEvent,
    LineageParent,
    OnlinePrecursor,
    ThemeInfo,
    ThemeLineage,
    ThemeSnapshot,
    Vectors,
    normalize_rows,
)

__all__ = [
    "THEME_ID_PREFIX",
    "ClusterIdentity",
    "IdentityResult",
    "MatchRules",
    "PreviousOutcome",
    "carry_online_precursors",
    "link_online_precursors",
    "match_themes",
    "mint_theme_id",
]

THEME_ID_PREFIX: Final = "thm-"
_ID_HEX_DIGITS: Final = 8
# Cosine only breaks ties between equal shared-report counts (cosine ≤ 1, so 2e-3 < one report).
_COSINE_TIE_BREAK: Final = 1e-3

Counts = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MatchRules:
    """Thresholds of the rules in the module docstring."""

    #: Fewer shared reports than this is no evidence of a link (a few reports always wander).
    min_shared_reports: int = 3
    #: "Mostly": the share of a theme's (or cluster's) shared reports that makes it a parent or child.
    majority: float = 0.5
    #: A split child must hold at least this share of its parent's shared reports.
    min_split_share: float = 0.2
    #: Below this centroid cosine, no amount of shared reports makes two clusters one theme.
    min_cosine: float = 0.5
    #: Centroid cosine at which a would-be-dormant theme and a would-be-born cluster are one theme.
    centroid_only_cosine: float = 0.9
    #: Dormant themes last seen longer ago than this are dropped (None: kept forever).
    dormant_retention: timedelta | None = timedelta(days=180)

    def __post_init__(self) -> None:
        if self.min_shared_reports < 1:
            raise ValueError(f"min_shared_reports must be at least 1, got {self.min_shared_reports}")
        if not 0.5 <= self.majority <= 1.0:
            raise ValueError(f"majority must be in [0.5, 1], got {self.majority}")
        if not 0.0 < self.min_split_share <= self.majority:
            raise ValueError(f"min_split_share must be in (0, majority], got {self.min_split_share}")
        for name in ("min_cosine", "centroid_only_cosine"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a cosine in [-1, 1], got {getattr(self, name)}")


DEFAULT_RULES: Final = MatchRules()


@dataclass(frozen=True)
class ClusterIdentity:
    """Which theme a new cluster is, and the curation it inherits."""

    #: Index of the cluster in the new clustering.
    cluster: int
    theme_id: str
    lineage: ThemeLineage
    #: The strategist's name carried over; None when the automatic label applies.
    strategist_label: str | None
    verdict: str | None
    first_seen: datetime
    #: The run's time: the theme's `last_seen`.
    seen_at: datetime

    @property
    def named_by_strategist(self) -> bool:
        return self.strategist_label is not None

    def theme_info(
        self,
        *,
        label: str,
        keywords: Sequence[str] = (),
        examples: Sequence[str] = (),
        threshold: float = DEFAULT_ASSIGNMENT_THRESHOLD,
        emerging: bool = False,
        baseline_hourly_rate: float | None = None,
        size: int = 0,
    ) -> ThemeInfo:
        """The snapshot entry: `label` is the automatic one, overridden by a strategist's name."""
        return ThemeInfo(
            theme_id=self.theme_id,
            label=self.strategist_label if self.strategist_label is not None else label,
            keywords=tuple(keywords),
            examples=tuple(examples),
            named_by_strategist=self.named_by_strategist,
            threshold=threshold,
            verdict=self.verdict,
            emerging=emerging,
            baseline_hourly_rate=baseline_hourly_rate,
            size=size,
            first_seen=self.first_seen,
            last_seen=self.seen_at,
            lineage=self.lineage,
        )


@dataclass(frozen=True)
class PreviousOutcome:
    """What became of a previous theme: continued, merged, split or dormant."""

    theme_id: str
    event: LineageEvent
    #: Theme ids of the new themes it went into, the one holding most of its reports first.
    successors: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdentityResult:
    #: One per new cluster, in the clustering's order.
    clusters: tuple[ClusterIdentity, ...]
    #: Keyed by previous theme id, one per active theme of the previous snapshot.
    previous: Mapping[str, PreviousOutcome]
    #: The dormant list to publish: carried over (within retention) plus the newly dormant.
    dormant: tuple[ThemeInfo, ...]

    @property
    def theme_ids(self) -> tuple[str, ...]:
        return tuple(identity.theme_id for identity in self.clusters)


def match_themes(
    previous: ThemeSnapshot,
    previous_members: Mapping[str, Collection[str]],
    centroids: Vectors,
    members: Sequence[Collection[str]],
    *,
    version: int,
    now: datetime,
    seed: str = "",
    rules: MatchRules = DEFAULT_RULES,
) -> IdentityResult:
    """Theme identities for a new clustering (see the module docstring for the rules).

    `previous_members` maps the previous snapshot's active theme ids to their member report ids in
    the previous run (a theme missing from it is matched on its centroid only; other keys are
    ignored). `centroids` has one row per new cluster, `members` its report ids. `version` is the
    snapshot the new clustering will be published as; `seed` and `version` make minted ids unique
    per run. Raises ValueError when shapes disagree or a report is in two clusters of one run.
    """
    new_centroids = _unit_rows(centroids, "centroids")
    if len(new_centroids) != len(members):
        raise ValueError(f"{len(new_centroids)} centroids but {len(members)} member sets")
    old_themes = previous.themes
    old_centroids = _unit_rows(previous.centroids, "previous centroids")
    if old_themes and len(new_centroids) and old_centroids.shape[1] != new_centroids.shape[1]:
        raise ValueError(
            f"previous centroids are {old_centroids.shape[1]}-d, new ones {new_centroids.shape[1]}-d"
        )
    cosine: Scores = (
        (old_centroids @ new_centroids.T).astype(np.float64)
        if old_themes and len(new_centroids)
        else np.zeros((len(old_themes), len(members)))
    )
    shared = _shared_counts([previous_members.get(t.theme_id, ()) for t in old_themes], members)
    ties = _Ties(shared, cosine, rules)

    keeper = _keep_ids(ties, rules)
    absorbed_into = ties.absorbed_into()
    children = ties.children()
    merge_parents: dict[int, list[int]] = {}
    for old, new in absorbed_into.items():
        # A theme whose id another cluster kept lives on there: what went into `new` split off it.
        # As a merge parent too, its name and verdict would be on two themes at once.
        if keeper.get(old, new) == new:
            merge_parents.setdefault(new, []).append(old)
    split_into = _splits(keeper, children)
    split_parent: dict[int, int] = {}
    for old, successors in split_into.items():
        for new in successors:
            split_parent.setdefault(new, old)
    kept_by = {new: old for old, new in keeper.items()}

    by_centroid = _match_on_centroids(
        cosine,
        old=[
            i
            for i in range(len(old_themes))
            if i not in keeper and i not in absorbed_into and not children.get(i)
        ],
        new=[
            j
            for j in range(len(members))
            if j not in kept_by
            and j not in merge_parents
            and not any(j in kids for kids in children.values())
        ],
        threshold=rules.centroid_only_cosine,
    )
    kept_by.update({new: old for old, new in by_centroid.items()})

    def parent(old: int, new: int) -> LineageParent:
        theme = old_themes[old]
        return LineageParent(
            theme_id=theme.theme_id,
            label=theme.label,
            named_by_strategist=theme.named_by_strategist,
            verdict=theme.verdict,
            shared_reports=int(shared[old, new]),
            share_of_parent=round(ties.share_of_parent(old, new), 4),
        )

    taken = _ids_in_use(previous)
    pending: list[tuple[str, int, ThemeLineage, str | None, str | None]] = []
    identities: dict[int, ClusterIdentity] = {}
    for new in range(len(members)):
        kept = kept_by.get(new)
        parents = set(merge_parents.get(new, ()))
        if kept is not None:
            parents.add(kept)
        ordered = sorted(parents, key=lambda old: ties.size_order(old, new))
        if len(ordered) >= 2:
            event = LineageEvent.MERGED
        elif new in split_parent:
            event, ordered = LineageEvent.SPLIT, [split_parent[new]]
        elif kept is not None:
            event = LineageEvent.CONTINUED
        else:
            event, ordered = LineageEvent.BORN, []
        lineage = ThemeLineage(
            event=event,
            version=version,
            parents=tuple(parent(old, new) for old in ordered),
            by_centroid=new in by_centroid.values(),
        )
        label, verdict = _inherited_curation(
            [old_themes[old] for old in ordered], old_themes[kept] if kept is not None else None, event
        )
        if kept is None:
            digest = _content_digest(seed, version, members[new], new_centroids[new])
            pending.append((digest, new, lineage, label, verdict))
            continue
        theme = old_themes[kept]
        identities[new] = ClusterIdentity(
            cluster=new,
            theme_id=theme.theme_id,
            lineage=lineage,
            strategist_label=label,
            verdict=verdict,
            first_seen=theme.first_seen or previous.created_at,
            seen_at=now,
        )
    taken.update(identity.theme_id for identity in identities.values())
    # Minted in the order of their content digests, so the cluster order cannot change an id.
    for digest, new, lineage, label, verdict in sorted(pending, key=lambda item: item[0]):
        theme_id = mint_theme_id(digest, taken=taken)
        taken.add(theme_id)
        identities[new] = ClusterIdentity(new, theme_id, lineage, label, verdict, now, now)

    clusters = tuple(identities[new] for new in range(len(members)))
    outcomes, newly_dormant = _previous_outcomes(
        old_themes, clusters, keeper | by_centroid, absorbed_into, split_into, version
    )
    return IdentityResult(
        clusters=clusters,
        previous=outcomes,
        dormant=_carried_dormant(previous, now, rules) + newly_dormant,
    )


def mint_theme_id(digest: str, *, taken: Collection[str] = frozenset()) -> str:
    """`thm-` + 8 hex digits of `digest`, re-hashed until the id is not in `taken`."""
    candidate, attempt = digest, 0
    while True:
        theme_id = f"{THEME_ID_PREFIX}{candidate[:_ID_HEX_DIGITS]}"
        if theme_id not in taken:
            return theme_id
        attempt += 1
        candidate = hashlib.sha256(f"{digest}\n{attempt}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------- evidence


class _Ties:
    """Shared-report counts between previous themes (rows) and new clusters (columns), with shares."""

    def __init__(self, shared: Counts, cosine: Scores, rules: MatchRules) -> None:
        self.shared = shared
        self.cosine = cosine
        self.rules = rules
        self.old_totals = shared.sum(axis=1)
        self.new_totals = shared.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.of_parent: Scores = np.where(
                self.old_totals[:, None] > 0, shared / self.old_totals[:, None], 0.0
            )
            self.of_child: Scores = np.where(
                self.new_totals[None, :] > 0, shared / self.new_totals[None, :], 0.0
            )
        self.linked = (shared >= rules.min_shared_reports) & (cosine >= rules.min_cosine)

    def share_of_parent(self, old: int, new: int) -> float:
        return float(self.of_parent[old, new])

    def size_order(self, old: int, new: int) -> tuple[int, int, float]:
        """Sort key: most shared reports with `new` first, then the larger theme, then cosine."""
        return (-int(self.shared[old, new]), -int(self.old_totals[old]), -float(self.cosine[old, new]))

    def candidates(self) -> npt.NDArray[np.bool_]:
        majority = self.rules.majority
        return self.linked & ((self.of_parent >= majority) | (self.of_child >= majority))

    def absorbed_into(self) -> dict[int, int]:
        """Previous theme → the new cluster holding the majority of its shared reports."""
        result = {}
        for old in range(self.shared.shape[0]):
            options = np.flatnonzero(self.linked[old] & (self.of_parent[old] >= self.rules.majority))
            if len(options):
                result[old] = int(min(options, key=lambda new: self.size_order(old, int(new))))
        return result

    def children(self) -> dict[int, list[int]]:
        """Previous theme → the new clusters mostly made of it that hold a fair share of it."""
        mostly_from = self.linked & (self.of_child >= self.rules.majority)
        fair_share = self.of_parent >= self.rules.min_split_share
        result = {}
        for old in range(self.shared.shape[0]):
            kids = [int(new) for new in np.flatnonzero(mostly_from[old] & fair_share[old])]
            if kids:
                result[old] = sorted(kids, key=lambda new: self.size_order(old, new))
        return result


def _shared_counts(old_members: Sequence[Collection[str]], new_members: Sequence[Collection[str]]) -> Counts:
    cluster_of: dict[str, int] = {}
    for new, reports in enumerate(new_members):
        for report in reports:
            if cluster_of.setdefault(report, new) != new:
                raise ValueError(f"report {report!r} is in new clusters {cluster_of[report]} and {new}")
    counts: Counts = np.zeros((len(old_members), len(new_members)), dtype=np.int64)
    seen: set[str] = set()
    for old, reports in enumerate(old_members):
        for report in reports:
            if report in seen:
                raise ValueError(f"report {report!r} is in two previous themes")
            seen.add(report)
            cluster = cluster_of.get(report)
            if cluster is not None:
                counts[old, cluster] += 1
    return counts


# ---------------------------------------------------------------------------------------- matching


def _keep_ids(ties: _Ties, rules: MatchRules) -> dict[int, int]:
    """Rule 1: previous theme → new cluster keeping its id, maximising shared reports kept."""
    candidates = ties.candidates()
    if not candidates.any():
        return {}
    score = np.where(candidates, ties.shared + _COSINE_TIE_BREAK * ties.cosine, 0.0)
    rows, columns = linear_sum_assignment(score, maximize=True)
    return {int(old): int(new) for old, new in zip(rows, columns, strict=True) if candidates[old, new]}


def _match_on_centroids(
    cosine: Scores, *, old: list[int], new: list[int], threshold: float
) -> dict[int, int]:
    """Rule 5: one-to-one by cosine among would-be-dormant themes and would-be-born clusters."""
    if not old or not new:
        return {}
    block = cosine[np.ix_(old, new)]
    rows, columns = linear_sum_assignment(block, maximize=True)
    return {old[r]: new[c] for r, c in zip(rows, columns, strict=True) if block[r, c] >= threshold}


def _splits(keeper: Mapping[int, int], children: Mapping[int, list[int]]) -> dict[int, list[int]]:
    """Rule 3: previous theme → the clusters it split into, the one keeping its id first.

    Split: two or more successors (children, plus the cluster that kept its id if that is not one
    of them), or children without the id (its id went nowhere, its reports went on).
    """
    result = {}
    for old, kids in children.items():
        kept = keeper.get(old)
        successors = ([kept] if kept is not None else []) + [kid for kid in kids if kid != kept]
        if len(successors) >= 2 or kept is None:
            result[old] = successors
    return result


def _inherited_curation(
    parents: Sequence[ThemeInfo], kept: ThemeInfo | None, event: LineageEvent
) -> tuple[str | None, str | None]:
    """(strategist label, verdict) for a new cluster; `parents` largest first."""
    if event is LineageEvent.MERGED:
        named = [theme for theme in parents if theme.named_by_strategist]
        if named:
            return named[0].label, named[0].verdict
    if kept is None:
        return None, None
    return (kept.label if kept.named_by_strategist else None), kept.verdict


def _previous_outcomes(
    old_themes: Sequence[ThemeInfo],
    clusters: Sequence[ClusterIdentity],
    kept: Mapping[int, int],
    absorbed_into: Mapping[int, int],
    split_into: Mapping[int, list[int]],
    version: int,
) -> tuple[dict[str, PreviousOutcome], tuple[ThemeInfo, ...]]:
    outcomes: dict[str, PreviousOutcome] = {}
    dormant: list[ThemeInfo] = []
    for old, theme in enumerate(old_themes):
        successor = kept.get(old, absorbed_into.get(old))
        if old in split_into:
            outcome = PreviousOutcome(theme.theme_id, LineageEvent.SPLIT, _ids(clusters, split_into[old]))
        elif successor is not None:
            merged = clusters[successor].lineage.event is LineageEvent.MERGED
            event = LineageEvent.MERGED if merged else LineageEvent.CONTINUED
            outcome = PreviousOutcome(theme.theme_id, event, _ids(clusters, [successor]))
        else:
            outcome = PreviousOutcome(theme.theme_id, LineageEvent.DORMANT)
            lineage = ThemeLineage(event=LineageEvent.DORMANT, version=version)
            dormant.append(theme.model_copy(update={"lineage": lineage}))
        outcomes[theme.theme_id] = outcome
    return outcomes, tuple(dormant)


def _ids(clusters: Sequence[ClusterIdentity], indices: Sequence[int]) -> tuple[str, ...]:
    return tuple(clusters[index].theme_id for index in indices)


def _carried_dormant(previous: ThemeSnapshot, now: datetime, rules: MatchRules) -> tuple[ThemeInfo, ...]:
    if rules.dormant_retention is None:
        return previous.dormant
    oldest = now - rules.dormant_retention
    return tuple(theme for theme in previous.dormant if theme.last_seen is None or theme.last_seen >= oldest)


# ------------------------------------------------------------------------------------------- ids


def _ids_in_use(previous: ThemeSnapshot) -> set[str]:
    taken: set[str] = set()
    for theme in (*previous.themes, *previous.dormant):
        taken.add(theme.theme_id)
        if theme.lineage is not None:
            taken.update(parent.theme_id for parent in theme.lineage.parents)
    return taken


def _content_digest(seed: str, version: int, members: Collection[str], centroid: Vectors) -> str:
    digest = hashlib.sha256(f"riskradar theme\n{seed}\nv{version}\n".encode())
    if members:
        digest.update("\n".join(sorted(members)).encode())
    else:
        # Rounded (and -0.0 folded into 0.0) so that float noise cannot change the id.
        digest.update((np.round(centroid.astype(np.float64), 4) + 0.0).astype("<f8").tobytes())
    return digest.hexdigest()


def _unit_rows(vectors: Vectors, name: str) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array, got shape {array.shape}")
    return normalize_rows(array) if len(array) else array


# ------------------------------------------------------------------------------ online precursors


class AlertedTheme(Protocol):
    """A provisional theme of the online detector, as riskradar.online_detection keeps it."""

    @property
    def theme_id(self) -> str: ...

    @property
    def first_alerted_at(self) -> datetime | None: ...

    @property
    def members(self) -> tuple[str, ...]: ...


def link_online_precursors(
    theme_ids: Sequence[str],
    members: Sequence[Collection[str]],
    window: Collection[str],
    provisional: Sequence[AlertedTheme],
) -> dict[str, list[OnlinePrecursor]]:
    """The provisional themes each new theme turned out to be, by theme id (oldest alert first).

    `theme_ids` and `members` are the run's themes and their member report ids; `window` is every
    report id of the run (clustered or left out). A provisional theme goes to the theme holding the
    strict majority of its reports that are in the window; with none of them in the window (its
    reports aged out) or no majority anywhere, it is linked to nothing."""
    theme_of = {report_id: index for index, group in enumerate(members) for report_id in group}
    window_ids = window if isinstance(window, (set, frozenset)) else set(window)
    linked: dict[str, list[OnlinePrecursor]] = {}
    for alerted in provisional:
        present = [report_id for report_id in alerted.members if report_id in window_ids]
        counts: dict[int, int] = {}
        for report_id in present:
            if (index := theme_of.get(report_id)) is not None:
                counts[index] = counts.get(index, 0) + 1
        if not counts:
            continue
        index, shared = max(counts.items(), key=lambda item: (item[1], -item[0]))
        if shared * 2 <= len(present):
            continue
        linked.setdefault(theme_ids[index], []).append(
            OnlinePrecursor(
                provisional_id=alerted.theme_id,
                first_alerted_at=alerted.first_alerted_at,
                shared_reports=shared,
            )
        )
    return {theme_id: _oldest_first(precursors) for theme_id, precursors in linked.items()}


def carry_online_precursors(
    theme_id: str,
    lineage: ThemeLineage,
    previous: Mapping[str, ThemeInfo],
    linked: Mapping[str, Sequence[OnlinePrecursor]],
) -> tuple[OnlinePrecursor, ...]:
    """A theme's precursors after a run: those of the previous theme whose id it kept, and on a
    merge those of every parent, with the ones `link_online_precursors` linked to it in this run
    (which win for the same provisional id: their shared-report count is the current one). A
    provisional id this run linked to another theme (its reports moved there, e.g. in a split) is
    not carried: it names one theme at a time."""
    elsewhere = {
        precursor.provisional_id
        for other, precursors in linked.items()
        if other != theme_id
        for precursor in precursors
    }
    sources = [theme_id]
    if lineage.event is LineageEvent.MERGED:
        sources += [parent.theme_id for parent in lineage.parents]
    by_id: dict[str, OnlinePrecursor] = {}
    for source in sources:
        if (before := previous.get(source)) is not None:
            for precursor in before.online_precursors:
                if precursor.provisional_id not in elsewhere:
                    by_id.setdefault(precursor.provisional_id, precursor)
    for precursor in linked.get(theme_id, ()):
        by_id[precursor.provisional_id] = precursor
    return tuple(_oldest_first(list(by_id.values())))


_NEVER: Final = datetime.min.replace(tzinfo=UTC)


def _oldest_first(precursors: list[OnlinePrecursor]) -> list[OnlinePrecursor]:
    # Unknown first-alert times (states written before they were kept) last, then by id.
    return sorted(
        precursors,
        key=lambda p: (p.first_alerted_at is None, p.first_alerted_at or _NEVER, p.provisional_id),
    )
