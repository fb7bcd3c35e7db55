"""DynamoDB adapters against moto: the sliding-window subject counter and the report store."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import botocore.errorfactory
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from riskradar.adapters import dynamodb as dynamodb_adapters
from riskradar.adapters.dynamodb import (
    MAX_REPORTERS_KEPT,
    PendingRecord,
    RecordState,
    ReportStore,
    SignalState,
    SubjectReport,
    SubjectReporterCounter,
    ThemeActivityCounter,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        resource.create_table(
            TableName="subjects",
            KeySchema=[{"AttributeName": "subject_hash", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "subject_hash", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        resource.create_table(
            TableName="activity",
            KeySchema=[
                {"AttributeName": "theme_id", "KeyType": "HASH"},
                {"AttributeName": "hour", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "theme_id", "AttributeType": "S"},
                {"AttributeName": "hour", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        resource.create_table(
            TableName="reports",
            KeySchema=[{"AttributeName": "report_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "report_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield resource


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_counts_distinct_reporters_per_subject_within_the_window(dynamodb: Any) -> None:
    counter = SubjectReporterCounter(dynamodb, "subjects")
    first = counter.record_and_count(
        [
            SubjectReport("seller-a", "alice", at(0)),
            SubjectReport("seller-a", "alice", at(0.1)),  # the same reporter twice counts once
            SubjectReport("seller-a", "bob", at(0.2)),
            SubjectReport("seller-b", "carol", at(0.3)),
        ],
        window=WEEK,
    )
    assert first == {"seller-a": 2, "seller-b": 1}

    later = counter.record_and_count([SubjectReport("seller-a", "dave", at(3))], window=WEEK)
    assert later == {"seller-a": 3}  # alice and bob are still inside the 7 days

    much_later = counter.record_and_count([SubjectReport("seller-a", "erin", at(9))], window=WEEK)
    assert much_later == {"seller-a": 2}  # dave (day 3) and erin; alice and bob fell out


def test_expired_reporters_are_pruned_from_the_subject_item(dynamodb: Any) -> None:
    counter = SubjectReporterCounter(dynamodb, "subjects")
    counter.record_and_count([SubjectReport("seller-z", f"old-{i}", at(0)) for i in range(60)], window=WEEK)
    counts = counter.record_and_count([SubjectReport("seller-z", "new", at(30))], window=WEEK)
    assert counts == {"seller-z": 1}
    item = dynamodb.Table("subjects").get_item(Key={"subject_hash": "seller-z"})["Item"]
    reporters = [name for name in item if name.startswith("r_")]
    assert len(reporters) == 11  # 50 of the 60 expired ones pruned in one go, the rest next time


def test_a_subject_keeps_its_latest_reporters_only_and_never_outgrows_an_item(dynamodb: Any) -> None:
    """Thousands of reporters against one subject: the item stays far below DynamoDB's 400 KB and
    every batch naming the subject still counts (the score saturates at 8 reporters anyway)."""
    counter = SubjectReporterCounter(dynamodb, "subjects", clock=lambda: at(1))
    for batch in range(12):
        reports = [
            SubjectReport("seller-hot", f"reporter-{batch}-{i:03d}", at(batch / 100)) for i in range(100)
        ]
        counts = counter.record_and_count(reports, window=WEEK)
        assert counts["seller-hot"] - 100 <= MAX_REPORTERS_KEPT
    item = dynamodb.Table("subjects").get_item(Key={"subject_hash": "seller-hot"})["Item"]
    reporters = [name.removeprefix("r_") for name in item if name.startswith("r_")]
    assert len(reporters) == MAX_REPORTERS_KEPT
    assert not any(name.startswith(("reporter-0-", "reporter-1-")) for name in reporters)  # the oldest went


def test_a_backdated_report_does_not_pull_the_subjects_expiry_into_the_past(dynamodb: Any) -> None:
    counter = SubjectReporterCounter(dynamodb, "subjects", clock=lambda: at(10))
    counter.record_and_count([SubjectReport("seller-late", f"r-{i}", at(10)) for i in range(5)], window=WEEK)
    counter.record_and_count([SubjectReport("seller-late", "r-old", at(2))], window=WEEK)  # redriven late
    item = dynamodb.Table("subjects").get_item(Key={"subject_hash": "seller-late"})["Item"]
    assert int(item["expires_at"]) == int((at(10) + WEEK).timestamp())


def test_report_store_finds_existing_reports_in_batches(dynamodb: Any) -> None:
    store = ReportStore(dynamodb, "reports")
    store.put_many([{"report_id": f"r-{i}", "score": i} for i in range(0, 250, 2)])
    found = store.existing(f"r-{i}" for i in range(250))
    assert found == {f"r-{i}" for i in range(0, 250, 2)}
    store.put_many([{"report_id": "r-0", "score": 99}])  # the same key again: still one record
    assert store.get("r-0") == {"report_id": "r-0", "score": 99}


RECORD = {
    "report_id": "r-pending",
    "business": "shop",
    "priority": "high",
    "score": 57,
    "theme_similarity": Decimal("0.8123"),
    "amount_value": Decimal("120.50"),
    "reasons": [{"factor": "money_at_risk", "points": 20, "detail": "USD 120.50 at risk"}],
    "redactions": {"EMAIL": 1},
    "text": "seller took my money — «never shipped»",
}


def test_a_pending_record_reads_back_exactly_with_its_signal(dynamodb: Any) -> None:
    store = ReportStore(dynamodb, "reports")
    assert store.claim_pending([PendingRecord(RECORD, '{"report_id": "r-pending"}', T0)]) == set()

    pending = store.pending(["r-pending", "r-missing"])

    assert pending == {"r-pending": PendingRecord(RECORD, '{"report_id": "r-pending"}', T0)}
    assert store.states(["r-pending"]) == {"r-pending": RecordState(SignalState.PENDING, T0)}
    # Stored by an earlier triage version without a content digest: its state has none either.
    # Compact until sent: the record is one attribute, not twenty.
    stored = store.get("r-pending")
    assert stored is not None
    assert set(stored) == {"report_id", "signal_state", "signal_pending_since", "pending"}


def test_a_pending_item_is_compressed_below_one_write_unit(dynamodb: Any) -> None:
    # Claimed in a transaction, a pending item costs 2 write units per KB: under 1 KB it costs what
    # a plain put of the uncompressed item did. A triage record of a Banking77 report, as stored.
    record = RECORD | {
        "reporter_role": "user",
        "reporter_hash": "761f21cfd8e50969476f9dcee95f214b",
        "subject_type": "seller",
        "subject_hash": "622de6f821b9e2c963651a00611e8958",
        "text": "I would like to track a card sent to me, how do I do that?",
        "created_at": "2026-11-22T23:35:26.332830+00:00",
        "received_at": "2026-11-29T17:02:11.969331+00:00",
        "triaged_at": "2026-11-29T17:02:18.299195+00:00",
        "theme_id": "thm-3f9a1c2b7d4e",
        "content_digest": "45bfe7761b69da39981d038aa5c09ebf",
        "expires_at": 1826926526,
        "category": "card_arrival",
        "locale": "en-GB",
    }
    signal = json.dumps(
        {
            "schema_version": "1",
            "report_id": "r-pending",
            "business": "shop",
            "priority": "high",
            "score": 57,
            "reasons": RECORD["reasons"],
            "theme_id": "thm-3f9a1c2b7d4e",
            "theme_label": "card, arrive, track",
            "subject_type": "seller",
            "subject_hash": "622de6f821b9e2c963651a00611e8958",
            "reporter_role": "user",
            "amount": {"value": "120.50", "currency": "USD"},
            "created_at": "2026-11-22T23:35:26.332830Z",
            "triaged_at": "2026-11-29T17:02:18.299195Z",
        }
    )
    uncompressed = len(json.dumps(TypeSerializer().serialize(record)["M"])) + len(signal)
    assert uncompressed > 1024  # else the case would prove nothing
    store = ReportStore(dynamodb, "reports")
    assert store.claim_pending([PendingRecord(record, signal, T0)]) == set()

    stored = store.get("r-pending")
    assert stored is not None
    packed = bytes(stored["pending"])
    size = sum(len(name) + len(str(value)) for name, value in stored.items() if name != "pending")
    assert size + len("pending") + len(packed) < 1024
    assert store.pending(["r-pending"]) == {"r-pending": PendingRecord(record, signal, T0)}


def test_a_pending_record_written_as_a_string_by_the_previous_version_is_still_resent(dynamodb: Any) -> None:
    store = ReportStore(dynamodb, "reports")
    serialized = json.dumps(TypeSerializer().serialize(RECORD)["M"])
    store.put_many(
        [
            {
                "report_id": "r-pending",
                "signal_state": "pending",
                "signal_pending_since": T0.isoformat(),
                "signal_body": '{"report_id": "r-pending"}',
                "pending_record": serialized,
            }
        ]
    )

    assert store.pending(["r-pending"]) == {
        "r-pending": PendingRecord(RECORD, '{"report_id": "r-pending"}', T0)
    }


def test_a_pending_record_expires_as_its_record_will(dynamodb: Any) -> None:
    """A record left pending (its report dead-lettered, never redriven) is not kept for good: the
    TTL attribute is at the top level of the compact item, where DynamoDB reads it."""
    store = ReportStore(dynamodb, "reports")
    expires_at = int((T0 + timedelta(days=365)).timestamp())
    record = RECORD | {"expires_at": expires_at}
    assert store.claim_pending([PendingRecord(record, "{}", T0)]) == set()

    stored = store.get("r-pending")
    assert stored is not None
    assert stored["expires_at"] == Decimal(expires_at)  # a Number: DynamoDB's TTL ignores any other type
    assert store.pending(["r-pending"]) == {"r-pending": PendingRecord(record, "{}", T0)}


def test_a_sent_record_is_not_pending(dynamodb: Any) -> None:
    store = ReportStore(dynamodb, "reports")
    assert store.claim_pending([PendingRecord(RECORD, "{}", T0)]) == set()
    store.put_many([RECORD | {"signal_state": "sent", "signal_message_id": "m-1"}])

    assert store.pending(["r-pending"]) == {}
    assert store.states(["r-pending"]) == {"r-pending": RecordState(SignalState.SENT)}


def test_a_report_with_a_record_cannot_be_claimed_again_and_the_others_of_its_batch_are(
    dynamodb: Any,
) -> None:
    """Two invocations triaging one report at once: the first claim wins, whatever the second
    decided; the second's other reports are claimed all the same."""
    store = ReportStore(dynamodb, "reports")
    first = PendingRecord(RECORD | {"score": 47}, '{"priority": "normal"}', T0)
    assert store.claim_pending([first]) == set()
    others = [
        PendingRecord(RECORD | {"report_id": f"r-{i}"}, f'{{"report_id": "r-{i}"}}', T0) for i in range(30)
    ]
    second = PendingRecord(RECORD | {"score": 55}, '{"priority": "high"}', T0)

    assert store.claim_pending([*others[:10], second, *others[10:]]) == {"r-pending"}

    assert store.pending(["r-pending"]) == {"r-pending": first}
    assert set(store.pending([f"r-{i}" for i in range(30)])) == {f"r-{i}" for i in range(30)}
    store.put_many([RECORD | {"signal_state": "sent", "signal_message_id": "m-1"}])
    assert store.claim_pending([second]) == {"r-pending"}  # a sent record is no less taken


