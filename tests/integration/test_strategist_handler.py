"""The strategist API handler against moto (`mock_aws`), driven by the sample events in events/.

API Gateway's JWT authorizer has verified the token before the handler runs, so the events carry
its claims in `requestContext.authorizer.jwt.claims`; here they vary the roles and businesses.
(The authorizer itself — 401 for a missing or bad token — is tested on the local stack.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest

from riskradar.adapters.s3 import ReportFacts, ThemeSnapshotStore
from riskradar.adapters.strategist import ConcurrentChange, StrategistStore
from riskradar.digest import Digest
from riskradar.strategist.models import AuditAction, AuditEntry, ThemeCuration
from riskradar.theme_stats import compute_theme_stats
from riskradar.themes import EmergingDetail, ThemeInfo, ThemeSnapshot, normalize_rows
from tests.helpers import ROOT, MockedFunction, mocked_function

NOW = datetime.now(UTC).replace(microsecond=0)
SCAM = "thm-0a1b2c3d"  # shop and payments reports, emerging
PARCEL = "thm-4e5f6a7b"  # shop only
DORMANT = "thm-99999999"


@pytest.fixture(scope="module")
def api() -> Iterator[MockedFunction]:
    with mocked_function("StrategistFunction", function_dir="strategist") as function:
        publish_snapshot(function)
        yield function


def publish_snapshot(function: MockedFunction) -> None:
    themes = (
        ThemeInfo(
            theme_id=SCAM,
            label="support, code, card",
            keywords=("support", "code", "card"),
            examples=("Someone posing as support asked for my card code",),
            emerging=True,
            emerging_detail=EmergingDetail(
                since=NOW - timedelta(hours=3),
                surprise=30.0,
                recent_reports=4,
                expected_reports=0.5,
                window_start=NOW - timedelta(days=1),
            ),
            size=4,
        ),
        ThemeInfo(theme_id=PARCEL, label="parcel, never, arrived", keywords=("parcel",), size=2),
    )
    snapshot = ThemeSnapshot(
        1,
        NOW,
        themes,
        normalize_rows(np.eye(2, 8, dtype=np.float32)),
        dormant=(ThemeInfo(theme_id=DORMANT, label="old pattern"),),
    )
    rows = [
        (SCAM, "shop", "user", "r1", "seller", "s1", 100.0),
        (SCAM, "shop", "user", "r2", "seller", "s1", 50.0),
        (SCAM, "payments", "user", "r3", "", "", np.nan),
        (SCAM, "payments", "seller", "r4", "", "", np.nan),
        (PARCEL, "shop", "user", "r5", "order", "o1", np.nan),
        (PARCEL, "shop", "creator", "r6", "order", "o2", np.nan),
        (None, "ads", "user", "r7", "", "", np.nan),
    ]
    facts = ReportFacts(
        businesses=tuple(r[1] for r in rows),
        reporter_roles=tuple(r[2] for r in rows),
        reporter_hashes=tuple(r[3] for r in rows),
        subject_types=tuple(r[4] for r in rows),
        subject_hashes=tuple(r[5] for r in rows),
        amounts_usd=np.array([r[6] for r in rows]),
    )
    stats = compute_theme_stats(
        [r[0] for r in rows],
        [(NOW - timedelta(hours=2)).timestamp()] * len(rows),
        facts,
        theme_ids=[SCAM, PARCEL],
        end=NOW,
        window_days=30,
        snapshot_version=1,
    )
    store = ThemeSnapshotStore(boto3.client("s3"), function.stack.physical_id("ArtifactsBucket"), dimension=8)
    store.publish(
        snapshot,
        members={SCAM: ["r1"], PARCEL: ["r5"]},
        documents={"stats": stats.model_dump_json().encode()},
    )


def event(
    name: str,
    *,
    roles: str = "[strategist]",
    businesses: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    subject: str = "alice",
) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    claims = sample["requestContext"]["authorizer"]["jwt"]["claims"]
    claims.update(sub=subject, roles=roles)
    if businesses is None:
        claims.pop("businesses", None)
    else:
        claims["businesses"] = businesses
    if body is not None or raw_body is not None:
        sample["body"] = raw_body if raw_body is not None else json.dumps(body)
        sample["headers"]["content-type"] = content_type
    if path_parameters is not None:
        sample["pathParameters"] = path_parameters
        route = sample["routeKey"].split(" ", 1)[1]
        sample["rawPath"] = route.replace("{theme_id}", path_parameters.get("theme_id", "")).replace(
            "{intervention_id}", path_parameters.get("intervention_id", "")
        )
        sample["requestContext"]["http"]["path"] = sample["rawPath"]
    if query is not None:
        sample["queryStringParameters"] = query
        sample["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return sample


def call(api: MockedFunction, request: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = api.invoke(request)
    return int(response["statusCode"]), json.loads(response["body"]), response.get("headers") or {}


def audit_store(api: MockedFunction) -> StrategistStore:
    stack = api.stack
    return StrategistStore(
        boto3.client("dynamodb"),
        curation_table=stack.physical_id("ThemeCurationTable"),
        interventions_table=stack.physical_id("InterventionsTable"),
        audit_table=stack.physical_id("AuditTable"),
    )


# ---------------------------------------------------------------------------------- reads


def test_a_viewer_lists_themes_emerging_first_with_their_activity(api: MockedFunction) -> None:
    status, body, _ = call(api, event("strategist_list_themes", roles="[viewer]", query={}))
    assert status == 200
    assert [t["theme_id"] for t in body["themes"]] == [SCAM, PARCEL, DORMANT]
    scam = body["themes"][0]
    assert scam["status"] == "emerging"
    assert scam["reports_in_window"] == 4
    assert scam["reports_by_business"] == {"payments": 2, "shop": 2}
    assert scam["money_at_risk_usd"] == 150.0
    assert scam["emerging_detail"]["recent_reports"] == 4
    assert body["themes"][2]["status"] == "dormant"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"business": "payments"}, [SCAM]),
        ({"business": "shop"}, [SCAM, PARCEL]),
        ({"business": "ads"}, []),
        ({"emerging": "true"}, [SCAM]),
        ({"emerging": "false"}, [PARCEL, DORMANT]),
        ({"status": "active"}, [PARCEL]),
        ({"status": "dormant"}, [DORMANT]),
    ],
)
def test_theme_filters(api: MockedFunction, query: dict[str, str], expected: list[str]) -> None:
    status, body, _ = call(api, event("strategist_list_themes", roles="[viewer]", query=query))
    assert status == 200
    assert [t["theme_id"] for t in body["themes"]] == expected


@pytest.mark.parametrize(
    ("query", "field"), [({"status": "hot"}, "status"), ({"emerging": "yes"}, "emerging")]
)
def test_bad_filters_are_refused_naming_the_field(
    api: MockedFunction, query: dict[str, str], field: str
) -> None:
    status, body, _ = call(api, event("strategist_list_themes", roles="[viewer]", query=query))
    assert status == 422
    assert [d["field"] for d in body["error"]["details"]] == [field]


def test_theme_detail_has_daily_counts_by_business_and_role_and_subjects(api: MockedFunction) -> None:
    status, body, _ = call(
        api, event("strategist_get_theme", roles="[viewer]", path_parameters={"theme_id": SCAM})
    )
    assert status == 200
    # The reports are two hours old: their day is yesterday when the test runs just after midnight.
    day = body["days"].index((NOW - timedelta(hours=2)).date().isoformat())
    assert body["counts"]["total"][day] == 4
    assert sum(body["counts"]["by_business"]["payments"]) == 2
    assert sum(body["counts"]["by_role"]["seller"]) == 1
    assert len(body["days"]) == len(body["counts"]["total"])
    assert body["top_subjects"][0]["subject_hash"] == "s1"
    assert body["top_subjects"][0]["distinct_reporters"] == 2
    assert body["examples"] == ["Someone posing as support asked for my card code"]


def test_an_unknown_theme_is_404(api: MockedFunction) -> None:
    status, body, _ = call(
        api, event("strategist_get_theme", roles="[viewer]", path_parameters={"theme_id": "thm-00000000"})
    )
    assert status == 404
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize("roles", ["[]", "[admin]", ""])
def test_a_token_without_a_riskradar_role_cannot_read(api: MockedFunction, roles: str) -> None:
    status, body, _ = call(api, event("strategist_list_themes", roles=roles, query={}))
    assert status == 403
    assert "viewer" in body["error"]["message"]


def test_a_token_without_a_subject_is_refused(api: MockedFunction) -> None:
    status, body, _ = call(api, event("strategist_list_themes", roles="[viewer]", query={}, subject=""))
    assert status == 403
    assert "subject" in body["error"]["message"]


# ---------------------------------------------------------------------------------- verdicts


def refused_verdict(api: MockedFunction, theme_id: str, **token: str) -> str:
    """POST a verdict on `theme_id` with the token's `roles` / `businesses`; assert it is refused
    (403) and nothing was written; return the reason."""
    before = audit_store(api).curation(theme_id)
    status, body, _ = call(
        api,
        event(
            "strategist_post_verdict",
            path_parameters={"theme_id": theme_id},
            body={"verdict": "fraud"},
            **token,
        ),
    )
    assert status == 403
    assert audit_store(api).curation(theme_id) == before
    return str(body["error"]["message"])


def test_a_viewer_cannot_judge_a_theme(api: MockedFunction) -> None:
    assert "strategist" in refused_verdict(api, PARCEL, roles="[viewer]")


def test_a_strategist_limited_to_shop_cannot_judge_a_theme_that_also_hits_payments(
    api: MockedFunction,
) -> None:
    assert "payments" in refused_verdict(api, SCAM, businesses="[shop]")


@pytest.mark.parametrize("businesses", ["[]", "", " "])
def test_an_empty_businesses_claim_allows_acting_on_no_business(api: MockedFunction, businesses: str) -> None:
    """An administrator who empties a strategist's businesses takes them all away (an absent claim,
    or `*`, is every business)."""
    assert "no business" in refused_verdict(api, PARCEL, businesses=businesses)


def test_only_a_strategist_for_every_business_may_judge_a_theme_without_reports_in_the_window(
    api: MockedFunction,
) -> None:
    """A dormant theme's businesses are unknown; its verdict applies wherever it reappears."""
    assert "unknown" in refused_verdict(api, DORMANT, businesses="[shop payments live ads]")


