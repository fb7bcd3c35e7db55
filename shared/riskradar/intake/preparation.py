"""Turn a validated report into the queue message: redact PII, pseudonymise ids, fix the identity.

Pure code. This is the last place raw report content exists: the returned `QueuedReport` is what
gets enqueued, stored and logged downstream.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from datetime import datetime

from riskradar.models import (
    PseudonymousReporter,
    PseudonymousSubject,
    QueuedReport,
    ReportIn,
)
from riskradar.pseudonymize import IdHasher
from riskradar.redaction import redact_pii


def prepare_for_queue(report: ReportIn, *, hasher: IdHasher, received_at: datetime) -> QueuedReport:
    text = redact_pii(report.text)
    counts: Counter[str] = Counter({str(kind): n for kind, n in text.counts.items() if n})
    category = None
    if report.category:
        redacted_category = redact_pii(report.category)
        category = redacted_category.text
        counts.update({str(kind): n for kind, n in redacted_category.counts.items() if n})
    subject = (
        PseudonymousSubject(
            type=report.subject.type, id_hash=hasher.subject(report.subject.type, report.subject.id)
        )
        if report.subject
        else None
    )
    return QueuedReport(
        report_id=report.report_id or str(uuid.uuid4()),
        business=report.business,
        reporter=PseudonymousReporter(id_hash=hasher.reporter(report.reporter.id), role=report.reporter.role),
        subject=subject,
        category=category,
        text=text.text,
        amount=report.amount,
        locale=report.locale,
        created_at=report.created_at,
        received_at=received_at,
        redactions=dict(sorted(counts.items())),
    )


def report_fingerprint(report: ReportIn) -> str:
    """A digest of what the client sent (defaults left out), to tell a retry from a reused report_id.

    Computed on the validated report but only ever stored as a digest, so it holds no PII.
    """
    client_fields = report.model_dump(mode="json", exclude_unset=True, exclude={"report_id"})
    canonical = json.dumps(client_fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
