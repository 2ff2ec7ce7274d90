"""CSV files as CRM exports write them: any encoding of a few, quoted or not, with a header.

Encoding: a UTF-8 byte-order mark is honoured (and dropped), a UTF-16 one too; otherwise the
file is read as UTF-8 and, when it is not valid UTF-8, as Windows-1252, the Western encoding
Excel saves CSV in (a superset of Latin-1's printable characters, so `Clôture gagnée` reads,
and its `–`, `’` and `€` read as themselves, not as control characters); its five unused bytes
read as Latin-1's (control characters, which ids refuse). Every value may be quoted;
values are trimmed, and a quoted value must be closed. Columns are found by name, ignoring
case, spaces and punctuation (`OpportunityId`, `Opportunity ID` and `opportunity_id` are one
column), so a file with two of them is refused when the import uses that column (a column it
ignores may repeat). Line numbers are the file's physical lines, so a value spanning lines is
reported where its record starts.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ledger.errors import InputError, quoted, withheld

T = TypeVar("T")


def column_key(name: str) -> str:
    """Return the form in which column names (and labels) are compared: lower-case alphanumerics."""
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def decode(data: bytes) -> str:
    """Return the text of a CRM export: UTF-8 (BOM optional), UTF-16 with a BOM, else
    Windows-1252 (Latin-1 for the bytes it leaves unused)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="latin-1-for-unused")


def _latin1_for_unused(exc: UnicodeError) -> tuple[str, int]:
    """Decode the bytes Windows-1252 leaves unused (0x81, 0x8D, 0x8F, 0x90, 0x9D) as Latin-1."""
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error("latin-1-for-unused", _latin1_for_unused)


def read_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number where the record starts, trimmed values) of every non-blank record."""
    data = path.read_bytes()
    if b"\x00" in data[:65536] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("is not a CSV text file (it holds NUL bytes)", where=path.name)
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise InputError(f"is not readable text ({exc.reason})", where=path.name) from None
    # A quoted value still open at the end of the file is an error, not the rest of the file
    # read as one value (which would drop every record after it). Other quirks the strict
    # reader would refuse (a space after a closing quote, as hand-aligned files have) are read.
    opened = unclosed_quote(text)
    if opened is not None:
        raise InputError(
            "has a quoted value that is never closed (a missing '\"')",
            where=f"{path.name} line {opened}",
        )
    try:
        records = _parsed(text)
    except _Unreadable as problem:
        raise InputError(problem.reason, where=f"{path.name} line {problem.line}") from None
    yield from records


def unclosed_quote(text: str) -> int | None:
    """Return the line on which a quoted value opens that the text never closes (None when
    every one is closed), reading quotes as the CSV reader does: a quote opens a value only at
    its start, and inside one `""` is a quote and `"` closes it."""
    quoted = False
    at_start = True
    line = opened = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quoted:
            if c == '"':
                if text.startswith('""', i):
                    i += 1
                else:
                    quoted = False
            elif c == "\n":
                line += 1
        elif c == '"' and at_start:
            quoted, opened = True, line
        elif c == "\n":
            line += 1
        at_start = not quoted and c in ",\n\r"
        i += 1
    return opened if quoted else None


class _Unreadable(Exception):
    """The CSV reader's failure, with the line where the record it was reading starts."""

    def __init__(self, line: int, error: csv.Error) -> None:
        super().__init__(str(error))
        self.line = line
        self.reason = f"is not valid CSV ({error})"


def _parsed(text: str) -> list[tuple[int, list[str]]]:
    """Return (line where the record starts, trimmed values) of every non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            values = [v.strip() for v in record]
            if any(values):
                records.append((start, values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _Unreadable(start, exc) from None
    return records


@dataclass(frozen=True, slots=True)
class Row:
    """One data record: the line it starts on and its values by header name."""

    line: int
    values: dict[str, str]


class CsvTable:
    """A CSV file with a header row; every error names the file, the line and the column."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        records = read_records(path)
        first = next(records, None)
        if first is None:
            raise InputError("is empty; it needs a header row and data rows", where=self.name)
        self.header = first[1]
        self.rows: list[Row] = []
        width = len(self.header)
        for line, values in records:
            if len(values) != width:
                raise InputError(
                    f"has {len(values)} values but the header has {width} columns",
                    where=f"{self.name} line {line}",
                )
            self.rows.append(Row(line, dict(zip(self.header, values, strict=True))))

    def column(self, *names: str, required: bool = True) -> str | None:
        """Return the header of the first of `names` the file has (compared by `column_key`).

        Raises InputError naming the expected column when it is required and absent, and
        naming both headers when two of them are that one column.
        """
        for name in names:
            found = [i for i, h in enumerate(self.header) if column_key(h) == column_key(name)]
            if len(found) > 1:
                i, j = found[:2]
                raise InputError(
                    f"has the column {name} twice, as {quoted(self.header[i])} (column {i + 1}) "
                    f"and {quoted(self.header[j])} (column {j + 1}); names are compared "
                    "ignoring case, spaces and punctuation, so keep one",
                    where=f"{self.name} line 1",
                )
            if found:
                return self.header[found[0]]
        if required:
            raise InputError(
                f"has no column {names[0]} (its columns are: {', '.join(self.header)})",
                where=f"{self.name} line 1",
            )
        return None

    def where(self, row: Row, column: str | None = None) -> str:
        """Return the location of `row` (and `column`) for messages."""
        at = f"{self.name} line {row.line}"
        return f"{at} column {column}" if column else at

    def refusal(self, row: Row, column: str, reason: str) -> InputError:
        """Return the error refusing the value of `row` in `column` for `reason` (a fragment
        such as `repeats line 3`), naming file, line, column and value."""
        return InputError(_refusal(row.values[column], reason), where=self.where(row, column))

    def cell(self, row: Row, column: str | None, parse: Callable[[str], T | None]) -> T | None:
        """Return `parse` of the value in `column` (None when blank or the column is absent).

        A ValueError of `parse` becomes an InputError naming file, line, column and value.
        """
        if column is None:
            return None
        text = row.values[column]
        if not text:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            raise self.refusal(row, column, str(exc)) from None

    def required(self, row: Row, column: str | None, parse: Callable[[str], T]) -> T:
        """Return `parse` of the value in a column that must not be blank (see `cell`)."""
        value = self.cell(row, column, parse)
        if value is None:
            raise InputError("must not be blank", where=self.where(row, column))
        return value


def _refusal(text: str, reason: str) -> str:
    """Return why a cell's `text` is refused, quoting it unless it looks like PHI."""
    finding = withheld(text)
    if finding is None:
        return f"{quoted(text)} {reason}"
    if "(PHI)" in reason:
        return f"the value {reason}"
    return f"the value (withheld: it looks like {finding}) {reason}"
