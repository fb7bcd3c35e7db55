"""Dead letters with their reasons, `riskradar dlq list` and `riskradar dlq redrive`, on the local stack.

A missing permission (the fault plan denies SendMessageBatch to triage) sends good reports to the
intake DLQ with their reason, next to a poison message; once the permission is back ("the cause
fixed"), a redrive stores and signals each report exactly once, and the poison returns to the DLQ.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from riskradar.adapters.s3 import EmbeddingShard, EmbeddingShardStore, JsonStateStore
from riskradar.cli import main
from riskradar.embedding import MINILM_DIMENSION
from riskradar.local import LocalStack
from riskradar.local.admin import ServeFile
from riskradar.local.faults import FaultPlan, FunctionFaults
from riskradar.models import ShardNotice
from tests.helpers import drain, stored_report

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    # moto's CloudFormation warns about the resources it skipped whenever `dlq` lists the stack.
    pytest.mark.filterwarnings(r"ignore:Tried to parse .* not supported by moto"),
]
SIGNAL_QUEUES = ("SignalCriticalQueue", "SignalHighQueue", "SignalNormalQueue")
TEXTS = [
    "Paid the seller and the parcel never arrived.",
    "Someone used my card for purchases I never made.",
    "The creator asked me to pay outside the platform with gift cards.",
]


@pytest.fixture
def endpoint_file(stack: LocalStack, tmp_path: Path) -> Path:
    """What `riskradar serve` writes, for this test's stack (no admin endpoint: dlq needs none)."""
    serve = ServeFile(
        pid=os.getpid(),
        api_url=stack.api_url,
        admin_url="http://127.0.0.1:1",
        admin_token="unused-by-dlq",
        issuer_file=None,
        aws_endpoint=stack.endpoint_url,
        region=stack.region,
        stack_name=stack.stack_name,
    )
    return serve.write(tmp_path / "serve.json")


@pytest.fixture
def quiet(stack: LocalStack) -> Any:
    for queue in ("IntakeQueue", "IntakeDeadLetterQueue", "NoveltyDeadLetterQueue", *SIGNAL_QUEUES):
        drain(stack, queue)
    yield
    stack.inject_faults(None)


def dlq(capsys: pytest.CaptureFixture[str], endpoint_file: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["dlq", *args, "--serve-file", str(endpoint_file)])
    return code, capsys.readouterr().out


def listed(capsys: pytest.CaptureFixture[str], endpoint_file: Path) -> dict[str, Any]:
    code, out = dlq(capsys, endpoint_file, "list", "--queue", "intake", "--json")
    assert code == 0
    [intake] = json.loads(out)
    assert intake["queue"] == "intake"
    return dict(intake)


