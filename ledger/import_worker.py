"""Reading and parsing an import file, in blocks of lines: in this process, or in a second one.

Parsing an import line (JSON, schema validation, the canonical payload encoding) costs about as
much as checking and writing its event. On a machine with more than one core a large import
therefore parses in a worker process (a new interpreter) while this one checks and writes what
the worker has parsed so far. The worker sends each event as a `StagedEvent` in parts: what the
rules read of it (its `RuleView`), the texts the ledger stores (canonical payload JSON,
effective_at text), keys, actor, source and line number; this process does not build the typed
event again. Lines
are parsed in order by one parser, so a `ledger_configured` line still changes the time zone of
the lines after it, and the first bad line is reported exactly as an in-process parse reports
it. Lines end at "\n" only (a JSON string may hold any other line separator).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from itertools import dropwhile, islice
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ledger.envelope import NewEvent, StagedEvent
from ledger.errors import InputError, StorageError
from ledger.events.view import RuleView
from ledger.jsonl import ImportParser
from ledger.textfile import numbered_lines
from ledger.timeutil import read_instant

BLOCK_LINES = 2_000
"""Lines parsed and handed over at a time."""
WORKER_MIN_BYTES = 2_000_000
"""Smaller files are parsed in this process: starting a worker costs more than it saves."""
HERE_LINES = 10_000
"""Lines the importing process parses itself while the worker starts (see `parsed_blocks`)."""
MAX_CONFIGS_ARGUMENT = 100_000
"""The configurations in force go to the worker as one command-line argument (JSON), which
Linux caps at 128 KiB: with more (over a thousand configurations), the file is parsed here."""
QUEUED_BLOCKS = 50
"""Parsed blocks that may wait for this process (about 30 MB of records at most)."""

Block = tuple[int, Sequence[NewEvent | StagedEvent]]
"""The number of lines a block read (blank ones included), and the events on them (parsed here:
`NewEvent`s; sent by a worker: `StagedEvent`s)."""
Parsed = tuple[int, list[NewEvent]]
"""A block parsed in this process."""
# What the worker sends per event: the fields of its RuleView (as a tuple), schema version,
# payload JSON, effective_at text, idempotency key, actor, source, event_id, where it came
# from ("line 17"), and the settings a configuration line left out.
_Record = tuple[
    tuple[Any, ...], int, str, str, str | None, str, str, str | None, str | None, tuple[str, ...]
]


def worker_possible() -> bool:
    """True when a worker process would have a core of its own (on a POSIX system)."""
    return os.name == "posix" and (os.cpu_count() or 1) > 1


def parse_blocks(
    lines: Iterator[tuple[int, str]], parser: ImportParser, *, after: int = 0
) -> Iterator[Parsed]:
    """Yield the events of numbered `lines` in blocks of `BLOCK_LINES` lines, parsed here;
    `after` is the number of the line before the first of `lines`."""
    events: list[NewEvent] = []
    last = read = after
    for n, text in lines:
        if text.strip():
            events.append(parser.parse(text, n))
        if n - last >= BLOCK_LINES:
            yield n - last, events
            events, last = [], n
        read = n
    yield read - last, events


@contextmanager
def parsed_blocks(path: Path, parser: ImportParser, *, worker: bool) -> Iterator[Iterator[Block]]:
    """Yield the blocks of `path` (see `parse_blocks`), parsed here or, with `worker`, mostly by
    a worker process.

    With a worker, this process parses the first `HERE_LINES` lines itself while the worker
    starts (a new interpreter takes a few tenths of a second to import what it needs), and the
    worker parses the rest. If those first lines moved the time zone (a `ledger_configured`
    line, or the retraction of one), the worker, which started in the old one, is stopped and
    the rest is parsed here. If they only changed the configurations in force (a configuration
    in the same time zone), the worker's blocks are taken until one retracts a configuration
    in force, after which the worker, not knowing them all, may have read dates in another
    zone: the worker is stopped, and that block and the rest are parsed here (so is a block
    the worker reports an error in, which may be an error only in that other zone).
    """
    lines = numbered_lines(path)
    if not worker or len(json.dumps(parser.configs)) > MAX_CONFIGS_ARGUMENT:
        yield parse_blocks(lines, parser)
        return
    zone, configs = parser.state
    ahead = ImportParser(
        timezone=zone, actor=parser.actor, source_name=parser.source_name, configs=configs
    )
    with ExitStack() as running:
        rest = running.enter_context(parsed_in_worker(path, ahead, skip=HERE_LINES))

        def here_after(read: int) -> Iterator[Block]:
            """Stop the worker, whose lines are not used, and parse the lines after line
            `read` here."""
            running.close()
            yield from parse_blocks(_after(lines, read), parser, after=read)

        def blocks() -> Iterator[Block]:
            yield from parse_blocks(islice(lines, HERE_LINES), parser)
            if parser.timezone != zone:
                yield from here_after(HERE_LINES)
                return
            if parser.configs == configs:
                yield from rest  # the worker reads with what this parser would
                return
            read = HERE_LINES
            while True:
                try:
                    block = next(rest)
                except StopIteration:
                    return
                except InputError:
                    # Raised for a line of the block the worker could not send: perhaps one it
                    # read after such a retraction, in another zone. This parser says.
                    break
                before = parser.state
                if not all(parser.follow(e) for e in block[1] if isinstance(e, StagedEvent)):
                    parser.timezone, parser.configs = before
                    break
                read += block[0]
                yield block
            yield from here_after(read)

        yield blocks()


def _after(lines: Iterator[tuple[int, str]], line: int) -> Iterator[tuple[int, str]]:
    """Return the numbered `lines` after line number `line`."""
    return dropwhile(lambda numbered: numbered[0] <= line, lines)


@contextmanager
def parsed_in_worker(
    path: Path, parser: ImportParser, *, skip: int = 0
) -> Iterator[Iterator[Block]]:
    """Yield the blocks of `path` (see `parse_blocks`) as a worker process parses them.

    The worker is a new interpreter running this module (`python -m ledger.import_worker`),
    writing its messages to its standard output. It is not forked: a forked child would hold
    this process's database connections open, and a transaction whose importer was killed would
    keep its lock until the child ended. Nor is it a multiprocessing child, which would run the
    calling program's main script again. It is stopped when the `with` block ends, whether or
    not every block of lines was taken, and it ends by itself when this process dies (its next
    write finds no reader). An error in a line is raised when its block is reached, as the
    InputError the parser raised.
    """
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "ledger.import_worker", str(path), str(skip)]
    configs = json.dumps(parser.configs)
    worker = subprocess.Popen(
        [*command, parser.timezone, parser.actor, parser.source_name, configs],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert worker.stdout is not None
    receive = Connection(os.dup(worker.stdout.fileno()), writable=False)
    worker.stdout.close()
    # A thread takes the worker's messages off the pipe as they come: a pipe holds far less
    # than a block, so without it the worker would wait for this process to ask for the next
    # block instead of parsing ahead. The queue's bound keeps memory in check.
    arrived: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_BLOCKS)
    stop = threading.Event()
    reader = threading.Thread(
        target=_drain, args=(receive, arrived, stop), name="revledger-parse-reader", daemon=True
    )
    reader.start()
    try:
        yield _received(arrived)
    finally:
        stop.set()
        if worker.poll() is None:
            worker.kill()
        worker.wait()
        reader.join()
        receive.close()


def _work(path: Path, skip: int, parser: ImportParser, send: Connection) -> None:
    """The worker: parse `path` after its first `skip` lines block by block and send each
    block's records, then the end."""
    try:
        lines = islice(numbered_lines(path), skip, None)
        for lines_read, events in parse_blocks(lines, parser, after=skip):
            records: list[_Record] = []
            for e in events:
                s = e.staged()
                records.append(
                    (
                        tuple(s.view),
                        s.schema_version,
                        s.payload,
                        s.effective,
                        s.idempotency_key,
                        s.actor,
                        s.source,
                        s.event_id,
                        s.where,
                        s.omitted,
                    )
                )
            send.send(("block", lines_read, records))
        send.send(("end", 0, None))
    except InputError as exc:
        send.send(("error", 0, (exc.reason, exc.where, exc.field, exc.value, exc.has_value)))
    except BrokenPipeError:
        pass  # the importing process is gone
    except BaseException as exc:  # a bug: reported to the importing process, which raises it
        send.send(("crash", 0, f"{type(exc).__name__}: {exc}"))


