"""A fixed corpus of personal data planted in report texts, for tests that look for leaks.

Deterministic (seeded), and built with the same checksum rules the redaction tests use, so every
card is Luhn-valid and every IBAN checksum-valid: things intake must redact. Each entry is the
exact string a leak would show; `tests/unit/test_pii_corpus.py` checks redaction removes them all.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from tests.unit.test_redaction import iban_check_digits, with_luhn_check_digit


class PlantedPii(NamedTuple):
    kind: str
    value: str


def pii_corpus(seed: int = 2026, per_kind: int = 8) -> list[PlantedPii]:
    rng = random.Random(seed)
    corpus: list[PlantedPii] = []
    for n in range(per_kind):
        corpus.append(PlantedPii("email", f"leak.test{n}.{rng.randrange(10**6)}@mailbox-{n}.example.com"))
        corpus.append(PlantedPii("phone", f"+44 7700 9{rng.randrange(10**5):05d}"))
        corpus.append(PlantedPii("phone", f"(415) 555-{rng.randrange(10**4):04d}"))
        digits = with_luhn_check_digit("4" + "".join(str(rng.randrange(10)) for _ in range(14)))
        corpus.append(PlantedPii("card", " ".join(digits[i : i + 4] for i in range(0, 16, 4))))
        bban = "NWBK" + "".join(str(rng.randrange(10)) for _ in range(14))
        corpus.append(PlantedPii("iban", f"GB{iban_check_digits('GB', bban)}{bban}"))
        area, group, serial = rng.randrange(1, 666), rng.randrange(1, 100), rng.randrange(1, 10**4)
        corpus.append(PlantedPii("ssn", f"{area:03d}-{group:02d}-{serial:04d}"))
        corpus.append(PlantedPii("ip", f"203.0.113.{rng.randrange(1, 255)}"))
    return corpus


def reports_with_pii(seed: int = 2026) -> list[str]:
    """Complaint texts, each carrying two planted values of the corpus."""
    corpus = pii_corpus(seed)
    templates = [
        "Seller took my money and never shipped. Contact me at {a} or call {b}.",
        "Someone posing as support asked for my card code; my card is {a}, reach me on {b}.",
        "Refund never arrived to {a}. They also had my number {b}.",
        "I was charged twice. Account {a}, phone {b}. Please help.",
    ]
    return [
        templates[i % len(templates)].format(a=corpus[i].value, b=corpus[(i + 7) % len(corpus)].value)
        for i in range(len(corpus))
    ]