def test_nothing_can_be_merged_into_a_dormant_theme(api: MockedFunction) -> None:
    """A dormant theme is never matched again: the merged reports would lose both themes' ids."""
    status, body, _ = call(
        api, event("strategist_post_merge", path_parameters={"theme_id": PARCEL}, body={"into": DORMANT})
    )
    assert status == 409
    assert "dormant" in body["error"]["message"]
    assert audit_store(api).curation(PARCEL) is None
    assert audit_store(api).curation(DORMANT) is None


def test_a_verdict_is_stored_with_its_audit_entry_and_shown_at_once(api: MockedFunction) -> None:
    request = event(
        "strategist_post_verdict",
        businesses="[shop]",
        path_parameters={"theme_id": PARCEL},
        body={"verdict": "abuse", "note": "Resellers gaming refunds", "name": "Refund gaming"},
    )
    status, body, _ = call(api, request)
    assert status == 200
    assert body["verdict"] == "abuse"
    assert body["revision"] == 1
    stored = audit_store(api).curation(PARCEL)
    assert stored is not None
    assert stored.name == "Refund gaming"
    assert stored.updated_by == "alice"

    entries, _ = audit_store(api).audit_entries(target_id=PARCEL)
    assert [e.action for e in entries] == [AuditAction.VERDICT]
    assert entries[0].before is None
    assert entries[0].after is not None
    assert entries[0].after["verdict"] == "abuse"
    assert entries[0].request_id == request["requestContext"]["requestId"]

    _, listed, _ = call(api, event("strategist_list_themes", roles="[viewer]", query={"business": "shop"}))
    parcel = next(t for t in listed["themes"] if t["theme_id"] == PARCEL)
    assert parcel["verdict"] == "abuse"
    assert parcel["label"] == "Refund gaming"

    # A second verdict records what it replaced.
    call(
        api,
        event("strategist_post_verdict", path_parameters={"theme_id": PARCEL}, body={"verdict": "fraud"}),
    )
    entries, _ = audit_store(api).audit_entries(target_id=PARCEL)
    assert entries[0].before is not None
    assert entries[0].before["verdict"] == "abuse"
    assert entries[0].after is not None
    assert entries[0].after["verdict"] == "fraud"
    assert entries[0].after["name"] == "Refund gaming"  # kept when a later verdict gives no name


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"verdict": "evil"}, ["verdict"]),
        ({}, ["verdict"]),
        ({"verdict": "fraud", "color": "red"}, ["color"]),
        ({"verdict": "fraud", "name": ""}, ["name"]),
        ({"verdict": "fraud", "note": "x" * 2001}, ["note"]),
        ([1, 2], ["(body)"]),
    ],
)
def test_invalid_verdicts_are_refused_naming_the_field(
    api: MockedFunction, body: Any, fields: list[str]
) -> None:
    status, response, _ = call(
        api, event("strategist_post_verdict", path_parameters={"theme_id": SCAM}, body=body)
    )
    assert status == 422
    assert [d["field"] for d in response["error"]["details"]] == fields


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [("{not json", "application/json", 400), ('{"verdict": "fraud"}', "text/plain", 415)],
)
def test_malformed_bodies_are_refused(api: MockedFunction, raw: str, content_type: str, status: int) -> None:
    got, body, _ = call(
        api,
        event(
            "strategist_post_verdict",
            path_parameters={"theme_id": SCAM},
            raw_body=raw,
            content_type=content_type,
        ),
    )
    assert got == status
    assert "Traceback" not in json.dumps(body)


