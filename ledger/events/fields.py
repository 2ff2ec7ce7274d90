"""Annotated field types shared by every event family.

Each type accepts exactly the spellings a user or an import file would give and rejects the rest
with a short reason; pydantic adds the field name. Money is `Decimal`, never float.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from ledger.phi import MAX_FREE_TEXT, identifier_finding, phi_finding
from ledger.timeutil import TimeParseError, parse_date

MONEY_LIMIT = Decimal("1000000000000")  # one trillion in the ledger currency
SLUG_MAX = 40
_SLUG_RE = re.compile(rf"^[a-z][a-z0-9_]{{0,{SLUG_MAX - 1}}}$")
_SLUG_SHAPE = re.compile(r"^[a-z][a-z0-9_]*$")
_DECIMAL_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
"""Decimal text as money and probabilities are written: digits, and a point with digits after
it; no exponent, sign `+`, digit separators or thousands commas."""
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
"""Control characters, refused in identifiers, free text and the envelope's text keys."""
C1_CONTROLS = re.compile("[\x80-\x9f]")
"""The C1 control characters (what a Windows-1252 dash or quote becomes when its file is read
as Latin-1), refused in what a user enters; an earlier release may have stored them."""
INVISIBLE_CHARS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
"""Characters that show nothing or reorder the text around them (Unicode's format characters,
category Cf, and the line and paragraph separators): refused in identifiers a user enters, where
`D-6` followed by a right-to-left override would show as another id."""
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""The embedding, override and isolate controls that reorder text: refused in free text."""
STORED: dict[str, Any] = {"stored": True}
"""Validation context of a payload read back from the log (`decode_payload`): the checks of
what a user may enter now (the PHI guard, the range of period years, invisible characters,
ISO 4217 currencies) are not applied again, so
tightening them never makes a stored event unreadable or a ledger fail `verify`."""


def stored(info: ValidationInfo) -> bool:
    """True when the value being validated comes from the log, not from a user."""
    context = info.context
    return bool(context and context.get("stored"))


def normalize_decimal(d: Decimal) -> Decimal:
    """Return `d` without trailing zeros or exponent, so equal amounts encode identically."""
    if d.is_zero():
        return Decimal(0)
    text = format(d.normalize(), "f")
    return Decimal(text)


def decimal_text(value: Any, example: str = "1200.50") -> Decimal:
    """Return the Decimal of a decimal string (`"1200.50"`: digits, and a point with digits
    after it), a whole number or a Decimal; raise ValueError naming what is wrong (a float,
    true/false, an exponent, a sign `+`, separators, a non-finite value), with `example`."""
    if isinstance(value, bool):
        raise ValueError(f'must be a decimal string such as "{example}", not true or false')
    if isinstance(value, float):
        raise ValueError(
            f'must be a decimal string such as "{example}", not a floating-point number'
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_RE.match(text):
            raise ValueError(f'is not a decimal number such as "{example}"')
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError("is not a decimal number") from None
    else:
        raise ValueError("must be a decimal number")
    if not d.is_finite():
        raise ValueError("must be a finite number")
    return d


def _money(value: Any, *, positive: bool) -> Decimal:
    d = decimal_text(value)
    if d < 0 or (d.is_zero() and d.is_signed()):
        raise ValueError("must not be negative")
    if positive and d == 0:
        raise ValueError("must be greater than zero")
    if d >= MONEY_LIMIT:
        raise ValueError("is beyond the ledger's limit of 1,000,000,000,000")
    if d != d.quantize(Decimal("0.01")):
        raise ValueError("has more than 2 decimal places")
    return normalize_decimal(d)


def _nonneg_money(value: Any) -> Decimal:
    return _money(value, positive=False)


def _pos_money(value: Any) -> Decimal:
    return _money(value, positive=True)


def _probability(value: Any) -> Decimal:
    d = decimal_text(value, "0.25")
    if not Decimal(0) <= d <= Decimal(1):
        raise ValueError("must be between 0 and 1")
    if d != d.quantize(Decimal("0.0001")):
        raise ValueError("has more than 4 decimal places")
    return normalize_decimal(d)


def _identifier(value: Any, info: ValidationInfo) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a text identifier")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > 100:
        raise ValueError("is longer than 100 characters")
    if CONTROL_CHARS.search(text):
        raise ValueError("contains control characters")
    if not stored(info):
        _new_identifier(text)
    return text


@lru_cache(maxsize=65_536)
def _new_identifier(text: str) -> None:
    """Refuse an id given by a user that holds what an id may not hold in the log (an id an
    import names on many lines is checked once: only ids that pass are remembered)."""
    if C1_CONTROLS.search(text):
        raise ValueError("contains control characters")
    invisible = INVISIBLE_CHARS.search(text)
    if invisible:
        raise ValueError(
            f"contains the invisible character U+{ord(invisible[0]):04X}, which would "
            "make it show as another id"
        )
    finding = identifier_finding(text)
    if finding:
        raise PydanticCustomError(
            "phi", f"looks like {finding}; ids must never hold patient identifiers (PHI)"
        )
    lookalike = lookalike_finding(text)
    if lookalike:
        raise ValueError(lookalike)


HYPHEN_LOOKALIKES = "\u02d7\u2010\u2011\u2012\u2043\u2212\ufe63\uff0d"
"""Characters drawn as the hyphen-minus is (the hyphen, the non-breaking and figure dashes, the
minus signs), which an id may not hold: `D\u20101` shows as `D-1`. The en and em dashes, drawn
longer, are taken (`Hôpital – Nord`, as a spreadsheet writes a name)."""
_AS_HYPHEN = str.maketrans(dict.fromkeys(HYPHEN_LOOKALIKES, "-"))


def _as_read(text: str) -> str:
    """Return `text` as a reader takes it: compatibility forms folded (Unicode NFKC), which
    also composes a letter and its combining accent (NFC), and a hyphen look-alike a hyphen."""
    return unicodedata.normalize("NFKC", text).translate(_AS_HYPHEN)


def lookalike_finding(text: str) -> str | None:
    """Return why an id that a reader would take for another id is refused, or None when it
    reads as it is written.

    Full-width letters and digits, a no-break, thin or ideographic space, a hyphen look-alike
    (`HYPHEN_LOOKALIKES`) and a letter followed by its combining accent (Unicode's decomposed
    form) each make an id that shows as another (`D\u20101` as `D-1`, a decomposed `Zürich-1`
    as the composed one) while naming another deal."""
    if text.isascii():
        return None
    seen = _as_read(text)
    if seen == text:
        return None
    for ch in text:
        if not ch.isascii() and _as_read(ch) != ch:
            return (
                f"holds U+{ord(ch):04X} ({unicodedata.name(ch, 'a compatibility character')}), "
                f"which reads as {_as_read(ch)!r}, so the id would show as another; write it "
                f"as {seen!r}"
            )
    return (
        "holds a letter and its accent as two characters (Unicode's decomposed form), so the "
        f"id would show as another; write it composed (NFC) as {seen!r}"
    )


def _no_patient_identifier(name: str, info: ValidationInfo) -> None:
    """Refuse a name a user enters (a slug, a partner's name) that names a patient identifier,
    as `_identifier` refuses an id."""
    if not stored(info):
        finding = identifier_finding(name)
        if finding:
            raise PydanticCustomError(
                "phi", f"looks like {finding}; names must never hold patient identifiers (PHI)"
            )


def _slug(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if not _SLUG_RE.match(text):
        if _SLUG_SHAPE.match(text):  # a good name, only too long
            raise ValueError(f"is longer than {SLUG_MAX} characters")
        raise ValueError(
            "must be a lower-case name of letters, digits and underscores (e.g. 'health_system')"
        )
    _no_patient_identifier(text, info)
    return text


def _channel(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if text == "direct":
        return text
    if text.startswith("partner:") and _SLUG_RE.match(text[len("partner:") :]):
        _no_patient_identifier(text[len("partner:") :], info)
        return text
    raise ValueError("must be 'direct' or 'partner:<name>' (e.g. 'partner:epic')")


def _calendar_date(value: Any) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date in the form YYYY-MM-DD")
    try:
        return parse_date(value)
    except TimeParseError as exc:
        raise ValueError(str(exc)) from None


def _free_text(value: Any, info: ValidationInfo) -> str:
    # Every refusal of free text is a `free_text` error, whose value a message never quotes:
    # a note refused for its length may hold a patient identifier too.
    if not isinstance(value, str):
        raise PydanticCustomError("free_text", "must be text")
    text = value.strip()
    if not text:
        raise PydanticCustomError("free_text", "must not be empty")
    if len(text) > MAX_FREE_TEXT:
        raise PydanticCustomError("free_text", f"is longer than {MAX_FREE_TEXT} characters")
    if CONTROL_CHARS.search(text.replace("\n", " ")):
        raise PydanticCustomError("free_text", "contains control characters")
    if stored(info):
        return text
    if C1_CONTROLS.search(text):
        raise PydanticCustomError("free_text", "contains control characters")
    bidi = BIDI_CONTROLS.search(text)
    if bidi:
        raise PydanticCustomError(
            "free_text",
            f"contains U+{ord(bidi[0]):04X}, a control that reorders the text around it",
        )
    finding = phi_finding(text)
    if finding:
        raise PydanticCustomError(
            "free_text",
            f"looks like {finding}; free text must never contain patient identifiers (PHI)",
        )
    return text


def _strict_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def _strict_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        if len(value.strip().lstrip("-").lstrip("0")) > 6:
            raise ValueError("must be a whole number of at most 6 digits")
        return int(value)  # its field's own check gives the range
    if isinstance(value, float):  # a JSON number with a point or an exponent: `12.0`, `1e1`
        raise ValueError(
            "must be a whole number written without a point or an exponent, such as 12"
        )
    raise ValueError("must be a whole number")


Money = Annotated[Decimal, BeforeValidator(_nonneg_money)]
PositiveMoney = Annotated[Decimal, BeforeValidator(_pos_money)]
Probability = Annotated[Decimal, BeforeValidator(_probability)]
Identifier = Annotated[str, BeforeValidator(_identifier)]
Slug = Annotated[str, BeforeValidator(_slug)]
Channel = Annotated[str, BeforeValidator(_channel)]
CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
FreeText = Annotated[str, BeforeValidator(_free_text)]
Flag = Annotated[bool, BeforeValidator(_strict_bool)]
WholeNumber = Annotated[int, BeforeValidator(_strict_int)]
