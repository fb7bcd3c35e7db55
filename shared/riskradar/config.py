"""Typed configuration read from environment variables declared in template.yaml.

Read once at cold start: a missing or malformed variable fails the function's init with a message
naming the variable, rather than failing deep inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(RuntimeError):
    pass


class _EnvModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        source = os.environ if environ is None else environ
        values = {name: source[name.upper()] for name in cls.model_fields if name.upper() in source}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
            )
            raise ConfigError(f"invalid environment for {cls.__name__}: {problems}") from None


def _split_csv(value: object) -> object:
    """A comma-separated environment value (as `!Join [",", ...]` writes it) as a set of names."""
    if isinstance(value, str):
        names = frozenset(part.strip() for part in value.split(",") if part.strip())
        if not names:
            raise ValueError("must list at least one business")
        return names
    return value


class IntakeSettings(_EnvModel):
    intake_queue_url: str
    idempotency_table: str
    allowed_businesses: frozenset[str]
    id_hash_key_parameter: str
    report_dedup_window_seconds: int = Field(default=86_400, ge=60)

    _split_businesses = field_validator("allowed_businesses", mode="before")(_split_csv)


class TriageSettings(_EnvModel):
    #: The queue triage consumes, and the dead-letter queue its redrive policy names: triage
    #: dead-letters a failing record itself, with its reason (riskradar.dead_letters).
    intake_queue_url: str
    intake_dead_letter_queue_url: str
    reports_table: str
    subject_reporters_table: str
    theme_activity_table: str
    artifacts_bucket: str
    signal_queue_critical_url: str
    signal_queue_high_url: str
    signal_queue_normal_url: str
    #: FIFO queue of the online novelty detector: one notice per embedding shard written.
    novelty_queue_url: str
    #: Empty: the model folder of the pinned weights package (baked into the image by pip).
    embedding_model_path: str = ""
    #: Optional JSON with per-business scoring overrides (see riskradar.scoring).
    scoring_config: str = ""
    subject_window_days: int = Field(default=7, ge=1, le=90)
    #: How long a report's record is kept (its TTL; see riskradar.triage.record_expires_at). No
    #: default: the template's ReportRetentionDays is the one place that says how long.
    report_retention_days: int = Field(ge=105, le=3650)


class ReclusterSettings(_EnvModel):
    artifacts_bucket: str
    alerts_queue_url: str
    curation_table: str
    interventions_table: str
    recluster_window_days: int = Field(default=30, ge=1, le=90)
    #: The online detector's state (NoveltyFunction's NOVELTY_STATE_KEY), read for its provisional
    #: themes; empty: none deployed.
    novelty_state_key: str = ""


class StrategistSettings(_EnvModel):
    artifacts_bucket: str
    curation_table: str
    interventions_table: str
    audit_table: str
    allowed_businesses: frozenset[str]
    #: JWT claims that carry the holder's riskradar roles and the businesses they may act on.
    roles_claim: str = "roles"
    businesses_claim: str = "businesses"

    _split_businesses = field_validator("allowed_businesses", mode="before")(_split_csv)


class NoveltySettings(_EnvModel):
    #: The FIFO queue the detector consumes and its dead-letter queue (see riskradar.dead_letters).
    novelty_queue_url: str
    novelty_dead_letter_queue_url: str
    artifacts_bucket: str
    alerts_queue_url: str
    #: The detector's state: one JSON object in the artifacts bucket.
    novelty_state_key: str = "novelty/state.json"
    #: Which reports the detector observes: every triaged report ("all") or only those triage left
    #: in the novelty pool ("pool").
    novelty_feed: Literal["all", "pool"] = "all"
    #: How many of the latest observed report ids are remembered: a report triaged twice (a retried
    #: triage batch writes a second shard) is observed once if its first copy is still remembered,
    #: and an alert's reports are found in their shards through it.
    novelty_remember_reports: int = Field(default=20_000, ge=1_000, le=200_000)