def test_a_stale_revision_is_a_conflict_and_writes_nothing(api: MockedFunction) -> None:
    store = audit_store(api)
    entries_before, _ = store.audit_entries(limit=200)
    stale = ThemeCuration(
        theme_id=DORMANT, updated_by="bob", updated_at=NOW, revision=2
    )  # no revision 1 exists
    entry = AuditEntry(
        audit_id="x1", at=NOW, actor="bob", action=AuditAction.VERDICT, target_type="theme", target_id=DORMANT
    )
    with pytest.raises(ConcurrentChange):
        store.save_curation([stale], entry)
    assert store.curation(DORMANT) is None
    assert store.audit_entries(limit=200)[0] == entries_before  # the audit entry did not go in alone


def test_audit_entries_cannot_be_overwritten(api: MockedFunction) -> None:
    store = audit_store(api)
    first = ThemeCuration(theme_id="thm-11111111", updated_by="bob", updated_at=NOW)
    entry = AuditEntry(
        audit_id="same",
        at=NOW,
        actor="bob",
        action=AuditAction.VERDICT,
        target_type="theme",
        target_id="thm-11111111",
    )
    store.save_curation([first], entry)
    second = first.model_copy(update={"revision": 2})
    with pytest.raises(ConcurrentChange):
        store.save_curation([second], entry.model_copy(update={"actor": "mallory"}))
    entries, _ = store.audit_entries(target_id="thm-11111111")
    assert [e.actor for e in entries] == ["bob"]