@pytest.mark.usefixtures("quiet")
def test_failing_reports_reach_the_dlq_with_reasons_and_a_redrive_stores_them_once(
    stack: LocalStack, endpoint_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.inject_faults(
        FaultPlan(functions={"TriageFunction": FunctionFaults(denied=frozenset({"sqs:SendMessageBatch"}))})
    )
    reports = [
        {
            "report_id": f"dlq-{uuid.uuid4()}",
            "business": "shop",
            "reporter": {"id": f"dlq-user-{n}", "role": "user"},
            "text": text,
            "created_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        }
        for n, text in enumerate(TEXTS)
    ]
    response = requests.post(f"{stack.api_url}/v1/reports/batch", json={"reports": reports}, timeout=30)
    assert response.json()["accepted"] == len(reports)
    poison_id = stack.client("sqs").send_message(
        QueueUrl=stack.physical_id("IntakeQueue"), MessageBody="{not json"
    )["MessageId"]

    stack.run_until_idle(timeout_s=180)

    assert all(stored_report(stack, r["report_id"]) is None for r in reports)
    before = listed(capsys, endpoint_file)
    assert before["visible"] == len(reports) + 1
    reasons = {m["source_message_id"]: m for m in before["messages"]}
    assert reasons[poison_id]["reason"].startswith("not a valid intake message")
    others = [m for mid, m in reasons.items() if mid != poison_id]
    assert len(others) == len(reports)
    for message in others:
        assert "AccessDenied" in message["reason"]
        assert "SendMessageBatch" in message["reason"]
    for message in before["messages"]:
        assert message["receive_count"] == 5  # IntakeQueue's maxReceiveCount, read from the queue
        assert message["first_received_at"] is not None
        assert message["source_queue"].endswith(":riskradar-intake-dev")
    # Listing consumed nothing.
    assert listed(capsys, endpoint_file)["visible"] == len(reports) + 1

    stack.inject_faults(None)  # the permission is back
    code, out = dlq(capsys, endpoint_file, "redrive", "--queue", "intake", "--dry-run")
    assert code == 0
    assert "would move 4" in out
    assert listed(capsys, endpoint_file)["visible"] == len(reports) + 1

    code, out = dlq(capsys, endpoint_file, "redrive", "--queue", "intake")
    assert code == 0, out
    assert "moved 4" in out
    stack.run_until_idle(timeout_s=180)

    signals = Counter(s["report_id"] for queue in SIGNAL_QUEUES for s in drain(stack, queue))
    assert signals == Counter(r["report_id"] for r in reports)
    for report in reports:
        record = stored_report(stack, report["report_id"])
        assert record is not None
        assert record["signal_state"] == "sent"
        assert "signal_body" not in record
    after = listed(capsys, endpoint_file)
    assert [m["reason"][:26] for m in after["messages"]] == ["not a valid intake message"]
    assert after["messages"][0]["source_message_id"] != poison_id  # redriven: a new message, failed again


def intake_message(stack: LocalStack, report: dict[str, Any]) -> dict[str, Any]:
    """The message intake enqueued for `report` (taken off the queue before triage sees it)."""
    assert requests.post(f"{stack.api_url}/v1/reports", json=report, timeout=30).status_code == 202
    sqs = stack.client("sqs")
    url = stack.physical_id("IntakeQueue")
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return dict(message)


def put_letter(stack: LocalStack, queue: str, body: str, attributes: dict[str, str], **fifo: str) -> None:
    stack.client("sqs").send_message(
        QueueUrl=stack.physical_id(queue),
        MessageBody=body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        **fifo,
    )


@pytest.mark.usefixtures("quiet")
def test_copies_of_one_dead_letter_are_redriven_once_and_max_bounds_a_redrive(
    stack: LocalStack, endpoint_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {
        "report_id": f"dlq-copies-{uuid.uuid4()}",
        "business": "payments",
        "reporter": {"id": "dlq-copies", "role": "user"},
        "text": "A payment left my account twice and the merchant will not refund it.",
    }
    message = intake_message(stack, report)
    intake_arn = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.physical_id("IntakeQueue"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    letter = {
        "business": "payments",
        "riskradar.dlq.reason": "batch not triaged: ThrottlingException",
        "riskradar.dlq.source-queue": intake_arn,
        "riskradar.dlq.source-message-id": message["MessageId"],
    }
    # Dead-lettered twice (the invocation that dead-lettered it crashed, and the retry did it again).
    put_letter(stack, "IntakeDeadLetterQueue", message["Body"], letter)
    put_letter(stack, "IntakeDeadLetterQueue", message["Body"], letter)
    for n in range(3):
        put_letter(stack, "IntakeDeadLetterQueue", f"poison {n}", {"riskradar.dlq.source-queue": intake_arn})

    code, out = dlq(capsys, endpoint_file, "redrive", "--queue", "intake", "--max", "2", "--dry-run")
    assert (code, out.splitlines()[0]) == (0, "intake: would move 2 message(s) back to their source queue")
    assert listed(capsys, endpoint_file)["visible"] == 5

    code, out = dlq(capsys, endpoint_file, "redrive", "--queue", "intake")
    assert code == 0, out
    assert out.splitlines()[0] == "intake: moved 4 message(s) back to their source queue"
    assert "1 further copies" in out
    stack.run_until_idle(timeout_s=120)

    signals = [s["report_id"] for queue in SIGNAL_QUEUES for s in drain(stack, queue)]
    assert signals == [report["report_id"]]
    record = stored_report(stack, report["report_id"])
    assert record is not None
    assert record["signal_state"] == "sent"
    assert (
        sorted(m["reason"][:26] for m in listed(capsys, endpoint_file)["messages"])
        == ["not a valid intake message"] * 3
    )


@pytest.mark.usefixtures("quiet")
def test_a_novelty_letter_goes_back_to_its_fifo_queue_and_is_observed(
    stack: LocalStack, endpoint_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = stack.physical_id("ArtifactsBucket")
    vector = np.random.default_rng(3).normal(size=(1, MINILM_DIMENSION)).astype(np.float32)
    now = datetime.now(UTC)
    key = EmbeddingShardStore(stack.client("s3"), bucket).write(
        EmbeddingShard(
            day=now.date(),
            report_ids=(f"novelty-redrive-{uuid.uuid4()}",),
            theme_ids=("",),
            created_at=np.array([now.timestamp()]),
            vectors=vector / np.linalg.norm(vector),
            texts=("a shard whose notice was dead-lettered",),
        )
    )
    notice = ShardNotice(shard_key=key, reports=1, novelty_pool_reports=1, written_at=now)
    put_letter(
        stack,
        "NoveltyDeadLetterQueue",
        notice.model_dump_json(),
        {"riskradar.dlq.reason": "NoSuchKey: the shard was not there yet"},
        MessageGroupId="embedding-shards",
        MessageDeduplicationId=uuid.uuid4().hex,
    )

    code, out = dlq(capsys, endpoint_file, "redrive", "--queue", "novelty")
    assert code == 0, out
    assert "moved 1" in out
    stack.run_until_idle(timeout_s=120)

    state = JsonStateStore(stack.client("s3"), bucket, "novelty/state.json").load()
    assert state is not None
    assert state.document is not None
    assert key in state.document["observed"]["shard_keys"]
    code, out = dlq(capsys, endpoint_file, "list", "--queue", "novelty", "--json")
    assert json.loads(out)[0]["visible"] == 0
