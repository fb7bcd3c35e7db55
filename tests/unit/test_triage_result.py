"""TriageResult's per-priority count: what the handler publishes as the Signals<Priority> metrics."""

from __future__ import annotations

from riskradar.scoring import Priority
from riskradar.triage import TriageOutcome, TriageResult, TriageStatus


def test_by_priority_counts_only_the_signals_sent_in_the_batch() -> None:
    result = TriageResult()
    for report_id, status, priority in [
        ("r1", TriageStatus.SIGNALLED, Priority.HIGH),
        ("r2", TriageStatus.SIGNALLED, Priority.HIGH),
        ("r3", TriageStatus.SIGNALLED, Priority.NORMAL),
        ("r4", TriageStatus.FAILED, None),
        ("r5", TriageStatus.ALREADY_TRIAGED, None),
        ("r6", TriageStatus.SIGNAL_OUTCOME_UNKNOWN, None),
    ]:
        result.outcomes[report_id] = TriageOutcome(report_id, status, priority)

    assert result.by_priority() == {"high": 2, "normal": 1}
    assert result.count(TriageStatus.SIGNALLED) == 3
