"""Bodies of the strategist API's write routes (riskradar.strategist.models)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from riskradar.strategist.models import INTERVENTION_DATES, InterventionRequest, VerdictRequest


@pytest.mark.parametrize("written", ["ops said so.\r\nBlocking BINs.", "ops said so.\rBlocking BINs."])
def test_windows_and_old_mac_line_breaks_are_line_breaks(written: str) -> None:
    request = VerdictRequest.model_validate({"verdict": "fraud", "note": written})
    assert request.note == "ops said so.\nBlocking BINs."


def test_other_control_characters_are_refused() -> None:
    with pytest.raises(ValidationError, match="control characters"):
        VerdictRequest.model_validate({"verdict": "fraud", "note": "bell \x07"})


def intervention(**dates: str) -> dict[str, str]:
    return {
        "theme_id": "thm-0a1b2c3d",
        "business": "shop",
        "action_type": "block",
        "action": "Blocked the seller",
        "start": "2026-11-20T00:00:00Z",
        **dates,
    }


def test_an_intervention_spans_plausible_dates() -> None:
    first, end = INTERVENTION_DATES
    assert InterventionRequest.model_validate(intervention(start=first.isoformat())).start == first
    with pytest.raises(ValidationError, match="must be from 2000-01-01 to before 2100-01-01"):
        InterventionRequest.model_validate(intervention(end=end.isoformat()))
    with pytest.raises(ValidationError, match="out of range"):
        InterventionRequest.model_validate(intervention(start="0001-01-01T00:00:00+14:00"))
    assert first == datetime(2000, 1, 1, tzinfo=UTC)