def test_a_batch_is_claimed_in_transactions_of_at_most_100_puts(dynamodb: Any) -> None:
    calls: list[int] = []

    def count_actions(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["TransactItems"]))

    events = dynamodb.meta.client.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", count_actions)
    store = ReportStore(dynamodb, "reports")
    store.claim_pending([PendingRecord(RECORD | {"report_id": "r-7"}, "{}", T0)])
    calls.clear()
    batch = [PendingRecord(RECORD | {"report_id": f"r-{n}"}, "{}", T0) for n in range(150)]

    assert store.claim_pending(batch) == {"r-7"}

    events.unregister("provide-client-params.dynamodb.TransactWriteItems", count_actions)
    # r-7 cancels the first transaction of 100; it goes again without it, then the last 50.
    assert calls == [100, 99, 50]
    assert set(store.pending([f"r-{n}" for n in range(150)])) == {f"r-{n}" for n in range(150)}


def cancelled(*codes: str) -> dict[str, Any]:
    """A TransactionCanceledException as DynamoDB answers it, one reason per action."""
    return {
        "service_error_code": "TransactionCanceledException",
        "service_message": "Transaction cancelled",
        "http_status_code": 400,
        "modeled_fields": {"CancellationReasons": [{"Code": code} for code in codes]},
    }


