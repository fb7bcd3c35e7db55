"""Synthesised replay reports: deterministic, valid for intake, and the simulated intervention
removes what it says it removes."""

from __future__ import annotations

from datetime import UTC, datetime

from riskradar.intake.validation import IntakePolicy, validate_report
from riskradar.replay import ReplayPlan, SimulatedIntervention, SourceRow, synthesize_reports

END = datetime(2026, 11, 28, 18, tzinfo=UTC)
ROWS = [SourceRow(f"someone used my card without asking, case {i}", "fraud") for i in range(3000)] + [
    SourceRow(f"my parcel never arrived, case {i}", "parcel") for i in range(3000)
]


def test_reports_are_deterministic_and_valid_for_intake() -> None:
    plan = ReplayPlan(seed=3, days=21, end=END)
    first = synthesize_reports(ROWS[:200], plan)
    assert first == synthesize_reports(ROWS[:200], plan)
    policy = IntakePolicy(allowed_businesses=frozenset({"shop", "live", "payments", "ads"}))
    for report in first:
        validate_report(report, policy, now=END)


def test_a_simulated_intervention_removes_its_share_of_the_label_in_its_business_from_its_start() -> None:
    simulated = SimulatedIntervention(label="fraud", business="payments", days_before_end=8, reduction=0.6)
    plan = ReplayPlan(seed=5, days=21, end=END, intervention=simulated)
    start = simulated.start(END).isoformat().replace("+00:00", "Z")
    assert start == "2026-11-20T00:00:00Z"
    reports = synthesize_reports(ROWS, plan)
    # The same plan with nothing removed: the same random draws, so counts compare exactly.
    untreated = SimulatedIntervention(label="fraud", business="payments", days_before_end=8, reduction=0.0)
    baseline = synthesize_reports(ROWS, ReplayPlan(seed=5, days=21, end=END, intervention=untreated))

    def count(batch: list[dict[str, object]], label: str, business: str | None, after: bool) -> int:
        return sum(
            1
            for r in batch
            if r.get("category") == label
            and (business is None or r["business"] == business)
            and (str(r["created_at"]) >= start) == after
        )

    # Most of the label's reports come from its business.
    assert count(baseline, "fraud", "payments", after=False) > 0.75 * count(
        baseline, "fraud", None, after=False
    )
    # After the start about 60 % of them are gone; before it none; elsewhere nothing changes.
    kept = count(reports, "fraud", "payments", after=True) / count(baseline, "fraud", "payments", after=True)
    assert 0.33 < kept < 0.47
    assert count(reports, "fraud", "payments", after=False) == count(
        baseline, "fraud", "payments", after=False
    )
    for business in ("shop", "live", "ads"):
        assert count(reports, "fraud", business, after=True) == count(baseline, "fraud", business, after=True)
    assert count(reports, "parcel", None, after=True) == count(baseline, "parcel", None, after=True)
