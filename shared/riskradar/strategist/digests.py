"""Publish the theme digest of a snapshot: after every recluster run, and on demand through the API.

Gathers what `riskradar.digest.build_digest` needs — the snapshot, the activity published with it,
the strategist's curation and every intervention with its measured effect — renders the page, the
JSON and the Markdown summary, and stores them (riskradar.adapters.s3.DigestStore) under versioned
keys with the `latest` pointer written last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from aws_lambda_powertools import Logger

from riskradar.adapters.s3 import DigestRef
from riskradar.digest import Digest, EffectView, Estimate, build_digest, render_html, render_markdown
from riskradar.effect import InterventionEffect, RatioEstimate
from riskradar.strategist.models import Intervention, ThemeCuration
from riskradar.strategist.service import SnapshotReader, measure_intervention
from riskradar.theme_stats import ThemeStats
from riskradar.themes import ThemeSnapshot

logger = Logger(child=True)

__all__ = ["DigestPublisher", "effect_view"]


class StrategistRecordsReader(Protocol):
    def all_curation(self) -> dict[str, ThemeCuration]: ...

    def interventions(self, *, theme_id: str | None = None) -> list[Intervention]: ...


class DigestWriter(Protocol):
    def publish(self, snapshot_version: int, generated_at: str, renderings: dict[str, str]) -> DigestRef: ...


@dataclass
class DigestPublisher:
    records: StrategistRecordsReader
    store: DigestWriter
    clock: Callable[[], datetime]

    def publish(self, snapshot: ThemeSnapshot, stats: ThemeStats | None) -> tuple[Digest, DigestRef]:
        now = self.clock().astimezone(UTC)
        interventions = self.records.interventions()
        with_effects = [
            (
                intervention,
                _measured(
                    intervention, stats, [other for other in interventions if other is not intervention], now
                ),
            )
            for intervention in interventions
        ]
        curation = self.records.all_curation()
        digest = build_digest(
            snapshot, stats, curation=curation, interventions=with_effects, generated_at=now
        )
        reference = self.store.publish(
            snapshot.version,
            now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            {
                "json": digest.model_dump_json(),
                "html": render_html(digest),
                "markdown": render_markdown(digest),
            },
        )
        return digest, reference

    def publish_current(self, snapshots: SnapshotReader) -> tuple[Digest, DigestRef]:
        """The digest of the snapshot published now (on demand)."""
        raw = snapshots.current_document("stats")
        return self.publish(snapshots.current(), ThemeStats.model_validate_json(raw) if raw else None)


def effect_view(effect: InterventionEffect) -> EffectView:
    """The effect as the digest shows it (the digest contract does not follow the effect model's)."""
    return EffectView(
        status=effect.status.value,
        summary=effect.reason if effect.status.value != "ok" and effect.reason else effect.summary,
        rate_ratio=_estimate(effect.rate_ratio),
        difference_in_differences=_estimate(effect.difference_in_differences),
    )


def _estimate(ratio: RatioEstimate | None) -> Estimate | None:
    return Estimate(value=ratio.ratio, ci_low=ratio.ci_low, ci_high=ratio.ci_high) if ratio else None


def _measured(
    intervention: Intervention, stats: ThemeStats | None, others: list[Intervention], now: datetime
) -> EffectView | None:
    """The intervention's effect for the digest; None, logged, when it cannot be measured (a
    record from before the API bounded intervention dates): one such record must not keep every
    digest from being published."""
    try:
        return effect_view(measure_intervention(intervention, stats, others, today=now.date()))
    except (ValueError, OverflowError):
        logger.exception("intervention %s could not be measured", intervention.intervention_id)
        return None
