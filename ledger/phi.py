"""The PHI guard: free text must not carry patient identifiers.

The ledger stores commercial facts only. Free-text fields (`reason`, `note`) are short and are
rejected when they look like a patient identifier, so protected health information never enters
an immutable log that cannot be edited afterwards.
"""

from __future__ import annotations

import re

MAX_FREE_TEXT = 500

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "a social security number"),
    (re.compile(r"\b(ssn|social security)\b", re.I), "a social security number"),
    (
        re.compile(r"\b(mrn|medical record|patient (id|number|#))\b", re.I),
        "a medical record number",
    ),
    (re.compile(r"\b(dob|date of birth|born on)\b", re.I), "a date of birth"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "a date of birth"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "an e-mail address"),
    (
        re.compile(r"(\+\d{1,3}[\s.-]?)?\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}\b"),
        "a phone number",
    ),
    (re.compile(r"\b\d{7,}\b"), "an identifier (a run of 7 or more digits)"),
]


def phi_finding(text: str) -> str | None:
    """Return what `text` looks like if it resembles a patient identifier, else None."""
    for pattern, what in _PATTERNS:
        if pattern.search(text):
            return what
    return None
