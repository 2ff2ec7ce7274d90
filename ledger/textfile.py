"""Reading a user's UTF-8 text file: whole, or line by line with line numbers; writing one
whole or not at all.

A file that is not UTF-8 is an InputError naming its first undecodable line and the byte
where decoding failed; a leading byte-order mark is dropped. Lines end at "\n" only (a JSON
string may hold any other line separator).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import TextIO, TypeVar

from ledger.errors import InputError, StorageError

T = TypeVar("T")
NAME_MAX = 255
"""The longest file name, in bytes, that common file systems take."""


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


def write_whole(path: Path, write: Callable[[TextIO], T]) -> T:
    """Return what `write` returns after it wrote the UTF-8 text file `path`, whole or not at all.

    The text goes to a hidden file beside `path` (beside the file it links to, for a symbolic
    link) that takes its place only when `write` is done, so a failed or interrupted write
    never leaves a part of the file behind. Only a device or a pipe (`/dev/stdout`) is written
    directly. A file that cannot be written is a StorageError naming it.
    """
    direct = path.exists() and not path.is_file()
    target = path if direct else path.resolve()
    if not target.parent.is_dir():
        raise StorageError(f"cannot write {path}: the folder {path.parent} does not exist")
    written = target
    out: TextIO
    try:
        if direct:
            out = written.open("w", encoding="utf-8")
        else:
            try:
                written, out = _hidden_beside(target)
            except PermissionError:
                raise StorageError(
                    f"cannot write {path}: it is written whole beside it first, and the folder "
                    f"{target.parent} may not be written"
                ) from None
        with out:
            result = write(out)
        if not direct:
            written.replace(target)
    except BaseException as exc:
        if written != target:
            with suppress(OSError):
                written.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return result


def hidden_name(name: str, ending: str, room: int = 0) -> str:
    """Return a new hidden name for a file of this writer alone beside the file `name`
    (`.NAME.XXXXXXXX.ENDING`), NAME shortened as needed so that it, and `room` bytes more (a
    side file's ending, say), fit a file system's 255 bytes."""
    tail = f".{secrets.token_hex(4)}.{ending}"
    while len(os.fsencode(name)) > NAME_MAX - len(tail) - 1 - room:
        name = name[:-1]
    return f".{name}{tail}"


def _hidden_beside(target: Path) -> tuple[Path, TextIO]:
    """Return a new hidden file beside `target`, of this writer alone, open for UTF-8 text.

    Its name is made afresh (`.NAME.XXXXXXXX.partial`) and created exclusively, so that two
    commands writing the same file at once each write a file of their own: the last to finish
    leaves its file whole, and neither truncates, renames or removes the other's. (The name
    is shortened as needed to fit a file system's 255 bytes.)"""
    while True:
        hidden = target.with_name(hidden_name(target.name, "partial"))
        try:
            fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            return hidden, open(fd, "w", encoding="utf-8")  # the caller closes it
        except BaseException:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
