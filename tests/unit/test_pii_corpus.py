"""The leak-test corpus is a real test of redaction: every planted value is PII intake removes."""

from __future__ import annotations

from riskradar.redaction import redact_pii
from tests.pii_corpus import pii_corpus, reports_with_pii


def test_every_planted_value_is_redacted_and_none_survives_in_the_reports() -> None:
    corpus = pii_corpus()
    assert {item.kind for item in corpus} == {"email", "phone", "card", "iban", "ssn", "ip"}
    for item in corpus:
        assert item.value not in redact_pii(f"see {item.value} here").text, item
    for text in reports_with_pii():
        redacted = redact_pii(text).text
        assert not any(item.value in redacted for item in corpus), redacted
