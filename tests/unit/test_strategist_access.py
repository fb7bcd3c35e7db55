"""Who may do what, from a verified token's claims (riskradar.strategist.access)."""

from __future__ import annotations

from typing import Any

import pytest

from riskradar.strategist.access import AccessDenied, Principal

STRATEGIST = {"sub": "alice", "roles": "[strategist]"}


@pytest.mark.parametrize(
    ("claim", "businesses"),
    [
        ({}, None),  # absent: every business
        ({"businesses": "*"}, None),
        ({"businesses": ["shop", "*"]}, None),
        ({"businesses": "[shop payments]"}, frozenset({"shop", "payments"})),
        ({"businesses": "shop,payments"}, frozenset({"shop", "payments"})),
        ({"businesses": ["payments"]}, frozenset({"payments"})),
        # Present but empty: none (an emptied list never turns into "every business").
        ({"businesses": []}, frozenset()),
        ({"businesses": "[]"}, frozenset()),
        ({"businesses": ""}, frozenset()),
        ({"businesses": " , "}, frozenset()),
    ],
)
def test_the_businesses_claim(claim: dict[str, Any], businesses: frozenset[str] | None) -> None:
    assert Principal.from_claims({**STRATEGIST, **claim}).businesses == businesses


def test_a_strategist_with_no_business_may_act_on_none() -> None:
    principal = Principal.from_claims({**STRATEGIST, "businesses": "[]"})
    with pytest.raises(AccessDenied, match="no business only; this action also concerns shop"):
        principal.require_strategist({"shop"})
    principal.require_strategist(set())  # an action of no business (publishing a digest)


def test_unknown_businesses_need_a_strategist_for_every_business() -> None:
    restricted = Principal.from_claims({**STRATEGIST, "businesses": "[shop payments live ads]"})
    with pytest.raises(AccessDenied, match="unknown"):
        restricted.require_strategist(None)
    Principal.from_claims(STRATEGIST).require_strategist(None)
    Principal.from_claims({**STRATEGIST, "businesses": "*"}).require_strategist(None)


def test_a_viewer_may_not_act_whatever_the_businesses() -> None:
    with pytest.raises(AccessDenied, match="'strategist' role"):
        Principal.from_claims({"sub": "bob", "roles": "[viewer]"}).require_strategist(None)