def main(argv: list[str]) -> None:
    """Run as the worker: `python -m ledger.import_worker PATH SKIP TIMEZONE ACTOR SOURCE_NAME
    CONFIGS` (CONFIGS: the configurations in force as JSON, see `ImportParser`)."""
    path, skip, timezone, actor, source_name, configs = argv
    send = Connection(os.dup(sys.stdout.fileno()), readable=False)
    sys.stdout = sys.stderr  # the real standard output carries the messages only
    try:
        in_force = tuple((event_id, zone) for event_id, zone in json.loads(configs))
        parser = ImportParser(
            timezone=timezone, actor=actor, source_name=source_name, configs=in_force
        )
        _work(Path(path), int(skip), parser, send)
    finally:
        with suppress(OSError):
            send.close()


def _drain(receive: Connection, arrived: queue.Queue[Any], stop: threading.Event) -> None:
    """The reader thread: move the worker's messages to `arrived` until the last one, the
    worker's end, or `stop`."""
    while not stop.is_set():
        try:
            message = receive.recv()
        except (EOFError, OSError):
            message = ("lost", 0, None)
        while not stop.is_set():
            try:
                arrived.put(message, timeout=0.1)
                break
            except queue.Full:
                continue
        if message[0] != "block":
            return


def _received(arrived: queue.Queue[Any]) -> Iterator[Block]:
    """Yield the worker's blocks as events; raise the error it reports."""
    while True:
        kind, lines, body = arrived.get()
        if kind == "block":
            yield lines, _events(body)
        elif kind == "end":
            return
        elif kind == "error":
            reason, where, field, value, has_value = body
            raise InputError(reason, where=where, field=field, value=value, has_value=has_value)
        elif kind == "lost":  # killed (by the kernel's out-of-memory killer, say)
            raise StorageError(
                "the import's parsing process (a second Python process) ended before the end "
                "of the file, without an error: was it killed? Nothing was written"
            )
        else:
            raise RuntimeError(f"the import's parsing process failed ({body})")


def _events(records: list[Any]) -> list[StagedEvent]:
    """Return the events the worker sent as records (see `_Record`)."""
    make = RuleView._make
    return [
        StagedEvent(
            make(view),
            version,
            payload,
            effective,
            read_instant(effective),
            actor,
            source,
            key,
            event_id,
            None,
            where,
            None,
            omitted,
        )
        for view, version, payload, effective, key, actor, source, event_id, where, omitted in (
            records
        )
    ]


if __name__ == "__main__":
    main(sys.argv[1:])