# ---------------------------------------------------------------------------------- merges


def test_merge_records_both_sides_and_the_merged_theme_is_then_read_only(api: MockedFunction) -> None:
    status, body, _ = call(
        api,
        event(
            "strategist_post_merge",
            path_parameters={"theme_id": DORMANT},
            body={"into": PARCEL, "note": "same"},
        ),
    )
    assert status == 200
    assert body["theme_id"] == PARCEL
    assert DORMANT in body["absorbed"]
    source = audit_store(api).curation(DORMANT)
    assert source is not None
    assert source.merged_into == PARCEL

    status, body, _ = call(
        api,
        event("strategist_post_verdict", path_parameters={"theme_id": DORMANT}, body={"verdict": "fraud"}),
    )
    assert status == 409
    assert PARCEL in body["error"]["message"]
    entries, _ = audit_store(api).audit_entries(target_id=DORMANT)
    assert entries[0].action is AuditAction.MERGE
    # The theme merged into changed too (it absorbed DORMANT): its trail shows the same entry.
    status, trail, _ = call(
        api, event("strategist_list_audit", roles="[viewer]", query={"target_id": PARCEL, "limit": "10"})
    )
    assert status == 200
    merges = [entry for entry in trail["entries"] if entry["action"] == "merge"]
    assert [(entry["target_id"], entry["also_changed"]) for entry in merges] == [(DORMANT, [PARCEL])]
    assert merges[0]["audit_id"] == entries[0].audit_id


@pytest.mark.parametrize(
    ("theme_id", "into", "status"),
    [(SCAM, SCAM, 409), (SCAM, "thm-00000000", 404), ("thm-00000000", SCAM, 404)],
)
def test_impossible_merges_are_refused(api: MockedFunction, theme_id: str, into: str, status: int) -> None:
    got, _, _ = call(
        api, event("strategist_post_merge", path_parameters={"theme_id": theme_id}, body={"into": into})
    )
    assert got == status


