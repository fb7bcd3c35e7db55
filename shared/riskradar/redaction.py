"""Redact personal data from free text before it is persisted, enqueued or logged.

Reports are written by people in a hurry, so the detectors aim for recall on the shapes people
actually type, and use checksums (Luhn, IBAN mod-97) or structural rules (SSN ranges, octet
ranges) wherever a shape alone would also match the order numbers, amounts and dates that triage
needs to keep.

Precedence: EMAIL, IBAN, SSN, CARD, international PHONE, IPV4, national PHONE. Each detector only
sees text that no earlier one has claimed, so the order decides who wins an ambiguous span:

- EMAIL first: an address may contain digit runs (``jo.5551234567@x.io``); any digit detector
  running first would cut the address in two and leave the rest readable.
- IBAN before the digit detectors: a BBAN is a long digit run that is Luhn-valid one time in ten
  and phone-shaped often. An IBAN-shaped string (known country, exact registry length, compact
  or in groups of four) that fails mod-97 is *kept verbatim and shielded* from the later
  detectors: it is far more likely a mistyped IBAN or a payment reference than a card or a
  phone, and half-redacting it would only make the report unreadable.
- SSN before CARD: the SSN shape (3-2-4 with one separator, valid ranges) never occurs inside a
  card's own grouping, so taking it first costs cards nothing, while a card window chosen first
  could straddle a neighbouring SSN (``4111 ... 1111 123-45-6789``) and leave half of it readable.
- CARD before PHONE and IPV4: card groupings contain phone-like sub-sequences, and the Luhn check
  makes a card match precise, so it should not be half-eaten by a looser pattern. The exception
  is a digit chain right after ``+`` or starting with ``00`` with at most 15 digits: that is an
  international phone number, which CARD leaves to PHONE.
- International PHONE (``+CC`` / ``00CC``) before IPV4: the prefix is strong evidence, and the
  groups of a dotted phone number (``001.0.000.000``) can read as a dotted quad, which would leave
  the prefix behind. SSN guards against ``+CC`` and ``(0)`` prefixes itself for the same reason.
- National PHONE last: these are the loosest patterns here, so they only see what nothing
  stricter wanted (``078-05-1120`` is an SSN, not a trunk number).

A redaction pass repeats until nothing more is found. A candidate that was refused because it
looked like part of a longer number (``... 4567-89``) becomes a standalone number once its
neighbour is replaced by a placeholder; repeating makes the result a fixed point, so redacting
already-redacted text is a no-op, and it errs on the side of redacting.

Trade-offs, deliberately accepted (false positives are cheap here, leaked PII is not):

- Cards: any 13-19 digit run, or a window of groups of 4-6 digits (the last group 1-6) joined by
  single spaces or dashes, that passes Luhn and does not start with 0 (no issuer uses it). So a
  Luhn-valid long order number, or a 13-19 digit window of a grouped tracking number, becomes
  ``[CARD]`` (about 1 in 10 such numbers). Cards typed with irregular short groups
  (``41 11 11 ...``), glued to letters (``card4111...``) or with other separators are missed.
- IBANs: only countries in the ISO 13616 registry table below, with the exact length, compact or
  grouped by four; other groupings and unknown countries are missed.
- SSNs: only ``AAA-GG-SSSS`` / ``AAA GG SSSS`` with one separator; bare 9-digit runs are
  indistinguishable from ids and are kept.
- IPv4: a four-part version string written without a ``v`` (``version 1.2.3.4``) and a dotted
  European amount of a billion or more whose groups are all <= 255 (``1.200.100.250``) become
  ``[IP]``; ``1.2.3.4.5`` and ``v1.2.3.4`` are kept.
- Phones: ``+CC`` / ``00CC`` numbers with 8-15 digits (the country code may be in parentheses:
  ``(+44) 7911 123456``); North-American 3-3-4 (with or without parentheses, optional leading
  ``1``); a glued extension (``x204``, ``ext.12``) ends a number and is kept; national numbers
  with a trunk ``0`` and 10-12 digits
  (``020 7946 0958``, ``06 12 34 56 78``, or ungrouped ``0612345678``). So a leading-zero order
  id of 10-11 digits or a dashed 3-3-4 reference becomes ``[PHONE]``; national formats without a
  trunk 0 (Spanish ``612 34 56 78``), 9-digit trunk numbers and short local numbers are missed.
  A number typed after a ``+CC`` phone with only a space between is taken into it while the
  total stays within 15 digits.
- Emails: dot-atom local parts (letters in any script, digits, ``_ % + - '``) and alphabetic TLDs;
  quoted local parts and IP-literal domains are missed (the IP part is still redacted).
- Numbers side by side with only a space between can read as one grouped number: a card window
  may take the first digits of the neighbour, or two items may become one placeholder. Best
  effort only; any punctuation or word between them is enough.
- Only ASCII digits are recognised: PII typed in full-width or other scripts' digits is missed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = ["PLACEHOLDERS", "PiiKind", "Redaction", "redact_pii"]


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    SSN = "ssn"
    IPV4 = "ipv4"


PLACEHOLDERS: Final[Mapping[PiiKind, str]] = MappingProxyType(
    {
        PiiKind.EMAIL: "[EMAIL]",
        PiiKind.PHONE: "[PHONE]",
        PiiKind.CARD: "[CARD]",
        PiiKind.IBAN: "[IBAN]",
        PiiKind.SSN: "[SSN]",
        PiiKind.IPV4: "[IP]",
    }
)


@dataclass(frozen=True, slots=True)
class Redaction:
    """Redacted text and how many spans of each kind were replaced (kinds not found are absent)."""

    text: str
    counts: Mapping[PiiKind, int]


# A span found by a detector; kind None keeps the text verbatim but hides it from later detectors.
_Span = tuple[int, int, PiiKind | None]
_Detector = Callable[[str], Iterator[_Span]]

# Every pattern starts with (?<![^\W_]) and most end with (?![^\W_]): `[^\W_]` is a letter or
# digit in any script, and PII glued to a word is part of some other token (an id, a hash, a
# product code), not something a person typed on its own. Digits are ASCII [0-9] only.

# Every kind needs a digit or an @: a report with neither skips all detectors.
_MAY_HOLD_PII = re.compile(r"[0-9@]")

# --- EMAIL -----------------------------------------------------------------------------------
_EMAIL = re.compile(
    # Start only where a local part can begin: a run after "x." was already tried from "x", and
    # trying again from every dot would make a long dotted token quadratic.
    r"(?<![\w%+-])(?<![\w%+-][.'])"
    r"[\w%+-]+(?:[.'][\w%+-]+)*"  # dot-atom local part; '.' and "'" only between runs
    r"@(?:[^\W_][\w-]*\.)+"  # one or more domain labels (subdomains)
    r"[^\W\d_]{2,63}"  # alphabetic TLD
    r"(?![\w-])"
)

# --- IBAN ------------------------------------------------------------------------------------
# ISO 13616 registry lengths. A country missing here is not redacted: without the exact length a
# mod-97 check alone passes for 1 in 97 random letter-digit tokens.
_IBAN_LENGTHS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
        "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
        "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
        "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
        "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
        "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
        "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
        "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
        "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
        "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    }
)  # fmt: skip

_IBAN_START = re.compile(r"(?<![^\W_])[A-Za-z]{2}[0-9]{2}")


def _iban_shape(length: int) -> re.Pattern[str]:
    bban = length - 4
    full_groups, last_group = divmod(bban, 4)
    grouped = f"(?: [A-Za-z0-9]{{4}}){{{full_groups}}}"
    if last_group:
        grouped += f" [A-Za-z0-9]{{{last_group}}}"
    return re.compile(f"[A-Za-z]{{2}}[0-9]{{2}}(?:[A-Za-z0-9]{{{bban}}}|{grouped})(?![^\\W_])")


_IBAN_SHAPES: Final[Mapping[int, re.Pattern[str]]] = MappingProxyType(
    {length: _iban_shape(length) for length in set(_IBAN_LENGTHS.values())}
)

# --- CARD ------------------------------------------------------------------------------------
# A chain of digit groups joined by single spaces or dashes; card windows are chosen inside it.
_DIGIT_CHAIN = re.compile(r"(?<![^\W_])[0-9]+(?:[ -][0-9]+)*(?![^\W_])")
_DIGIT_RUN = re.compile(r"[0-9]+")
_E164_MAX_DIGITS = 15

# --- SSN -------------------------------------------------------------------------------------
_SSN = re.compile(
    r"(?<![^\W_])(?<!\+)(?<![0-9]\))(?<![0-9]\)[ .-])"  # not after +CC or (0): +1 (0) 123 45 6789
    # Only a continuation with the SSN's own separator makes it part of a longer number, so a
    # list like "123-45-6789 987-65-4321" is two SSNs; space-separated SSNs are stricter.
    r"(?:(?<![0-9][.-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![.-][0-9])"
    r"|(?<![0-9][ .-])(?!000|666|9)[0-9]{3} (?!00)[0-9]{2} (?!0000)[0-9]{4}(?![ .-][0-9]))"
    r"(?![^\W_])"
)

# --- IPV4 ------------------------------------------------------------------------------------
_IPV4 = re.compile(
    r"(?<![^\W_])(?<![^\W_]\.)(?<!\+)"  # not inside 1.2.3.4.5 or v1.2.3.4
    r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
    r"(?![^\W_])(?!\.[^\W_])"
)

# --- PHONE -----------------------------------------------------------------------------------
# Groups chain freely (a country's layout is not checked); _longest_phone picks where it ends.
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![^\W_])"
    # (+CC) or (00CC), as many write it; not the area code of a number already begun ("1-(001) …")
    r"(?:(?<![0-9][ .\-])\((?:\+|00)[1-9][0-9]{0,3}\)[ .\-]?[0-9]+"
    r"|(?:\+|(?<![0-9][ .\-/:,])00)[1-9][0-9]*)"  # +CC, or 00CC not inside a number
    r"(?:(?:[ .\-/]?\([0-9]{1,5}\)[ .\-/]?|[ .\-/])[0-9]+)*"  # groups, maybe a (0) or (area)
)
# An extension glued to the number (555-123-4567x204) ends the number; it is not a longer word.
_EXTENSION = r"(?:x|ext\.?)[0-9]"
_GLUED_EXTENSION = re.compile(_EXTENSION)
_PHONE_NORTH_AMERICAN = re.compile(
    r"(?<![^\W_])(?<![0-9][.\-/:])(?<!\+)"
    r"(?:1[ .-]?)?"
    r"(?:\([0-9]{3}\)[ ]?[0-9]{3}[ .-]?[0-9]{4}|[0-9]{3}([ .-])[0-9]{3}\1[0-9]{4})"
    rf"(?:(?={_EXTENSION})|(?![^\W_])(?![.\-/:][0-9]))"
)
_PHONE_TRUNK_GROUPED = re.compile(
    r"(?<![^\W_])(?<![0-9][ .\-/:,])(?<!\+)"  # a space too: 1 020 304 050 is an amount
    r"0[1-9][0-9]{0,4}(?:[ .-][0-9]{2,8})+"
)
_PHONE_TRUNK_UNGROUPED = re.compile(
    r"(?<![^\W_])(?<![0-9][.,:/-])(?<!\+)0[1-9][0-9]{8,9}(?![^\W_])(?![.,:/-][0-9])"
)
# DD.MM.YYYY (any of . / -) followed by a time or a count reads as a trunk number otherwise.
_DATE_PREFIX = re.compile(r"[0-9]{2}([./-])[0-9]{2}\1[0-9]{4}")
# A number continuing past a cut: decimals, times, dotted or dashed continuations.
_CONTINUES_NUMBER = re.compile(r"[.,:/-]?[0-9]")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 2 <= int(compact[2:4]) <= 98:  # 00, 01 and 99 are never issued check digits
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _find_emails(text: str) -> Iterator[_Span]:
    if "@" not in text:
        return  # most reports: skip scanning every word for a local part
    for match in _EMAIL.finditer(text):
        yield match.start(), match.end(), PiiKind.EMAIL


def _find_ibans(text: str) -> Iterator[_Span]:
    resume = 0
    for prefix in _IBAN_START.finditer(text):
        if prefix.start() < resume:
            continue
        length = _IBAN_LENGTHS.get(prefix.group()[:2].upper())
        if length is None:
            continue
        shaped = _IBAN_SHAPES[length].match(text, prefix.start())
        if shaped is None:
            continue
        yield shaped.start(), shaped.end(), PiiKind.IBAN if _iban_valid(shaped.group()) else None
        resume = shaped.end()


def _card_window_end(groups: list[tuple[int, int]], first: int, chain: str) -> int | None:
    """The last group (exclusive) of the longest Luhn-valid card window starting at `first`."""
    if chain[groups[first][0]] == "0":
        return None
    best = None
    digits = ""
    for last in range(first, len(groups)):
        start, end = groups[last]
        if last > first:
            previous_start, previous_end = groups[last - 1]
            if not 4 <= previous_end - previous_start <= 6 or end - start > 6:
                break  # groups of 4-6, the last one 1-6: dates and amounts have shorter groups
        digits += chain[start:end]
        if len(digits) > 19:
            break
        if len(digits) >= 13 and _luhn_valid(digits):
            best = last + 1
    return best


def _find_cards(text: str) -> Iterator[_Span]:
    for chain_match in _DIGIT_CHAIN.finditer(text):
        chain = chain_match.group()
        digit_count = len(chain) - chain.count(" ") - chain.count("-")
        if digit_count < 13:
            continue
        groups = [(run.start(), run.end()) for run in _DIGIT_RUN.finditer(chain)]
        offset = chain_match.start()
        if (offset and text[offset - 1] == "+" and digit_count <= _E164_MAX_DIGITS) or (
            chain.startswith("00") and digit_count <= _E164_MAX_DIGITS + 2
        ):
            continue  # an international phone number (+CC or 00CC); PHONE takes it
        first = 0
        while first < len(groups):
            window_end = _card_window_end(groups, first, chain)
            if window_end is None:
                first += 1
                continue
            yield offset + groups[first][0], offset + groups[window_end - 1][1], PiiKind.CARD
            first = window_end


def _find_pattern(pattern: re.Pattern[str], kind: PiiKind) -> _Detector:
    def find(text: str) -> Iterator[_Span]:
        for match in pattern.finditer(text):
            yield match.start(), match.end(), kind

    return find


def _longest_phone(
    text: str, match: re.Match[str], *, skip_digits: int, min_digits: int, max_digits: int
) -> int | None:
    """End of the longest prefix of `match` that is a whole phone number, if any.

    Phone patterns chain any digit groups so that separators need not be listed per country; a
    number typed right after the phone (``+44 20 7946 0958 2024``) is then cut off here, at a
    group end that is not followed by more of the same number.
    """
    best = None
    digits = -skip_digits
    candidate = match.group()
    for run in _DIGIT_RUN.finditer(candidate):
        digits += run.end() - run.start()
        end = match.start() + run.end()
        if digits > max_digits:
            break
        if run.start() and candidate[run.start() - 1] == "(":
            continue  # a parenthesised area code is never where a number ends
        if digits >= min_digits and not _CONTINUES_NUMBER.match(text, end) and not _glued(text, end):
            best = end
    return best


def _glued(text: str, end: int) -> bool:
    glued = end < len(text) and (text[end].isalnum() or text[end] == "_")
    return glued and _GLUED_EXTENSION.match(text, end) is None


def _find_international_phones(text: str) -> Iterator[_Span]:
    for match in _PHONE_INTERNATIONAL.finditer(text):
        prefix = 2 if match.group().lstrip("(").startswith("00") else 0
        end = _longest_phone(text, match, skip_digits=prefix, min_digits=8, max_digits=_E164_MAX_DIGITS)
        if end is not None:
            yield match.start(), end, PiiKind.PHONE


def _find_trunk_phones(text: str) -> Iterator[_Span]:
    for match in _PHONE_TRUNK_GROUPED.finditer(text):
        if _DATE_PREFIX.match(match.group()):
            continue
        end = _longest_phone(text, match, skip_digits=0, min_digits=10, max_digits=12)
        if end is not None:
            yield match.start(), end, PiiKind.PHONE


_DETECTORS: Final[tuple[_Detector, ...]] = (
    _find_emails,
    _find_ibans,
    _find_pattern(_SSN, PiiKind.SSN),
    _find_cards,
    _find_international_phones,
    _find_pattern(_IPV4, PiiKind.IPV4),
    _find_pattern(_PHONE_NORTH_AMERICAN, PiiKind.PHONE),
    _find_trunk_phones,
    _find_pattern(_PHONE_TRUNK_UNGROUPED, PiiKind.PHONE),
)


def _redact_once(text: str) -> tuple[str, Counter[PiiKind]]:
    # Text is split into segments as detectors claim spans; a claimed segment (a placeholder or a
    # shielded IBAN-shaped string) is never looked at again, so no detector sees half of a match.
    segments: list[tuple[str, bool]] = [(text, False)]
    counts: Counter[PiiKind] = Counter()
    for detect in _DETECTORS:
        next_segments: list[tuple[str, bool]] = []
        for segment, claimed in segments:
            if claimed:
                next_segments.append((segment, True))
                continue
            position = 0
            for start, end, kind in detect(segment):
                if start > position:
                    next_segments.append((segment[position:start], False))
                if kind is None:
                    next_segments.append((segment[start:end], True))
                else:
                    next_segments.append((PLACEHOLDERS[kind], True))
                    counts[kind] += 1
                position = end
            if position < len(segment):
                next_segments.append((segment[position:], False))
        segments = next_segments
    return "".join(segment for segment, _ in segments), counts


def redact_pii(text: str) -> Redaction:
    """Replace emails, phone numbers, cards, IBANs, SSNs and IPv4 addresses with placeholders.

    Idempotent: redacting the result again changes nothing and counts nothing.
    """
    counts: Counter[PiiKind] = Counter()
    while _MAY_HOLD_PII.search(text):
        text, found = _redact_once(text)
        if not found:
            break
        counts.update(found)
    return Redaction(text=text, counts=MappingProxyType(dict(counts)))
