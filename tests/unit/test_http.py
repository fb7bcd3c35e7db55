"""Content negotiation of the digest route (riskradar.http.negotiate)."""

from __future__ import annotations

import pytest

from riskradar.http import DIGEST_MEDIA_TYPES, negotiate


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("text/html", "html"),
        ("application/json", "json"),
        ("text/markdown", "markdown"),
        ("text/*", "html"),
        ("text/html;q=0.5, application/json", "json"),
        ("text/html, application/json;q=0.9", "html"),
        ("application/*;q=0.2, text/html;q=0.1", "json"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "html"),  # a browser
        ("image/png", None),
        ("text/html;q=0", None),
        ("text/html;q=oops", None),
        # A type refused by name stays refused whatever a wildcard says; the most specific range
        # decides each type's q-value.
        ("application/json;q=0, */*", "html"),
        ("application/json;q=0.1, */*;q=0.5", "html"),
        ("text/html;q=0, text/*", "markdown"),
        ("text/html;q=0.2, text/*;q=0.8", "markdown"),
        ("text/*;q=0.3, text/markdown", "markdown"),
        ("*/*;q=0.9, text/html;q=0.5", "json"),
        ("TEXT/Markdown", "markdown"),
    ],
)
def test_the_preferred_offered_format_is_chosen(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept, DIGEST_MEDIA_TYPES, default="json") == expected
