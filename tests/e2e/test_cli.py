"""The `riskradar` command against the embedded local stack, over real HTTP: `replay --api-url`,
`recluster` and `digest` through a running stack's admin endpoint and strategist API, and their
errors (wrong URL, refused token, a deployed stack that cannot run the function) as one line."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskradar import cli
from riskradar.local import LocalStack
from riskradar.local.admin import AdminServer, ServeFile
from tests.e2e.test_recluster_pipeline import banking77, post, report

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = cli.main(list(arguments))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def serve_file(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """What `riskradar serve` hands to other commands, around the session's stack."""
    folder = tmp_path_factory.mktemp("serve")
    issuer_file = stack.write_issuer_file(folder / "issuer.json")
    with AdminServer(stack) as admin:
        serve = ServeFile(
            pid=os.getpid(),
            api_url=stack.api_url,
            admin_url=admin.url,
            admin_token=admin.token,
            issuer_file=str(issuer_file),
            aws_endpoint=stack.endpoint_url,
            region=stack.region,
            stack_name=stack.stack_name,
        )
        yield serve.write(folder / "serve.json")


def complaints_csv(tmp_path: Path, prefix: str) -> Path:
    recent = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    lines = [
        "body,when,biz",
        f'"My parcel never arrived, {prefix}",{recent},shop',
        f'"Charged twice for one order, {prefix}",{recent},payments',
        f'"The stream froze and my gift vanished, {prefix}",{recent},live',
        f'"A clock far ahead, {prefix}",{future},shop',
        f'"A business nobody runs, {prefix}",{recent},groceries',
    ]
    path = tmp_path / f"{prefix}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_replay_to_an_api_reports_accepted_rejected_with_reasons_then_duplicates(
    stack: LocalStack, intake_queue: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = complaints_csv(tmp_path, f"cli-{datetime.now(UTC):%H%M%S%f}")
    arguments = [
        "replay", str(path), "--text-column", "body", "--time-column", "when",
        "--business-column", "biz", "--batch-size", "2", "--api-url", stack.api_url,
    ]  # fmt: skip
    status, out, _ = run_cli(capsys, *arguments)
    assert status == 0
    assert "accepted         3" in out
    assert "rejected         2" in out
    assert "created_at: must not be more than 5 minutes in the future" in out
    assert "business: must be one of: ads, live, payments, shop" in out
    assert stack.queue_depth("IntakeQueue") == 3

    status, out, _ = run_cli(capsys, *arguments)
    assert status == 0
    assert "duplicate        3" in out
    assert stack.queue_depth("IntakeQueue") == 3  # nothing enqueued twice


def test_replay_to_a_wrong_url_stops_at_the_first_refusal(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"complaint {i}"}) for i in range(30)), encoding="utf-8")
    status, _, err = run_cli(
        capsys, "replay", str(path), "--api-url", f"{stack.api_url}/prod", "--batch-size", "5"
    )
    assert status == 2
    assert f"POST {stack.api_url}/prod/v1/reports/batch was refused: HTTP 404" in err