def test_a_report_claimed_in_another_transaction_is_tried_again_then_left_to_a_retry(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto never reports a TransactionConflict: DynamoDB's answers are stubbed here.
    monkeypatch.setattr("riskradar.adapters.dynamodb.time.sleep", lambda _: None)
    store = ReportStore(dynamodb, "reports")
    batch = [PendingRecord(RECORD | {"report_id": f"r-{n}"}, "{}", T0) for n in range(3)]
    with Stubber(dynamodb.meta.client) as stub:
        stub.add_client_error("transact_write_items", **cancelled("None", "TransactionConflict", "None"))
        stub.add_response("transact_write_items", {})
        assert store.claim_pending(batch) == set()  # the conflict was over on the second try
        stub.assert_no_pending_responses()

        stub.add_client_error(
            "transact_write_items", **cancelled("TransactionConflict", "ConditionalCheckFailed", "None")
        )
        for _ in range(3):
            stub.add_client_error("transact_write_items", **cancelled("TransactionConflict", "None"))
        stub.add_response("transact_write_items", {})
        assert store.claim_pending(batch) == {"r-0", "r-1"}  # r-1 is held; r-0 still contended
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "answer",
    [
        cancelled("None", "ThrottlingError", "None"),
        cancelled("None", "None", "None"),
        cancelled("ConditionalCheckFailed"),  # not a reason for every action
        {"service_error_code": "ProvisionedThroughputExceededException", "http_status_code": 400},
    ],
)
def test_a_claim_dynamodb_refused_for_another_reason_fails_the_batch(
    dynamodb: Any, answer: dict[str, Any]
) -> None:
    batch = [PendingRecord(RECORD | {"report_id": f"r-{n}"}, "{}", T0) for n in range(3)]
    with Stubber(dynamodb.meta.client) as stub:
        stub.add_client_error("transact_write_items", **answer)
        with pytest.raises(ClientError):
            ReportStore(dynamodb, "reports").claim_pending(batch)


