"""Theme snapshots and assignment of report embeddings to themes.

A snapshot is what the recluster job publishes and triage reads: one centroid per theme (unit
vectors, the same space as report embeddings) plus what a strategist and the scorer need to know
about each theme. Assignment is nearest-centroid by cosine similarity, accepted only above the
theme's own threshold — a tight theme demands a close match, a broad one accepts looser ones.
Everything else goes to the novelty pool, where new themes are discovered.

Theme ids are stable across recluster runs; each theme records the run's lineage event (born,
continued, merged, split) and themes with no successor are kept as dormant, without a centroid —
see riskradar.theme_identity for the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

Vectors = npt.NDArray[np.float32]

SNAPSHOT_SCHEMA_VERSION = "1"
#: Used for themes published without a threshold of their own.
DEFAULT_ASSIGNMENT_THRESHOLD = 0.5


class LineageEvent(StrEnum):
    """What the recluster run that published a snapshot did to a theme (see riskradar.theme_identity)."""

    BORN = "born"
    CONTINUED = "continued"
    MERGED = "merged"
    SPLIT = "split"
    DORMANT = "dormant"


class LineageParent(BaseModel):
    """A previous theme that a theme came from, as it was when the run started."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme_id: str
    label: str
    named_by_strategist: bool = False
    verdict: str | None = None
    #: Reports present in both runs that were in the parent and are in this theme now.
    shared_reports: int = Field(default=0, ge=0)
    #: shared_reports over the parent's reports present in both runs (0 when it had none).
    share_of_parent: float = Field(default=0.0, ge=0.0, le=1.0)


class ThemeLineage(BaseModel):
    """The latest event in a theme's history; earlier ones are in earlier snapshot versions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: LineageEvent
    #: The snapshot version whose recluster run recorded the event.
    version: int = Field(ge=0)
    #: Largest first. Continued: the theme itself; merged: every theme that went into it; split: the
    #: one theme it came from; born and dormant: none.
    parents: tuple[LineageParent, ...] = ()
    #: Matched on centroids alone: no report was in both runs to vouch for the match.
    by_centroid: bool = False


class OnlinePrecursor(BaseModel):
    """A provisional theme the online detector alerted on (`new-…`, riskradar.online_detection)
    before a recluster run found these reports as a theme: how an online alert and the theme it
    became are tied together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provisional_id: str
    #: When the online detector first alerted on it (None: a state from before this was kept).
    first_alerted_at: datetime | None = None
    #: Reports of its alerts that are in this theme (in the run that made the link).
    shared_reports: int = Field(ge=1)


class EmergingDetail(BaseModel):
    """Why a theme is flagged emerging (riskradar.emerging), and since when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: When a recluster run first flagged the theme in its current emerging episode.
    since: datetime
    #: -ln P(X >= observed) of the theme's recent count, in nats.
    surprise: float = Field(ge=0)
    #: Reports of the theme in its surprising recent window, and the count its usual share predicted.
    recent_reports: int = Field(ge=0)
    expected_reports: float = Field(ge=0)
    #: Start of that recent window.
    window_start: datetime


class ThemeInfo(BaseModel):
    """Per-theme metadata in a snapshot (the centroid lives beside it, row by row)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme_id: str
    #: What triage shows: the strategist's name when `named_by_strategist`, else the automatic label.
    label: str
    keywords: tuple[str, ...] = ()
    #: A few reports near the centroid (redacted text), for a strategist to see what the theme is.
    examples: tuple[str, ...] = ()
    #: A strategist named the theme: recluster runs keep `label` (and `verdict`) instead of relabelling.
    named_by_strategist: bool = False
    #: Minimum cosine similarity to the centroid for a report to join this theme.
    threshold: float = Field(default=DEFAULT_ASSIGNMENT_THRESHOLD, ge=-1.0, le=1.0)
    #: The strategist's verdict on the theme: fraud, abuse, benign, needs_review — or none yet.
    verdict: str | None = None
    emerging: bool = False
    #: Set while `emerging` is.
    emerging_detail: EmergingDetail | None = None
    #: Reports per hour the theme usually sees; velocity is measured against it.
    baseline_hourly_rate: float | None = Field(default=None, ge=0)
    size: int = Field(default=0, ge=0)
    #: When the theme id was minted, and when a recluster run last found the theme.
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    lineage: ThemeLineage | None = None
    #: Provisional themes of the online detector that turned out to be this theme, oldest first;
    #: kept by the theme (under its id, or through a merge) in later runs.
    online_precursors: tuple[OnlinePrecursor, ...] = ()