# ---------------------------------------------------------------------------------- interventions


def test_an_intervention_is_created_read_and_listed(api: MockedFunction) -> None:
    status, body, headers = call(api, event("strategist_post_intervention", businesses="[payments]"))
    assert status == 201
    intervention_id = body["intervention_id"]
    assert headers["Location"] == f"/v1/interventions/{intervention_id}"
    assert body["created_by"] == "alice"

    status, got, _ = call(
        api,
        event(
            "strategist_get_intervention",
            roles="[viewer]",
            path_parameters={"intervention_id": intervention_id},
        ),
    )
    assert status == 200
    assert got == body
    status, listed, _ = call(
        api, event("strategist_list_interventions", roles="[viewer]", query={"theme_id": SCAM})
    )
    assert [i["intervention_id"] for i in listed["interventions"]] == [intervention_id]
    entries, _ = audit_store(api).audit_entries(target_id=intervention_id)
    assert [e.action for e in entries] == [AuditAction.INTERVENTION_CREATED]


@pytest.mark.parametrize(
    ("change", "status", "fields"),
    [
        ({"business": "casino"}, 422, ["business"]),
        ({"action_type": "nuke"}, 422, ["action_type"]),
        ({"start": "yesterday"}, 422, ["start"]),
        ({"start": "2026-11-20T00:00:00"}, 422, ["start"]),
        ({"end": "2026-11-19T00:00:00Z"}, 422, ["(body)"]),
        ({"end": "9999-12-31T23:59:59Z"}, 422, ["end"]),  # "no end" written as a far date
        ({"start": "0001-01-01T00:00:00+14:00"}, 422, ["start"]),  # before year 1 in UTC
        ({"start": "1970-01-01T00:00:00Z"}, 422, ["start"]),
        ({"action": ""}, 422, ["action"]),
        ({"theme_id": "not-a-theme"}, 422, ["theme_id"]),
        ({"theme_id": "thm-00000000"}, 404, None),
    ],
)
def test_invalid_interventions_are_refused(
    api: MockedFunction, change: dict[str, str], status: int, fields: list[str] | None
) -> None:
    body = json.loads(json.loads((ROOT / "events" / "strategist_post_intervention.json").read_text())["body"])
    got, response, _ = call(api, event("strategist_post_intervention", body={**body, **change}))
    assert got == status
    if fields is not None:
        assert [d["field"] for d in response["error"]["details"]] == fields


def test_a_strategist_cannot_intervene_outside_their_businesses(api: MockedFunction) -> None:
    status, body, _ = call(api, event("strategist_post_intervention", businesses="[shop]"))
    assert status == 403
    assert "payments" in body["error"]["message"]


def test_an_unknown_intervention_is_404(api: MockedFunction) -> None:
    status, _, _ = call(
        api,
        event(
            "strategist_get_intervention", roles="[viewer]", path_parameters={"intervention_id": "int-nope"}
        ),
    )
    assert status == 404


# ---------------------------------------------------------------------------------- audit


def test_the_audit_trail_lists_newest_first_in_pages(api: MockedFunction) -> None:
    status, first, _ = call(api, event("strategist_list_audit", roles="[viewer]", query={"limit": "2"}))
    assert status == 200
    assert len(first["entries"]) == 2
    assert first["next"]
    status, second, _ = call(
        api, event("strategist_list_audit", roles="[viewer]", query={"limit": "2", "before": first["next"]})
    )
    assert status == 200
    times = [e["at"] for e in first["entries"] + second["entries"]]
    assert times == sorted(times, reverse=True)
    ids = [e["audit_id"] for e in first["entries"] + second["entries"]]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("limit", ["0", "201", "ten", "-1", "\u00b2", "\u0663", "9" * 5000])
def test_a_bad_page_size_is_refused(api: MockedFunction, limit: str) -> None:
    status, body, _ = call(api, event("strategist_list_audit", roles="[viewer]", query={"limit": limit}))
    assert status == 422
    assert body["error"]["details"][0]["field"] == "limit"


def effect_of(api: MockedFunction, intervention_id: str) -> dict[str, Any]:
    """GET the intervention's effect as a viewer (200)."""
    status, effect, _ = call(
        api,
        event(
            "strategist_get_intervention_effect",
            roles="[viewer]",
            path_parameters={"intervention_id": intervention_id},
        ),
    )
    assert status == 200
    return effect


