"""The PHI guard: free text must not carry patient identifiers.

The ledger stores commercial facts only. Free-text fields (`reason`, `note`) are short and are
rejected when they look like a patient identifier, so protected health information never enters
an immutable log that cannot be edited afterwards.

What counts as looking like one:
- a social security number: nine digits grouped 3-2-4 by spaces or by the same mark twice (a
  dash, dot, slash, backslash, underscore, colon, tilde, bar or bullet: `123~45~6789`), or the
  words "SSN" or "social security number / no / #";
- a medical record or member number: "MRN" (also "M.R.N.", and run into its digits:
  "MRN12345678"), or "MR# / no / number", "medical record" (also "medical record no / number /
  # / ID"), "patient ID / number / no / #", "pt ID / no / #", "member ID / # / no / number",
  "Medicare / Medicaid ID / number" followed by an identifier holding at least three digits
  (so "patient ID v2 module" is fine); or a Medicare beneficiary identifier (MBI) such as
  `1EG4-TE5-MK73`;
- a date of birth: "DOB", "date of birth" or "birthdate" (also hyphenated: "date-of-birth");
  "born" followed by a date; or any full date before 2000 (1962-04-12, 1962/04/12, 4/12/1962,
  12-Apr-1962, 12th of April 1962), also written with a two-digit year from 30 on (4/12/62,
  Apr 12, '62). Business dates in notes are recent ones, so a note may say "pushed to
  9/30/2026" or "wave 1/2/26";
- an e-mail address, also with spaces around the `@` (`jane @ example.org`, when the host ends
  in letters) or written `name(at)host.org` or `name [at] host [dot] org`;
- a phone number: ten digits grouped 3-3-4 by dashes or dots, or with the area code in
  parentheses (`(555) 867-5309`, `(555).867.5309`), or by spaces, or spaces, dots and dashes
  mixed (`555 867-5309`), when area code and exchange start with 2-9 as North American ones
  do (so "250 000 1000" is no phone); an international one written with `+` and groups of at
  least two digits, eight digits in all; or a local one after "ph", "phone", "tel", "cell",
  "mobile" or "fax";
- any other run of 7 or more digits, unless it follows a word that makes it a business
  number or an amount: a purchase or sales order, invoice, order, quote, contract or
  opportunity number, also with a short prefix ("PO 4500012345", "PO-4500012345", "invoice
  #10023456", "quote Q-1234567", "contract 2026-0001234"), or money ("ARR 1250000",
  "$1250000", "1250000 USD", "1250000 ARR").

The text is read as a reader sees it: compatibility forms are folded (Unicode NFKC: a
full-width `＠` or `ＭＲＮ`, full-width digits), invisible characters are dropped (a zero-width
space inside `123-45-6789` hides nothing), every dash or minus sign is a hyphen (`123⸺45⸺6789`
is `123-45-6789`) and a line break, like every other space, is a space.
"""

from __future__ import annotations

import re
import unicodedata

MAX_FREE_TEXT = 500

DASHES = (
    "\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a\u2e3a\u2e3b"
    "\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
    "\u02d7\u2043\u2212\u2796"
)
"""Dashes a reader takes for a hyphen: Unicode's dash punctuation (category Pd) and the minus
signs (NFKC leaves most of them as they are)."""
_SEEN = str.maketrans({**dict.fromkeys(DASHES, "-"), **dict.fromkeys("\u1680\u2028\u2029", " ")})


def as_seen(text: str) -> str:
    """Return `text` as a reader sees it: NFKC-folded, without invisible (format) characters,
    with every dash a hyphen-minus and every line break or other space a space. ASCII text
    without a line break is returned as it is."""
    if text.isascii():
        return text.replace("\n", " ") if "\n" in text else text
    folded = unicodedata.normalize("NFKC", text).replace("\n", " ")
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return visible.translate(_SEEN)


