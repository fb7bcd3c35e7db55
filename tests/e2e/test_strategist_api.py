"""The strategist loop over real HTTP with real tokens: reports → themes → a verdict and an
intervention through the API (JWT authorizer, roles, audit) → the next recluster carries the verdict
→ triage scores new reports of the theme with the verdict's points.

The local stack is the tokens' issuer (riskradar.local.identity); the template's authorizer is
enforced as API Gateway would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from riskradar.local import LocalStack
from riskradar.local.defaults import strategist_claims
from tests.e2e.test_recluster_pipeline import banking77, post, signals
from tests.helpers import drain

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def token(
    stack: LocalStack, role: str | None, businesses: tuple[str, ...] = (), subject: str = "alice"
) -> str:
    return stack.issue_token(subject, claims=strategist_claims(role, businesses))


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def shop_report(text: str, *, minutes_ago: int) -> dict[str, Any]:
    return {
        "report_id": f"sa-{uuid.uuid4()}",
        "business": "shop",
        "reporter": {"id": f"user-{uuid.uuid4().hex[:8]}", "role": "user"},
        "text": text,
        "created_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
    }


@pytest.fixture(scope="module")
def themed(stack: LocalStack, api_url: str) -> dict[str, Any]:
    """Reports of four topics in the shop business, triaged and reclustered into themes."""
    for queue in (
        "IntakeQueue",
        "SignalCriticalQueue",
        "SignalHighQueue",
        "SignalNormalQueue",
        "AlertsQueue",
    ):
        drain(stack, queue)
    topics = banking77(per_topic=60)
    post(
        api_url,
        [shop_report(t, minutes_ago=60 + i) for texts in topics.values() for i, t in enumerate(texts[:50])],
    )
    stack.run_until_idle(timeout_s=300)
    signals(stack)
    stack.fire_schedule("ReclusterFunction")
    return {"topics": topics}


def test_without_a_valid_token_the_api_answers_401_and_never_runs(stack: LocalStack, api_url: str) -> None:
    for headers in ({}, auth("not-a-jwt"), {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = requests.get(f"{api_url}/v1/themes", headers=headers, timeout=30)
        assert response.status_code == 401, headers
        assert response.json() == {"message": "Unauthorized"}
    expired = stack.issue_token("alice", claims=strategist_claims("viewer"), expires_in=-60)
    assert requests.get(f"{api_url}/v1/themes", headers=auth(expired), timeout=30).status_code == 401


def test_intake_stays_open_while_the_strategist_api_needs_a_token(api_url: str) -> None:
    response = requests.post(
        f"{api_url}/v1/reports",
        json={"business": "shop", "reporter": {"id": "u1", "role": "user"}, "text": "never shipped"},
        timeout=30,
    )
    assert response.status_code == 202


def test_the_strategist_loop_from_verdict_to_triage_score(
    stack: LocalStack, api_url: str, themed: dict[str, Any]
) -> None:
    viewer = auth(token(stack, "viewer"))
    # The session's stack is shared: other tests' reports of the same topics may sit in these
    # themes under other businesses, so the verdict comes from a strategist of every business.
    strategist = auth(token(stack, "strategist"))
    shop_strategist = auth(token(stack, "strategist", ("shop",)))

    listed = requests.get(f"{api_url}/v1/themes", params={"business": "shop"}, headers=viewer, timeout=30)
    assert listed.status_code == 200
    themes = listed.json()["themes"]
    assert themes
    target = max(themes, key=lambda t: t["reports_by_business"]["shop"])
    detail = requests.get(f"{api_url}/v1/themes/{target['theme_id']}", headers=viewer, timeout=30).json()
    assert sum(detail["counts"]["by_business"]["shop"]) == target["reports_by_business"]["shop"] >= 30
    assert sum(detail["counts"]["total"]) == detail["reports_in_window"]

    # A viewer may read, not judge; a strategist limited to shop may judge a shop-only theme.
    verdict = {"verdict": "fraud", "note": "confirmed with the shop ops team", "name": "Confirmed scam"}
    url = f"{api_url}/v1/themes/{target['theme_id']}/verdict"
    refused = requests.post(url, json=verdict, headers=viewer, timeout=30)
    assert refused.status_code == 403
    assert "strategist" in refused.json()["error"]["message"]
    judged = requests.post(url, json=verdict, headers=strategist, timeout=30)
    assert judged.status_code == 200, judged.text

    created = requests.post(
        f"{api_url}/v1/interventions",
        json={
            "theme_id": target["theme_id"],
            "business": "shop",
            "action_type": "warn",
            "action": "Checkout warning on listings that ask to pay outside the platform",
            "start": datetime.now(UTC).isoformat(),
        },
        headers=shop_strategist,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    effect = requests.get(f"{api_url}{created.headers['Location']}/effect", headers=viewer, timeout=30)
    assert effect.status_code == 200
    # It started just now, and the theme's reports all arrived today: there is no baseline before
    # the start, and waiting cannot add one.
    assert effect.json()["status"] == "not_enough_data"
    assert "baseline" in effect.json()["reason"]

    audit = requests.get(f"{api_url}/v1/audit", params={"limit": "10"}, headers=viewer, timeout=30).json()
    actions = [(e["action"], e["target_id"], e["actor"]) for e in audit["entries"][:2]]
    assert actions == [
        ("intervention_created", created.json()["intervention_id"], "alice"),
        ("verdict", target["theme_id"], "alice"),
    ]

    # The next recluster carries the verdict into the snapshot triage reads ...
    stack.fire_schedule("ReclusterFunction")
    after = requests.get(f"{api_url}/v1/themes/{target['theme_id']}", headers=viewer, timeout=30).json()
    assert after["verdict"] == "fraud"
    assert after["label"] == "Confirmed scam"

    # ... so new reports of the theme are scored with the verdict's points.
    examples = detail["examples"]
    post(api_url, [shop_report(text, minutes_ago=1) for text in examples])
    stack.run_until_idle(timeout_s=300)
    scored = [s for s in signals(stack) if s["theme_id"] == target["theme_id"]]
    assert scored
    for signal in scored:
        reasons = {reason["factor"]: reason for reason in signal["reasons"]}
        assert reasons["theme_verdict"]["points"] > 0
        assert "Confirmed scam" in reasons["theme_verdict"]["detail"]