class SnapshotManifest(BaseModel):
    """The JSON half of a published snapshot; `centroids_key` points at the .npy half."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: str = SNAPSHOT_SCHEMA_VERSION
    version: int = Field(ge=0)
    created_at: datetime
    dimension: int = Field(gt=0)
    themes: tuple[ThemeInfo, ...]
    centroids_key: str
    #: Themes with no successor in a recent run: kept for their ids, names and verdicts, never
    #: assigned to (they have no row in the centroids).
    dormant_themes: tuple[ThemeInfo, ...] = ()
    #: The .npz with each theme's member report ids in the run that published the snapshot: the
    #: next run matches its clusters to these themes by the reports they share.
    members_key: str | None = None
    #: JSON documents published with the snapshot, by name (e.g. "stats": per-theme activity).
    documents: dict[str, str] = Field(default_factory=dict)
    #: The .npz with the clustering's state (ClusteringState) for the next run's warm start; absent
    #: from snapshots published before warm starts existed (the next run then starts cold).
    clustering_state_key: str | None = None


@dataclass(frozen=True)
class ThemeSnapshot:
    version: int
    created_at: datetime
    themes: tuple[ThemeInfo, ...]
    #: (len(themes), dimension) float32, unit rows; row i is the centroid of themes[i].
    centroids: Vectors = field(repr=False)
    #: Themes without a centroid, which triage never assigns to (see SnapshotManifest.dormant_themes).
    dormant: tuple[ThemeInfo, ...] = ()

    def __post_init__(self) -> None:
        if self.centroids.ndim != 2 or self.centroids.shape[0] != len(self.themes):
            raise ValueError(
                f"snapshot v{self.version}: {len(self.themes)} themes "
                f"but centroids of shape {self.centroids.shape}"
            )

    @classmethod
    def empty(cls, dimension: int) -> ThemeSnapshot:
        """Before the first recluster: no themes, every report is novel."""
        return cls(0, datetime.fromtimestamp(0, UTC), (), np.zeros((0, dimension), dtype=np.float32))

    def theme(self, theme_id: str) -> ThemeInfo | None:
        return next((theme for theme in self.themes if theme.theme_id == theme_id), None)


@dataclass(frozen=True)
class ClusteringState:
    """What one recluster run's clustering leaves for the next run to start from (a warm start,
    see riskradar.clustering): its micro-clusters, in the embedding space itself because the PCA
    basis the clustering works in is refitted on every window.

    Published beside the snapshot it produced (SnapshotManifest.clustering_state_key); triage never
    reads it. Defined here, not in riskradar.clustering, so that reading and writing snapshots
    needs numpy only.
    """

    #: (m, dimension) float32 unit rows: the direction of each micro-cluster's members' mean.
    micro_centroids: Vectors = field(repr=False)
    #: (m,) float32: the lowest cosine similarity of a member to its micro-cluster's centroid; the
    #: next run captures a report into a micro-cluster only within this radius.
    micro_radii: Vectors = field(repr=False)
    #: (m,) int64: the cluster each micro-cluster was merged into (the next run keeps these groups
    #: together while they stay cohesive), or -1 for one dissolved as no theme (the next run treats
    #: it as fresh).
    micro_groups: npt.NDArray[np.int64] = field(repr=False)
    #: The `cohesion` the groups were cut at: a run with another one does not start from them.
    cohesion: float

    def __post_init__(self) -> None:
        m = self.micro_centroids.shape[0] if self.micro_centroids.ndim == 2 else -1
        if m < 0 or self.micro_radii.shape != (m,) or self.micro_groups.shape != (m,):
            raise ValueError(
                f"clustering state: centroids of shape {self.micro_centroids.shape}, radii of shape "
                f"{self.micro_radii.shape} and groups of shape {self.micro_groups.shape} disagree"
            )
        if m and not (np.isfinite(self.micro_centroids).all() and np.isfinite(self.micro_radii).all()):
            raise ValueError("clustering state: centroids or radii contain NaN or infinite values")
        if m and int(self.micro_groups.min()) < -1:
            raise ValueError("clustering state: micro_groups must be >= -1 (-1: in no cluster)")

    @property
    def dimension(self) -> int:
        return int(self.micro_centroids.shape[1])

    @property
    def micro_clusters(self) -> int:
        return int(self.micro_centroids.shape[0])

    @classmethod
    def empty(cls, dimension: int, cohesion: float) -> ClusteringState:
        return cls(
            np.zeros((0, dimension), dtype=np.float32),
            np.zeros(0, dtype=np.float32),
            np.zeros(0, dtype=np.int64),
            cohesion,
        )


@dataclass(frozen=True)
class Assignment:
    """Where one report went: a theme, or the novelty pool (theme is None)."""

    theme: ThemeInfo | None
    #: Cosine similarity to the nearest centroid (0.0 when there are no themes).
    similarity: float
    #: The nearest theme even when the report was not close enough to join it.
    nearest_theme_id: str | None = None

    @property
    def is_novel(self) -> bool:
        return self.theme is None

    @property
    def theme_id(self) -> str | None:
        return self.theme.theme_id if self.theme else None


def assign_to_themes(vectors: Vectors, snapshot: ThemeSnapshot) -> list[Assignment]:
    """Nearest theme per row of `vectors` (unit rows), if it passes that theme's threshold."""
    if len(vectors) == 0:
        return []
    if not snapshot.themes:
        return [Assignment(None, 0.0) for _ in range(len(vectors))]
    similarities = vectors @ snapshot.centroids.T
    nearest = similarities.argmax(axis=1)
    thresholds = np.array([theme.threshold for theme in snapshot.themes], dtype=np.float32)
    assignments = []
    for row, theme_index in enumerate(nearest):
        similarity = float(similarities[row, theme_index])
        theme = snapshot.themes[theme_index]
        joined = similarity >= thresholds[theme_index]
        assignments.append(Assignment(theme if joined else None, similarity, theme.theme_id))
    return assignments


def normalize_rows(vectors: Sequence[Sequence[float]] | Vectors) -> Vectors:
    """Unit-length float32 rows (zero rows stay zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: Vectors = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return unit