_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"(\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"  # 4/12/1962, 12.04.1962, 4-12-62
    r"|\d{4}(?P<sep>[/.-])\d{1,2}(?P=sep)\d{1,2}"  # 1962-04-12, 1962/04/12
    rf"|\d{{1,2}}(st|nd|rd|th)?(\s+(of\s+)?|-){_MONTH},?[\s-]\s*\d{{2,4}}"  # 12 Apr 1962
    rf"|{_MONTH}\s+\d{{1,2}}(st|nd|rd|th)?,?\s+\d{{2,4}})"  # April 12, 1962
)
_OLD_YEAR = r"(1[89]\d\d)"  # a four-digit year before 2000
_OLD_YY = r"([3-9]\d)"  # a two-digit year from 30 on: 1930-1999 (00-29 read as this century)
_ORDINAL = r"(st|nd|rd|th)?"
_IDENTIFIER = r"[\s:#.=-]*(?=[a-z-]*\d[a-z-]*\d[a-z-]*\d)[a-z0-9-]+"  # a token, 3+ digits

Patterns = list[tuple["re.Pattern[str] | _LongRun", str]]


class _LongRun:
    """A run of 7 or more digits that no business word or currency explains."""

    _RUN = re.compile(r"(?<!\d)\d{7,}(?!\d)")
    _AFTER = re.compile(
        r"(\b(po|p\.o\.|purchase order|so|sales order|invoice|inv|order|quote|contract"
        r"|opportunity|opp|arr|acv|tcv|usd|eur|gbp|chf|cad|aud)|[$€£])"
        r"\s*(#|no\.?|nr\.?|number)?\s*[:#-]?\s*([a-z]{1,4}-?|\d{1,4}-)?$",
        re.I,
    )
    _BEFORE = re.compile(r"\s*(usd|eur|gbp|chf|cad|aud|arr|acv|tcv)\b", re.I)

    def search(self, text: str) -> bool:
        for run in self._RUN.finditer(text):
            before, after = text[max(0, run.start() - 30) : run.start()], text[run.end() :]
            if not (self._AFTER.search(before) or self._BEFORE.match(after)):
                return True
        return False


_LONG_RUN = _LongRun()
_WORDS: Patterns = [
    (
        re.compile(r"\bssn\b|\bsocial security\s+(number|no\b|#)", re.I),
        "a social security number",
    ),
    (re.compile(r"(?<![a-z])(mrn|m\.r\.n\b)(?![a-z])", re.I), "a medical record number"),
    (
        re.compile(r"\b(dob|d\.o\.b\.?|date[\s_-]+of[\s_-]+birth|birth[\s_-]?date)(?![a-z])", re.I),
        "a date of birth",
    ),
]
"""What a text without digits can show: words that name an identifier."""
_EMAIL: Patterns = [
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "an e-mail address"),
    # Spaced around the @: `jane @ example.com` (a host ending in letters, so "@ 12.50" is none).
    (re.compile(r"[\w.+-]+ {0,2}@ {0,2}[\w-]+(\.[\w-]+)*\.[a-z]{2,}\b", re.I), "an e-mail address"),
]
_AT = r"\s*[(\[{]\s*at\s*[)\]}]\s*"
_DOT = r"(\s*[(\[{]\s*dot\s*[)\]}]\s*|\.)"
_SPELLED_EMAIL: Patterns = [
    (
        re.compile(rf"[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)*?{_DOT}[a-z]{{2,}}\b", re.I),
        "an e-mail address",
    )
]
"""An address spelt out to pass a filter: `jane(at)example.org`, `jane [at] example [dot] org`."""
_WITH_DIGITS: Patterns = [
    (
        # The spaces around a separator are bounded: `\s*` on both sides of an optional
        # separator lets a long run of spaces split in cubically many ways.
        re.compile(
            r"(?<!\d)\d{3}(?: {0,2}([-./\\_~:|\u00b7\u2022]) {0,2}\d{2} {0,2}\1 {0,2}"
            r"| \d{2} )\d{4}(?!\d)"
        ),
        "a social security number",
    ),
    (
        re.compile(
            r"(\bmr\s*(#|no\b\.?|number\b)|\bmedical record\b(\s*(#|no\b\.?|number\b|id\b))?"
            r"|\bpatient\s+(id|number|no\.?|#)|\bpt\.?\s*(id|no\.?|#)"
            r"|\bmember\s*(id\b|#|no\b\.?|number\b)|\bmedica(re|id)\s+(id|number|no\.?|#))"
            + _IDENTIFIER,
            re.I,
        ),
        "a medical record number",
    ),
    (
        re.compile(r"\b[1-9][A-Z][A-Z0-9]\d-?[A-Z][A-Z0-9]\d-?[A-Z]{2}\d{2}\b", re.I),
        "a medical record number",
    ),
    (re.compile(rf"\bborn\b[\s:]*(on\s+)?{_DATE}", re.I), "a date of birth"),
    (
        re.compile(
            rf"\b(\d{{1,2}}[/.-]\d{{1,2}}[/.-]({_OLD_YEAR}|{_OLD_YY})"
            rf"|{_OLD_YEAR}(?P<sep>[/.-])\d{{1,2}}(?P=sep)\d{{1,2}}"
            rf"|\d{{1,2}}{_ORDINAL}(\s+(of\s+)?|-){_MONTH},?[\s-]\s*({_OLD_YEAR}|'{_OLD_YY})"
            rf"|{_MONTH}\s+\d{{1,2}}{_ORDINAL},?\s+({_OLD_YEAR}|'{_OLD_YY}))\b",
            re.I,
        ),
        "a date of birth",
    ),
    (re.compile(r"\(\s*\d{3}\s*\)[\s.-]?\s*\d{3}[\s.-]?\d{4}\b"), "a phone number"),
    (re.compile(r"\b\d{3}([.-])\d{3}\1\d{4}\b"), "a phone number"),
    (re.compile(r"\b[2-9]\d{2}[ .-][2-9]\d{2}[ .-]\d{4}\b"), "a phone number"),
    (
        re.compile(r"\+(?=(?:[\s.()-]*\d){8})\d{1,3}(?:[\s.-]\(?\d{2,4}\)?){2,5}\b"),
        "a phone number",
    ),
    (
        re.compile(r"\b(ph|phone|tel|cell|mobile|fax)\b[\s.:#]*\(?\d{3}\)?[\s.-]?\d{3,4}", re.I),
        "a phone number",
    ),
    (_LONG_RUN, "an identifier (a run of 7 or more digits)"),
]
"""What needs a digit to match; most notes have none, so they skip these."""
_DIGIT = re.compile(r"\d")