@pytest.mark.slow  # triage embeds the reports first
def test_recluster_runs_the_scheduled_job_of_the_running_stack(
    stack: LocalStack, serve_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = banking77(per_topic=15)
    reports = [
        report(text, minutes_ago=30 + i) for i, text in enumerate(t for ts in texts.values() for t in ts)
    ]
    post(stack.api_url, reports)
    stack.run_until_idle(timeout_s=600)
    status, out, _ = run_cli(capsys, "recluster", "--serve-file", str(serve_file), "--json")
    assert status == 0
    first = json.loads(out)
    assert first["reports"] >= len(reports)
    assert first["themes"] >= 1
    status, out, _ = run_cli(capsys, "recluster", "--serve-file", str(serve_file))
    assert status == 0
    assert f"snapshot v{first['snapshot_version'] + 1}: " in out
    assert f"from {first['reports']:,} reports" in out


def test_the_admin_endpoint_wants_the_serve_files_token(
    serve_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve = ServeFile.read(serve_file)
    forged = dataclasses.replace(serve, admin_token="not-the-token")
    status, _, err = run_cli(capsys, "recluster", "--serve-file", str(forged.write(tmp_path / "forged.json")))
    assert status == 2
    assert "HTTP 401: missing or wrong admin token" in err


def test_digest_is_written_in_the_format_asked_and_refresh_publishes_one(
    serve_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "digest.html"
    status, _, err = run_cli(capsys, "digest", "--serve-file", str(serve_file), "--refresh", "-o", str(html))
    assert status == 0, err
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    as_json = tmp_path / "digest.json"
    status, _, _ = run_cli(capsys, "digest", "--serve-file", str(serve_file), "-o", str(as_json))
    assert status == 0
    assert isinstance(json.loads(as_json.read_text(encoding="utf-8")), dict)
    status, out, _ = run_cli(capsys, "digest", "--serve-file", str(serve_file), "--format", "md", "-o", "-")
    assert status == 0
    assert out.startswith("**Theme digest**")


def test_digest_with_a_refused_token_says_so(
    stack: LocalStack, serve_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "d.html"
    status, _, err = run_cli(
        capsys, "digest", "--api-url", stack.api_url, "--token", "not.a.token", "-o", str(output)
    )
    assert status == 2
    assert "the API refused the token (HTTP 401" in err
    assert not output.exists()
    foreign = stack.issue_token("mallory", audience="another-app")
    status, _, err = run_cli(
        capsys, "digest", "--api-url", stack.api_url, "--token", foreign, "-o", str(output)
    )
    assert (status, "refused the token" in err) == (2, True)


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning")
def test_recluster_on_a_deployed_stack_resolves_the_function_and_reports_the_failure(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto's CloudFormation names the function; moto cannot run it (that needs Docker), and the
    command says so in one line instead of a traceback."""
    aws = ["--endpoint-url", stack.endpoint_url, "--region", stack.region]
    status, _, err = run_cli(capsys, "recluster", "--stack-name", stack.stack_name, *aws)
    assert status == 2
    assert err.startswith(f"riskradar: {stack.physical_id('ReclusterFunction')}: AWS refused:")
    status, _, err = run_cli(capsys, "recluster", "--stack-name", "no-such-stack", *aws)
    assert status == 2
    assert "ReclusterFunction of stack no-such-stack: AWS refused:" in err


@pytest.mark.slow  # its own local stack, and triage embeds the reports
def test_replay_without_an_api_url_runs_its_own_stack_through_triage_and_recluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = banking77(per_topic=10)
    path = tmp_path / "banking.jsonl"
    rows = [{"message": text, "topic": topic} for topic, batch in texts.items() for text in batch]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    arguments = [
        "replay",
        str(path),
        "--text-column",
        "message",
        "--label-column",
        "topic",
        "--batch-size",
        "25",
    ]
    status, out, _ = run_cli(capsys, *arguments)
    assert status == 0
    assert f"{len(rows)} reports from banking.jsonl through a local stack" in out
    assert f"themes from {len(rows)} reports" in out
    assert f"accepted   {len(rows):>7,}" in out
    assert f"triaged    {len(rows):>7,}" in out
    assert "top signals" in out


# -- invoke: one handler, one sample event, a stack of its own ------------------------------------


def test_invoke_runs_a_handler_on_a_sample_event_and_prints_its_response(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run_cli(capsys, "invoke", "intake", str(ROOT / "events" / "intake_post_report.json"))
    assert status == 0
    response = json.loads(out)
    assert response["statusCode"] == 202
    sample = json.loads(json.loads((ROOT / "events" / "intake_post_report.json").read_text())["body"])
    assert json.loads(response["body"]) == {"report_id": sample["report_id"], "status": "accepted"}


def test_invoke_with_logs_shows_the_functions_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    # The sample batch holds one record that is not an intake message: it fails alone, and says so.
    status, out, err = run_cli(
        capsys, "invoke", "TriageFunction", str(ROOT / "events" / "triage_intake_queue_batch.json"), "--logs"
    )
    assert status == 0
    failed = json.loads(out)["batchItemFailures"]
    assert len(failed) == 1
    log_lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    warnings = [line for line in log_lines if line["level"] == "WARNING"]
    assert warnings, err
    assert warnings[0]["function_name"].startswith("riskradar-triage-invoke-")


def test_invoke_refuses_an_unknown_function_or_an_event_that_is_not_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run_cli(capsys, "invoke", "payroll", str(ROOT / "events" / "intake_post_report.json"))
    assert status == 2
    assert "no function 'payroll'" in err
    assert "IntakeFunction" in err
    broken = tmp_path / "event.json"
    broken.write_text("{not json", encoding="utf-8")
    status, _, err = run_cli(capsys, "invoke", "intake", str(broken))
    assert status == 2
    assert "is not JSON" in err
