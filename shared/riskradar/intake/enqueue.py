"""Idempotent enqueueing of prepared reports (Powertools Idempotency on DynamoDB).

The idempotency key is the report id; the payload check is a digest of what the client sent, so a
retry of the same report is answered as a duplicate while a *different* report under a reused id is
refused as a conflict. Powertools replays the first call's stored result for a duplicate; the
`attempt_id` in that result is how we tell "enqueued now" from "enqueued by an earlier request".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from riskradar.models import QueuedReport

IDEMPOTENCY_KEY_PREFIX = "riskradar-intake-report"


class MessageQueue(Protocol):
    def send(self, body: str, *, attributes: dict[str, str] | None = None) -> str: ...


class IdempotencyStoreUnavailable(Exception):
    """The idempotency table could not be read or written, and nothing was queued (HTTP 503)."""


class EnqueueStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    #: The report id was used before for a report with different content.
    CONFLICT = "conflict"
    #: The same report is being enqueued by a concurrent request right now.
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class EnqueueOutcome:
    report_id: str
    status: EnqueueStatus


def idempotency_config(dedup_window_seconds: int) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="report_id",
        payload_validation_jmespath="fingerprint",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=dedup_window_seconds,
    )


class ReportEnqueuer:
    """Puts each report on the intake queue at most once per dedup window."""

    def __init__(
        self,
        queue: MessageQueue,
        persistence: BasePersistenceLayer,
        config: IdempotencyConfig,
        *,
        new_attempt_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._queue = queue
        self._new_attempt_id = new_attempt_id
        #: Attempts whose message reached the queue, until their enqueue() returns.
        self._sent_attempts: set[str] = set()
        self._send_once: Callable[..., dict[str, str]] = idempotent_function(
            self._send,
            data_keyword_argument="envelope",
            persistence_store=persistence,
            config=config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )

    def _send(self, *, envelope: dict[str, Any], attempt_id: str) -> dict[str, str]:
        message_id = self._queue.send(envelope["message"], attributes={"business": envelope["business"]})
        self._sent_attempts.add(attempt_id)
        return {"report_id": envelope["report_id"], "message_id": message_id, "attempt_id": attempt_id}

    def enqueue(self, report: QueuedReport, *, fingerprint: str) -> EnqueueOutcome:
        attempt_id = self._new_attempt_id()
        envelope = {
            "report_id": report.report_id,
            "fingerprint": fingerprint,
            "business": report.business,
            "message": report.model_dump_json(),
        }
        try:
            result = self._send_once(envelope=envelope, attempt_id=attempt_id)
        except IdempotencyValidationError:
            return EnqueueOutcome(report.report_id, EnqueueStatus.CONFLICT)
        except IdempotencyAlreadyInProgressError:
            return EnqueueOutcome(report.report_id, EnqueueStatus.IN_PROGRESS)
        except IdempotencyPersistenceLayerError as error:
            if attempt_id in self._sent_attempts:
                # Queued, but its idempotency record stayed "in progress": accepted. A retry after
                # that record expires is queued again; triage knows the report id by then.
                return EnqueueOutcome(report.report_id, EnqueueStatus.ACCEPTED)
            raise IdempotencyStoreUnavailable(str(error)) from error
        finally:
            self._sent_attempts.discard(attempt_id)
        status = EnqueueStatus.ACCEPTED if result["attempt_id"] == attempt_id else EnqueueStatus.DUPLICATE
        return EnqueueOutcome(report.report_id, status)
