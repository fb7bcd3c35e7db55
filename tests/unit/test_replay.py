"""Synthesised replay reports: deterministic, valid for intake, and the simulated intervention
removes what it says it removes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from riskradar.intake.validation import IntakePolicy, validate_report
from riskradar.replay import ReplayPlan, SimulatedIntervention, SourceRow, extract_amount, synthesize_reports

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


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("€10,000 was taken from my account", {"value": "10000", "currency": "EUR"}),
        ("a £200,000 deposit", {"value": "200000", "currency": "GBP"}),
        ("charged $2,499.99 twice", {"value": "2499.99", "currency": "USD"}),
        ("1,500 dollars gone", {"value": "1500", "currency": "USD"}),
        ("a £12,50 fee", {"value": "12.50", "currency": "GBP"}),  # a decimal comma
        ("I paid $100 yesterday", {"value": "100", "currency": "USD"}),
        ("about 40 euros", {"value": "40", "currency": "EUR"}),
        ("order 12345678 for $12345678", None),  # more digits than any amount here
        ("no money mentioned", None),
    ],
)
def test_amounts_are_read_as_people_write_them(text: str, amount: dict[str, str] | None) -> None:
    assert extract_amount(text) == amount
