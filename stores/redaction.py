"""Redaction of personal identifiers in user text, before it is stored.

`redact(text)` replaces, in this order:

- dates of birth introduced by "born", "DOB" or "date of birth" -> ``[date-of-birth]``
- web addresses (``http(s)://...``, ``www....``), which may carry personal tokens -> ``[url]``
- e-mail addresses -> ``[email]``
- ID-like numbers: US social security numbers (123-45-6789), NHS numbers (ten
  digits, as 3-3-4 or unbroken, with a valid check digit) and numbers of 16-19
  digits (payment cards) -> ``[id-number]``
- phone numbers: 7 to 15 digits, optionally with ``+``, brackets and single spaces,
  dots or dashes between the digits -> ``[phone]``
- UK postcodes (SW1A 1AA, m1 1ae) -> ``[postcode]``

Doses, durations, times and years ("500 mg", "2 weeks", "3am", "10-15 minutes",
"since 2019", "2019-2020", "1000 1500 mg") are kept: a number must have at least 7
digits to be a phone number; dates, decimals, lists of years and numbers followed by
a unit are not phone numbers; and postcodes use
Royal Mail's inward-code letters (never C, I, K, M, O or V). Names and free-text
health details are not recognised; see docs/privacy-and-security.md.

Every pattern runs in time linear in the length of the text (tests/unit/
test_linear_time.py): matches start only where a run of their characters starts,
repetitions that could backtrack are bounded, and no two branches of a pattern
match the same text.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Tuple


def _spaces(name: str) -> str:
    """One or more spaces, all taken and never given back one by one (atomic).

    Nothing that may follow starts with a space, so giving them back could never
    help; it would only make a long run of spaces cost time quadratic in its length.
    """
    return rf"(?=(?P<{name}>\s+))(?P={name})"


_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
          r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = (rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}-\d{{1,2}}-\d{{1,2}}"
         rf"|\d{{1,2}}(?:st|nd|rd|th)?{_spaces('s1')}(?:of{_spaces('s2')})?{_MONTH}\.?,?"
         rf"{_spaces('s3')}\d{{2,4}}"
         rf"|{_MONTH}\.?{_spaces('s4')}\d{{1,2}}(?:st|nd|rd|th)?,?{_spaces('s5')}\d{{2,4}})")
DATE_OF_BIRTH = re.compile(
    rf"\b(?P<lead>(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*day|born(?:\s+on)?)"
    rf"(?:\s+is)?(?:{_spaces('s0')})?(?:[:=-]\s*)?){_DATE}(?!\d)",
    re.IGNORECASE)
# What makes a date part of a longer code ("born 12/03/1990x7"): a digit further on
# in the same run of word characters, slashes, dots and dashes. Matched where a
# date ends; it stops at the first digit, so no text is scanned twice.
DIGIT_FURTHER_ON = re.compile(r"(?:[^\W\d]|[/.-])*\d")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)
# Starts only where a run of address characters starts: trying every position of
# a long run (each scanning to its end) would take time quadratic in its length.
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digits that may be a phone or ID number: 7 to `MAX_RUN_DIGITS` digits,
# single separators (space, dot, dash) or a bracketed area code between them, not
# glued to letters, other digits or a decimal point. The bound keeps the work per
# match (and the regex engine's backtracking state) constant: a longer run of
# digits is no identifier, and is kept (its pieces after a space may be tagged).
MAX_RUN_DIGITS = 32
NUMBER = re.compile(
    r"(?<![\w.,/+-])(?:\+\s?)?(?:\(\d{1,5}\)\s?)?\d(?:(?:[ .-]|\s?\(\d{1,5}\)\s?)?\d)"
    rf"{{6,{MAX_RUN_DIGITS - 1}}}(?![\w/]|[.,]\d)")
SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
NHS_SHAPE = re.compile(r"\d{3} ?\d{3} ?\d{4}")
NOT_PHONE = [
    re.compile(r"\d{1,2}[.-]\d{1,2}[.-]\d{2,4}"),  # a date: 12-03-2024, 1.3.24
    re.compile(r"\d{4}-\d{1,2}-\d{1,2}"),  # an ISO date
    re.compile(r"(?:(?:19|20)\d\d[ .-]?)+"),  # years: 2019-2020, 2019 2020 2021
    re.compile(r"\d+\.\d+"),  # a decimal number, a Slack timestamp
]
# A quantity, not a number to call: "1000 1500 mg", "1 000 000 steps".
UNIT_AFTER = re.compile(
    r"\s?(?:mg|mcg|\u00b5g|g|kg|ml|l|litres?|liters?|iu|units?|steps|times|k?cal(?:ories)?|%"
    r"|mins?|minutes|hrs?|hours|days|weeks|months|years|people)\b", re.IGNORECASE)
POSTCODE = re.compile(
    r"\b(?P<outward>[a-z]{1,2}\d[a-z\d]?)\s?\d[abd-hjlnp-uw-z]{2}\b", re.IGNORECASE)
# Lower-case vitamins that look like an outward code: "b12 2hr" is not a postcode.
VITAMIN = re.compile(r"[bdk]\d{1,2}")

EMAIL_TAG = "[email]"
PHONE_TAG = "[phone]"
ID_TAG = "[id-number]"
URL_TAG = "[url]"
POSTCODE_TAG = "[postcode]"
DOB_TAG = "[date-of-birth]"


def _nhs_check_digit_ok(digits: str) -> bool:
    """Whether ten digits carry a valid NHS number check digit (modulus 11)."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _number(match: re.Match[str]) -> str:
    """The tag for a run of digits, or the run itself when it is not an identifier."""
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    if any(rule.fullmatch(found) for rule in NOT_PHONE) or UNIT_AFTER.match(
        match.string, match.end()
    ):
        return found
    if SSN.fullmatch(found) or (
        NHS_SHAPE.fullmatch(found) and _nhs_check_digit_ok(digits)
    ) or 16 <= len(digits) <= 19:
        return ID_TAG
    return PHONE_TAG if len(digits) <= 15 else found


