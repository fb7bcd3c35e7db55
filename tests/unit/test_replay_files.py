"""`riskradar replay FILE`: real files in a temporary folder, read as a user's exports are written,
and every unusable file refused with one line that says why — never a traceback."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskradar import cli
from riskradar.intake.validation import IntakePolicy, validate_report
from riskradar.replay import (
    Columns,
    DatasetError,
    ReplayPlan,
    SourceRow,
    read_rows,
    shift_to_end,
    synthesize_reports,
)

END = datetime(2026, 11, 28, tzinfo=UTC)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def refusal(path: Path, **options: object) -> str:
    with pytest.raises(DatasetError) as raised:
        read_rows(path, **options)  # type: ignore[arg-type]
    return str(raised.value)


# ---------------------------------------------------------------------------- reading


def test_a_csv_keeps_quoted_newlines_commas_and_a_spreadsheet_byte_order_mark(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "export.csv",
        '\ufeffbody,kind\r\n"line one\r\nline two, with a comma",parcel\r\n,empty\r\nsecond,card\r\n',
    )
    rows = read_rows(path, columns=Columns(text="body", label="kind"))
    assert rows == [
        SourceRow("line one\nline two, with a comma", label="parcel"),
        SourceRow("second", label="card"),
    ]


def test_tsv_and_jsonl_by_extension_and_by_format(tmp_path: Path) -> None:
    tsv = write(tmp_path, "a.tsv", "text\tlabel\nmy parcel, late\tparcel\n")
    assert read_rows(tsv, columns=Columns(label="label")) == [SourceRow("my parcel, late", "parcel")]
    lines = [{"message": "card stolen", "n": 1}, {"message": None}, {"message": "refund?"}]
    jsonl = write(tmp_path, "a.log", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    rows = read_rows(jsonl, columns=Columns(text="message"), file_format="jsonl")
    assert [row.text for row in rows] == ["card stolen", "refund?"]


def test_a_missing_column_is_named_with_what_the_file_has(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "body,when\nhello,2024-01-01\n")
    message = refusal(path, columns=Columns(text="body", time="created"))
    assert "no column 'created' for --time-column" in message
    assert "body, when" in message
    jsonl = write(tmp_path, "a.jsonl", '{"text": "a"}\n{"body": "b"}\n')
    assert "line 2 has no column 'text' for --text-column (it has: body)" in refusal(jsonl)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("latin1.csv", "text\ncaf\xe9 ferm\xe9\n".encode("latin-1"), "not UTF-8 text (byte 8)"),
        ("empty.csv", "", "the file is empty"),
        ("blank.jsonl", "\n  \n", "the file is empty"),
        ("header-only.csv", "text\n", "no rows with text in column 'text'"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": "unterminated\n', "line 2 is not JSON"),
        ("list.jsonl", '["text"]\n', "line 1 is not a JSON object"),
        ("huge-number.jsonl", '{"text": "a", "n": ' + "9" * 5000 + "}\n", "line 1 cannot be read"),
        (
            "quote.tsv",
            'text\tlabel\nseller left\tscam\n"trust me, he wrote\tscam\nparcel late\tparcel\n'
            'he said "soon"\tx\n',
            "line 5 holds a tab inside a field",
        ),
        (
            "huge.csv",
            "text\n" + "x" * 200_000 + "\n",
            "line 2 is not valid CSV (field larger than field limit",
        ),
    ],
)
def test_unusable_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    assert expected in refusal(write(tmp_path, name, content))


def test_a_folder_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert "no such file" in refusal(tmp_path / "nope.csv")
    assert "no such file" in refusal(tmp_path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # no zone: UTC
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("1714564800", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("1714564800000", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # milliseconds
        ("20240501", datetime(2024, 5, 1, tzinfo=UTC)),  # ISO 8601's basic format, not epoch seconds
        ("20240501T120000Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (1714564800.5, datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_times_in_the_usual_shapes(tmp_path: Path, value: object, expected: datetime) -> None:
    path = write(tmp_path, "t.jsonl", json.dumps({"text": "late parcel", "at": value}) + "\n")
    [row] = read_rows(path, columns=Columns(time="at"))
    assert row.created_at == expected


@pytest.mark.parametrize("value", ["yesterday", "", "2024-13-01", None, "nan", True, 10**400])
def test_a_time_that_is_not_one_is_refused_with_its_line(tmp_path: Path, value: object) -> None:
    path = write(
        tmp_path, "t.jsonl", '{"text": "a", "at": "2024-01-01"}\n' + json.dumps({"text": "b", "at": value})
    )
    message = refusal(path, columns=Columns(time="at"))
    assert "line 2: time" in message
    assert "neither ISO 8601" in message


# ---------------------------------------------------------------------------- reports from rows


def test_the_files_times_business_and_reporter_are_kept_and_reports_come_in_time_order() -> None:
    rows = [
        SourceRow("second complaint", created_at=END - timedelta(hours=1), business="live", reporter="r-9"),
        SourceRow("first complaint", created_at=END - timedelta(days=3)),
    ]
    reports = synthesize_reports(rows, ReplayPlan(end=END, id_prefix="file"))
    assert [r["text"] for r in reports] == ["first complaint", "second complaint"]
    assert [r["created_at"] for r in reports] == ["2026-11-25T00:00:00Z", "2026-11-27T23:00:00Z"]
    assert reports[1]["business"] == "live"
    assert reports[1]["reporter"]["id"] == "r-9"
    assert [r["report_id"] for r in reports] == ["file-000000", "file-000001"]
    policy = IntakePolicy(allowed_businesses=frozenset({"shop", "live", "payments", "ads"}))
    for report in reports:
        validate_report(report, policy, now=END)


def test_a_column_added_changes_only_what_it_names() -> None:
    plain = [SourceRow(f"complaint {i}") for i in range(50)]
    with_reporters = [SourceRow(f"complaint {i}", reporter=f"file-reporter-{i}") for i in range(50)]
    first = synthesize_reports(plain, ReplayPlan(end=END))
    second = synthesize_reports(with_reporters, ReplayPlan(end=END))
    for a, b in zip(first, second, strict=True):
        assert b["reporter"]["id"].startswith("file-reporter-")
        assert {**a, "reporter": None} == {**b, "reporter": None}
        assert a["reporter"]["role"] == b["reporter"]["role"]


def test_shift_to_end_keeps_the_spacing() -> None:
    rows = [SourceRow("a", created_at=datetime(2019, 1, 1, tzinfo=UTC)), SourceRow("b")]
    rows.append(SourceRow("c", created_at=datetime(2019, 1, 3, tzinfo=UTC)))
    shifted = shift_to_end(rows, END)
    assert [row.created_at for row in shifted] == [END - timedelta(days=2), None, END]


# ---------------------------------------------------------------------------- the command's errors


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    status = cli.main(list(arguments))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.err


def test_replay_refuses_a_bad_file_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "c.csv", "body\nhello\n")
    status, err = run_cli(capsys, "replay", str(path), "--api-url", "http://127.0.0.1:9")
    assert status == 2
    assert err.strip() == (f"riskradar: {path}: no column 'text' for --text-column (the header has: body)")


@pytest.mark.parametrize(
    "url",
    ["localhost:8080", "ftp://example.com", "http://", "not a url", "http://[::1", "http://127.0.0.1:99999"],
)
def test_replay_refuses_what_is_not_an_api_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    path = write(tmp_path, "c.csv", "text\nhello\n")
    status, err = run_cli(capsys, "replay", str(path), "--api-url", url)
    assert status == 2
    assert "is not an API URL" in err


def test_replay_says_when_nothing_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = write(tmp_path, "c.csv", "text\nhello\n")
    status, err = run_cli(capsys, "replay", str(path), "--api-url", f"http://127.0.0.1:{port}")
    assert status == 2
    assert f"cannot reach http://127.0.0.1:{port}/v1/reports/batch" in err
    assert "refused" in err.lower()


def test_replay_options_that_contradict_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "c.csv", "text\nhello\n")
    status, err = run_cli(capsys, "replay", str(path), "--shift-to-now")
    assert (status, "--shift-to-now moves the file's times" in err) == (2, True)
    status, err = run_cli(capsys, "replay", str(path), "--api-url", "http://127.0.0.1:9", "--recluster")
    assert (status, "--recluster is for the local stack" in err) == (2, True)
    status, err = run_cli(capsys, "replay", str(path), "--id-prefix=-bad")
    assert (status, "--id-prefix '-bad'" in err) == (2, True)


def test_commands_given_unusable_files_or_settings_answer_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_an_issuer = write(tmp_path, "issuer.json", '{"issuer": "x"}')
    status, err = run_cli(capsys, "token", "--subject", "alice", "--issuer-file", str(not_an_issuer))
    assert (status, "is not an issuer file" in err) == (2, True)
    csv = write(tmp_path, "issuer.csv", "text\nhello\n")
    status, err = run_cli(capsys, "token", "--subject", "alice", "--issuer-file", str(csv))
    assert (status, "is not an issuer file" in err) == (2, True)
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    status, err = run_cli(capsys, "dlq", "list", "--stack", "riskradar-dev")
    assert (status, "You must specify a region" in err) == (2, True)
    status, err = run_cli(
        capsys, "dlq", "list", "--stack", "s", "--region", "eu-west-1", "--profile", "nosuch"
    )
    assert (status, "nosuch" in err) == (2, True)


def test_out_of_range_numbers_are_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "c.csv", "text\nhello\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["replay", str(path), "--batch-size", "101"])
    assert exited.value.code == 2
    assert "intake takes at most 100 reports per request" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["demo", "--limit", "-5"])
    assert exited.value.code == 2
    assert "-5 is not positive" in capsys.readouterr().err


def test_recluster_and_digest_without_a_running_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "serve.json"
    status, err = run_cli(capsys, "recluster", "--serve-file", str(missing))
    assert status == 2
    assert f"no running `riskradar serve` ({missing} does not exist)" in err
    status, err = run_cli(capsys, "digest", "--serve-file", str(missing), "-o", str(tmp_path / "d.html"))
    assert status == 2
    assert "no running `riskradar serve`" in err
    status, err = run_cli(capsys, "digest", "--api-url", "https://api.example.com")
    assert status == 2
    assert "a token is needed for --api-url" in err


def test_a_serve_file_of_a_stopped_serve_is_recognised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskradar.local.admin import ServeFile

    stale = ServeFile(
        pid=2**22 + 12345,
        api_url="http://127.0.0.1:1",
        admin_url="http://127.0.0.1:2",
        admin_token="t",
        issuer_file=None,
        aws_endpoint="http://127.0.0.1:3",
        region="us-east-1",
        stack_name="riskradar-local",
    )
    path = stale.write(tmp_path / "serve.json")
    assert path.stat().st_mode & 0o777 == 0o600
    status, err = run_cli(capsys, "recluster", "--serve-file", str(path))
    assert status == 2
    assert "is no longer running" in err
