"""The bad-request corpus (tests/data/bad_requests/): committed files are what generate.py writes,
and the corpus covers what issue 7 asks for. The requests themselves are sent by
tests/e2e/test_bad_requests.py."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.data.bad_requests import generate
from tests.data.bad_requests.corpus import (
    CORPUS_DIR,
    Case,
    invalid_cases,
    invalid_files,
    valid_nasty_cases,
)

REGENERATE = "python tests/data/bad_requests/generate.py"
#: The kinds of bad input issue 7 lists, as corpus categories.
REQUIRED_CATEGORIES = {
    "malformed_json", "truncated_json", "wrong_types", "missing_fields", "unknown_fields", "empty_text",
    "whitespace_text", "long_text", "body_too_large", "invalid_utf8", "control_characters", "nul_bytes",
    "deep_nesting", "huge_numbers", "bad_amount", "bad_currency", "future_date", "malformed_date",
    "wrong_content_type", "batch_mixed", "batch_envelope",
}  # fmt: skip
REQUIRED_NASTY = {"html", "sql", "template", "emoji", "rtl", "bidi_controls", "zero_width", "long_text"}


def test_committed_files_are_what_the_generator_writes() -> None:
    expected = generate.render()
    committed = {path.name: path.read_text(encoding="ascii") for path in CORPUS_DIR.glob("*.jsonl")}
    assert sorted(committed) == sorted(expected), f"corpus files differ from generate.py; run {REGENERATE}"
    stale = [name for name in expected if committed[name] != expected[name]]
    assert not stale, f"{stale} differ from what generate.py writes: edit the script, run {REGENERATE}"


def test_the_generator_is_deterministic() -> None:
    assert generate.render() == generate.render()


def test_there_are_at_least_300_invalid_requests_on_both_routes() -> None:
    cases = invalid_cases()
    assert len(cases) >= 300
    routes = Counter(case.path for case in cases)
    assert routes["/v1/reports"] >= 150
    assert routes["/v1/reports/batch"] >= 150
    assert len({case.id for case in cases + valid_nasty_cases()}) == len(cases) + len(valid_nasty_cases())


def test_every_kind_of_bad_input_in_the_issue_is_covered() -> None:
    categories = Counter(case.category for case in invalid_cases())
    assert set(categories) >= REQUIRED_CATEGORIES, REQUIRED_CATEGORIES - set(categories)
    assert {case.category for case in valid_nasty_cases()} >= REQUIRED_NASTY


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda case: case.id)
def test_each_invalid_case_expects_a_4xx_with_its_reason(case: Case) -> None:
    expect = case.expect
    if expect["status"] == 202:  # a mixed batch: something in it must be refused, and each named
        refused = [item for item in expect["items"] if item["status"] != "accepted"]
        assert refused
        assert all(item.get("fields") or item.get("fields_include") for item in refused)
        assert case.path == "/v1/reports/batch"
        return
    assert 400 <= expect["status"] < 500
    assert "code" in expect
    if expect["status"] == 422:
        assert expect.get("fields") or expect.get("fields_include")
    if expect.get("answered_by") == "gateway":
        assert expect["code"] is None
    else:
        assert expect["code"]


@pytest.mark.parametrize("case", invalid_cases() + valid_nasty_cases(), ids=lambda case: case.id)
def test_each_request_body_builds_as_described(case: Case) -> None:
    body = case.body()
    assert body is not None
    spec = case.request["body"]
    if case.category == "invalid_utf8":
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
    if case.expect["status"] == 413:
        assert len(body) > generate.MAX_BODY_BYTES
    elif case.category != "wrong_route":
        assert len(body) <= generate.MAX_BODY_BYTES, "only 413 cases may exceed the limit"
    if "json" in spec:
        assert json.loads(body) == case.json_body


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


LONG_VALUE_CASES = [
    case
    for case in invalid_cases() + valid_nasty_cases()
    if case.category == "long_text"
    and "json" in case.request["body"]
    and re.search(r"\d+", case.id.split(".")[1])
]


@pytest.mark.parametrize("case", LONG_VALUE_CASES, ids=lambda case: case.id)
def test_each_long_value_is_as_long_as_its_case_says(case: Case) -> None:
    """`long_text.5001-ascii` holds a value of 5,001 characters (5,001 once trimmed, if padded):
    what its expectation (refused or accepted) is about. Checked on the expanded body, against
    the number in the case's name, not against the expansion itself."""
    match = re.search(r"\d+", case.id.split(".")[1])
    assert match is not None
    length = int(match.group())
    lengths = {len(text) for text in _strings(case.json_body)} | {
        len(text.strip()) for text in _strings(case.json_body)
    }
    assert length in lengths


def test_long_value_cases_are_checked() -> None:
    assert len(LONG_VALUE_CASES) >= 20


def test_the_repository_carries_no_large_bodies() -> None:
    sizes = {path.name: path.stat().st_size for path in invalid_files()}
    assert sum(sizes.values()) < 1_000_000, sizes
