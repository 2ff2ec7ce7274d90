"""The errors a user can cause, each with the process exit code the CLI documents.

Every error renders as one sentence. Input errors name where the bad value came from
(line, field and value) so the user can fix the source without guessing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ledger.phi import identifier_finding

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_VALIDATION = 3
EXIT_CONFLICT = 4
EXIT_INTEGRITY = 5
EXIT_STORAGE = 6


class RevledgerError(Exception):
    """Base class of every error meant for the user; `exit_code` is the CLI's exit status."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(RevledgerError):
    """A command was called with options that do not make sense together."""

    exit_code = EXIT_USAGE


class WrittenFloat(float):
    """A JSON number with a fraction or an exponent, keeping the text it was written as, so
    that a message quotes `1e3` as the file has it, not as `1000.0`."""

    __slots__ = ("written",)
    written: str

    def __new__(cls, written: str) -> WrittenFloat:
        number = super().__new__(cls, written)
        number.written = written
        return number


def quoted(value: Any) -> str:
    """Return a value as a message quotes it: text in quotes, other values as JSON writes them
    (`true`, `null`, `[1, 2]`), a JSON number with a fraction as it was written (`1e3`), a
    decimal as its digits (`1E-400`)."""
    if isinstance(value, WrittenFloat):
        text = value.written
    elif isinstance(value, str | Decimal):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # a circular structure: never from parsed input
            text = repr(value)
    text = _cut(text)
    return repr(text) if isinstance(value, str) else text


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def withheld(text: str) -> str | None:
    """Return what a text a message would quote looks like when it names a patient identifier
    (`ledger.phi.identifier_finding` of the part shown), else None: then it is not quoted."""
    return identifier_finding(_cut(text))


NOT_CONFIGURED = (
    "the ledger has no configuration yet (it holds no events); run `revledger init` to start "
    "it, or restore an export into it with `revledger import --restore`"
)
"""What a command says of a ledger without events: `init` writes its first, a restore all."""


class InputError(RevledgerError):
    """An event or input line that fails validation; nothing was written.

    `where` is a location such as "line 17" or "OpportunityHistory.csv line 4 column Amount".
    """

    exit_code = EXIT_VALIDATION

    def __init__(
        self,
        reason: str,
        *,
        where: str | None = None,
        field: str | None = None,
        value: Any = None,
        has_value: bool = False,
    ) -> None:
        self.reason = reason
        self.where = where
        self.field = field
        self.value = value
        self.has_value = has_value
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts: list[str] = []
        if self.where:
            parts.append(self.where)
        if self.field:
            if self.field.startswith("$"):  # an environment variable
                subject = f"environment variable {self.field[1:]}"
            else:
                noun = "option" if self.field.startswith("--") else "field"
                subject = f"{noun} '{self.field}'"
            if self.has_value:
                finding = withheld(self.value) if isinstance(self.value, str) else None
                subject += (
                    f" (value withheld: it looks like {finding})"
                    if finding
                    else f" = {quoted(self.value)}"
                )
            parts.append(subject)
        prefix = ": ".join(parts)
        sentence = f"{prefix}: {self.reason}" if prefix else self.reason
        return sentence if sentence.endswith(".") else sentence + "."


class ConflictError(RevledgerError):
    """An append raced another writer or reused an idempotency key with different content."""

    exit_code = EXIT_CONFLICT

    def __init__(self, message: str, *, where: str | None = None, key: str | None = None) -> None:
        text = f"{where}: {message}" if where else message
        super().__init__(text if text.endswith(".") else text + ".")
        self.where = where
        self.key = key
        """The idempotency key reused with other content, if that is the conflict."""


class IntegrityError(RevledgerError):
    """The stored log does not verify: a hash, link or sequence number is wrong."""

    exit_code = EXIT_INTEGRITY

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class StorageError(RevledgerError):
    """The database cannot be opened, is not a ledger, or is from a newer release."""

    exit_code = EXIT_STORAGE