def _date_of_birth(match: re.Match[str]) -> str:
    if DIGIT_FURTHER_ON.match(match.string, match.end()):
        return match.group(0)
    return f"{match.group('lead')}{DOB_TAG}"


def _postcode(match: re.Match[str]) -> str:
    outward = match.group("outward")
    if outward.islower() and VITAMIN.fullmatch(outward):
        return match.group(0)
    return POSTCODE_TAG


RULES: List[Tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (DATE_OF_BIRTH, _date_of_birth),
    (URL, lambda m: URL_TAG),
    (EMAIL, lambda m: EMAIL_TAG),
    (NUMBER, _number),
    (POSTCODE, _postcode),
]


def redact(text: str) -> str:
    """Replaces the personal identifiers in `text` with tags such as ``[email]``.

    Args:
        text: A user message.

    Returns:
        The message with identifiers replaced; unchanged if it holds none.
    """
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_values(value: Any) -> Any:
    """Redacts every string inside a JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_values(item) for item in value]
    return value


def redact_user_event(data: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a serialised `user` event with its text, entities and metadata redacted.

    Args:
        data: `UserUttered.as_dict()`.

    Returns:
        The same structure, with identifiers replaced in `text`, `parse_data.text`,
        entity values and every string of `metadata` and `parse_data.metadata`.
    """
    redacted = dict(data)
    if isinstance(redacted.get("text"), str):
        redacted["text"] = redact(redacted["text"])
    if "metadata" in redacted:
        redacted["metadata"] = redact_values(redacted["metadata"])
    parse_data = redacted.get("parse_data")
    if isinstance(parse_data, dict):
        parse_data = dict(parse_data)
        for key in ("text", "metadata", "entities"):
            if key in parse_data:
                parse_data[key] = redact_values(parse_data[key])
        redacted["parse_data"] = parse_data
    return redacted
