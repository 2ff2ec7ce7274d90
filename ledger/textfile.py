"""Reading a user's UTF-8 text file: whole, or line by line with line numbers.

A file that is not UTF-8 is an InputError naming its first undecodable line and the byte
where decoding failed; a leading byte-order mark is dropped. Lines end at "\n" only (a JSON
string may hold any other line separator).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ledger.errors import InputError


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text without its line end) of the file at `path`, reading lazily."""
    try:
        with path.open(encoding="utf-8-sig", newline="\n") as f:
            for n, text in enumerate(f, start=1):
                yield n, text.rstrip("\r\n")
    except UnicodeDecodeError:
        raise undecodable(path) from None


def read_text(path: Path) -> str:
    """Return the whole text of the file at `path`."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise undecodable(path) from None


def undecodable(path: Path) -> InputError:
    """Return the error naming the first line of `path` that is not UTF-8, and its byte."""
    offset = 0
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return InputError(
                    f"line {n} is not UTF-8 text (byte {offset + exc.start} of the file cannot "
                    "be decoded)",
                    where=str(path),
                )
            offset += len(raw)
    return InputError("is not UTF-8 text", where=str(path))