def test_a_record_written_pending_in_full_by_an_earlier_version_is_still_resent(dynamodb: Any) -> None:
    store = ReportStore(dynamodb, "reports")
    pending_since = {"signal_pending_since": T0.isoformat(), "signal_body": "{}"}
    store.put_many([RECORD | {"signal_state": "pending"} | pending_since])

    assert store.pending(["r-pending"]) == {"r-pending": PendingRecord(RECORD, "{}", T0)}


def test_theme_hour_counts_count_each_report_once_when_a_batch_is_retried(dynamodb: Any) -> None:
    counter = ThemeActivityCounter(dynamodb, "activity")
    hour = T0.replace(minute=0)
    first = counter.add({("thm-a", hour): ["r1", "r2"], ("novelty", hour): ["r3"]})
    assert first == {("thm-a", hour): 2, ("novelty", hour): 1}
    # The same batch again (a retry after the counters were written), plus one new report.
    again = counter.add({("thm-a", hour): ["r1", "r2", "r4"], ("novelty", hour): ["r3"]})
    assert again == {("thm-a", hour): 3, ("novelty", hour): 1}
    assert counter.add({("thm-a", hour + timedelta(hours=1)): ["r5"]}) == {
        ("thm-a", hour + timedelta(hours=1)): 1
    }


def test_a_batch_of_many_theme_hours_is_counted_at_once_each_bucket_its_own_total(dynamodb: Any) -> None:
    # A batch of 100 reports touches dozens of theme-hours: they are counted concurrently (one round
    # trip each), and every total must still land on its own bucket.
    threads: set[str] = set()
    events = dynamodb.meta.client.meta.events

    def record_thread(**_: Any) -> None:
        threads.add(threading.current_thread().name)

    events.register("before-call.dynamodb.UpdateItem", record_thread)
    counter = ThemeActivityCounter(dynamodb, "activity")
    hour = T0.replace(minute=0)
    members = {
        (f"thm-{n}", hour + timedelta(hours=n % 3)): [f"r{n}-{i}" for i in range(n + 1)] for n in range(30)
    }

    totals = counter.add(members)

    events.unregister("before-call.dynamodb.UpdateItem", record_thread)
    assert totals == {bucket: len(report_ids) for bucket, report_ids in members.items()}
    assert len(threads) > 1