_CHECKS: dict[tuple[bool, bool], Patterns] = {
    (digits, at_sign): [
        *(_WITH_DIGITS if digits else ()),
        *_WORDS,
        *(_EMAIL if at_sign else ()),
        *_SPELLED_EMAIL,
    ]
    for digits in (False, True)
    for at_sign in (False, True)
}
"""The patterns to run, by whether the text has a digit and whether it has an @."""


def phi_finding(text: str) -> str | None:
    """Return what `text` looks like if it resembles a patient identifier, else None."""
    text = as_seen(text)
    for pattern, what in _CHECKS[_DIGIT.search(text) is not None, "@" in text]:
        if pattern.search(text):
            return what
    return None


_ID_WORDS = re.compile(
    r"(?<![a-z0-9])(?:(?P<ssn>ssn|social security)|(?P<mrn>mrn|m\.r\.n\.?|medical record)"
    r"|(?P<dob>dob|d\.o\.b\.?|date[\s_-]+of[\s_-]+birth|birth[\s_-]?date))(?![a-z])[\s:#=_.-]{0,3}\d",
    re.I,
)
_ID_KINDS = {"ssn": "a social security number", "mrn": "a medical record number"}
_ID_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def identifier_finding(text: str) -> str | None:
    """Return what an identifier, a name (segment, persona, stage, partner), an envelope text
    (actor, source, idempotency key), the name of a file an import records in its events'
    source, or a value quoted in a message looks like if it names a patient identifier, else
    None.

    Narrower than `phi_finding`, as ids are not prose: a social security number written
    3-2-4 with hyphens, or the words SSN, MRN, DOB (and their spelt-out forms) standing apart
    and followed by digits ("MRN 4471", "ssn_123"). CRM ids with long digit runs, e-mail
    addresses of the vendor's people (`dob@vendor.example`), dates and names such as "Social
    Security Administration" or "NYC DOB" pass.
    """
    seen = as_seen(text)
    if _ID_SSN.search(seen):
        return "a social security number"
    if "@" in seen:
        seen = _ADDRESS.sub(" ", seen)
    word = _ID_WORDS.search(seen)
    return None if word is None else _ID_KINDS.get(word.lastgroup or "", "a date of birth")