def test_the_effect_route_reports_an_honest_status(api: MockedFunction) -> None:
    _, created, _ = call(api, event("strategist_post_intervention", businesses="[payments]"))
    effect = effect_of(api, created["intervention_id"])
    # Two hours of data: far too little to say anything yet.
    assert effect["status"] in ("pending", "not_enough_data")
    assert effect["reason"]
    assert effect["difference_in_differences"] is None


def test_the_effect_of_an_unknown_intervention_is_404(api: MockedFunction) -> None:
    status, _, _ = call(
        api,
        event(
            "strategist_get_intervention_effect",
            roles="[viewer]",
            path_parameters={"intervention_id": "int-nope"},
        ),
    )
    assert status == 404


# ---------------------------------------------------------------------------------- digests


def test_digests_are_published_on_demand_and_served_by_accept_header(api: MockedFunction) -> None:
    status, body, _ = call(api, event("strategist_get_latest_digest", roles="[viewer]"))
    assert status == 404
    assert "POST /v1/digests" in body["error"]["message"]

    status, _, _ = call(api, event("strategist_post_digest", roles="[viewer]"))
    assert status == 403
    status, created, headers = call(api, event("strategist_post_digest"))
    assert status == 201
    assert created["snapshot_version"] == 1
    assert headers["Location"] == "/v1/digests/latest"

    html_request = event("strategist_get_latest_digest", roles="[viewer]")
    response = api.invoke(html_request)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response["headers"]["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["headers"]["Content-Security-Policy"]
    assert response["headers"]["Cache-Control"] == "no-store"
    assert "support, code, card" in response["body"] or "Someone posing as support" in response["body"]

    json_request = event("strategist_get_latest_digest", roles="[viewer]")
    json_request["headers"]["accept"] = "application/json"
    digest = Digest.model_validate_json(api.invoke(json_request)["body"])
    assert digest.snapshot_version == 1
    assert digest.themes[0].theme_id == SCAM  # the emerging theme comes first

    markdown_request = event("strategist_get_latest_digest", roles="[viewer]")
    markdown_request["headers"]["accept"] = "text/markdown"
    markdown = api.invoke(markdown_request)
    assert markdown["headers"]["Content-Type"].startswith("text/markdown")

    png_request = event("strategist_get_latest_digest", roles="[viewer]")
    png_request["headers"]["accept"] = "image/png"
    status, body, _ = call(api, png_request)
    assert status == 406


def test_a_latest_digest_that_has_expired_is_not_found_until_the_next_one(api: MockedFunction) -> None:
    """The bucket's lifecycle rule expires digests with their reports (ReportRetentionDays); the
    pointer to the latest one is rewritten every run and stays: it then names objects that are gone."""
    assert call(api, event("strategist_post_digest"))[0] == 201
    s3 = boto3.client("s3")
    bucket = api.stack.physical_id("ArtifactsBucket")
    for listed in s3.list_objects_v2(Bucket=bucket, Prefix="digests/v")["Contents"]:
        s3.delete_object(Bucket=bucket, Key=listed["Key"])  # as expiry does: a delete marker

    status, body, _ = call(api, event("strategist_get_latest_digest", roles="[viewer]"))

    assert status == 404
    assert "expired" in body["error"]["message"]
    assert call(api, event("strategist_post_digest"))[0] == 201
    assert api.invoke(event("strategist_get_latest_digest", roles="[viewer]"))["statusCode"] == 200


def test_an_intervention_lifted_the_day_it_started_is_measured_as_never_measurable(
    api: MockedFunction,
) -> None:
    """From 09:30 to 17:00 on one day: not a whole day in effect. The effect says so, and digests
    (which measure every intervention) are still published."""
    day = (NOW - timedelta(days=3)).replace(hour=9, minute=30, second=0)
    body = {
        "theme_id": SCAM,
        "business": "payments",
        "action_type": "block",
        "action": "Paused a promotion for an afternoon",
        "start": day.isoformat(),
        "end": day.replace(hour=17).isoformat(),
    }
    status, created, _ = call(api, event("strategist_post_intervention", businesses="[payments]", body=body))
    assert status == 201
    effect = effect_of(api, created["intervention_id"])
    assert effect["status"] == "not_enough_data"
    assert effect["final"] is True
    status, _, _ = call(api, event("strategist_post_digest"))
    assert status == 201