@pytest.fixture
def racy_first_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Threads that meet a new client's first errors at once, as in a new container's first batch.
    botocore builds a client's error classes on first use without a lock; frequent thread switches
    and a slightly slower build (as on a busy CPU) make two threads build two classes often."""
    build = botocore.errorfactory.ClientExceptionsFactory._create_client_exceptions

    def slow_build(self: Any, model: Any) -> Any:
        built = build(self, model)
        threading.Event().wait(0.002)
        return built

    monkeypatch.setattr(
        botocore.errorfactory.ClientExceptionsFactory, "_create_client_exceptions", slow_build
    )
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_writes_refused_at_once_in_a_new_containers_threads_are_told_apart(
    dynamodb: Any, racy_first_errors: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Buckets at their cap and reports already claimed: every concurrent write is refused by its
    # condition. Telling that by the error's class let one thread's refusal escape another's except
    # clause and fail the batch (14 of 60 fresh clients in a review).
    monkeypatch.setattr(dynamodb_adapters, "_FINGERPRINTS_PER_BUCKET", 1)
    buckets = {(f"thm-{n}", T0): [f"new-{n}"] for n in range(8)}
    ThemeActivityCounter(dynamodb, "activity").add({bucket: ["old"] for bucket in buckets})
    claimed = [PendingRecord(RECORD | {"report_id": f"r-{n}"}, "{}", T0) for n in range(8)]
    ReportStore(dynamodb, "reports").claim_pending(claimed)

    for _ in range(20):
        fresh = boto3.session.Session(region_name="us-east-1").resource("dynamodb")  # a new container
        assert ThemeActivityCounter(fresh, "activity").add(buckets)[("thm-0", T0)] >= 2
        fresh = boto3.session.Session(region_name="us-east-1").resource("dynamodb")
        assert ReportStore(fresh, "reports").claim_pending(claimed) == {f"r-{n}" for n in range(8)}


def test_past_its_fingerprint_cap_a_bucket_still_counts_reports(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_adapters, "_FINGERPRINTS_PER_BUCKET", 3)
    counter = ThemeActivityCounter(dynamodb, "activity")
    key = ("thm-big", T0)
    assert counter.add({key: ["a", "b", "c"]}) == {key: 3}
    assert counter.add({key: ["d", "e"]}) == {key: 5}
    item = dynamodb.Table("activity").get_item(Key={"theme_id": "thm-big", "hour": "2026-11-01T12"})["Item"]
    assert (len(item["report_fingerprints"]), item["overflow"]) == (3, 2)


def test_each_subject_costs_one_update_whether_it_is_new_or_not(dynamodb: Any) -> None:
    calls: list[str] = []
    events = dynamodb.meta.client.meta.events
    events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    counter = SubjectReporterCounter(dynamodb, "subjects")
    new_subjects = [SubjectReport(f"seller-{i}", f"r-{i}", at(0)) for i in range(12)]

    assert counter.record_and_count(new_subjects, window=WEEK) == {f"seller-{i}": 1 for i in range(12)}
    assert calls == ["UpdateItem"] * 12
    calls.clear()
    again = counter.record_and_count([SubjectReport("seller-3", "r-x", at(1))], window=WEEK)
    assert again == {"seller-3": 2}
    assert calls == ["UpdateItem"]


def test_a_report_named_twice_more_than_100_records_apart_is_still_ours(dynamodb: Any) -> None:
    store = ReportStore(dynamodb, "reports")
    batch = [PendingRecord(RECORD | {"report_id": f"r-{n}"}, "{}", T0) for n in range(150)]
    again = PendingRecord(RECORD | {"report_id": "r-5", "score": 58}, "{}", T0)

    assert store.claim_pending([*batch, again]) == set()  # no other invocation holds r-5

    assert store.pending(["r-5"])["r-5"].record["score"] == 58
