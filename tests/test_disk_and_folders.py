"""When the disk or the folder works against the user: a full disk, a folder that cannot be
written, a terminal that cannot draw. Each failure is one sentence naming the cause, with a
documented exit code, and leaves nothing written: no ledger half made, no batch half stored."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.ledger_commands import PROGRESS_CLUTTER, PROGRESS_MIN_LINES, progress_width
from cli.main import cli
from ledger.errors import EXIT_STORAGE, StorageError
from ledger.store import LedgerStore
from ledger.store import checkpoints as checkpoints_module
from ledger.store.engine import database_reason
from tests.test_cli_environment import READ_ONLY_MOUNTS, _on_a_read_only_mount

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "fixtures" / "sample-ledger.jsonl"


def _sqlite_full(message: str = "database or disk is full", name: str = "SQLITE_FULL") -> Any:
    """Return SQLite's error of a full disk as the driver raises it."""
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorname = name
    return exc


class _PostgresError(Exception):
    """An error as psycopg raises it: its SQLSTATE beside its message."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _postgres_full() -> Any:
    return _PostgresError(
        'could not extend file "base/16384/16390": No space left on device', "53100"
    )


def _ledger(tmp_path: Path) -> str:
    db = str(tmp_path / "l.db")
    for args in (["init"], ["import", str(SAMPLE)]):
        assert CliRunner().invoke(cli, ["--db", db, *args]).exit_code == 0
    return db


@pytest.mark.parametrize("full", [_sqlite_full, _postgres_full], ids=["sqlite", "postgresql"])
def test_an_answer_is_given_where_the_disk_has_no_room_for_its_read_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: Callable[[], Exception]
) -> None:
    """Saving the read model a question computed is a saving of time, not the answer: on a full
    disk the answer is given all the same, and the next question computes it again."""
    db = _ledger(tmp_path)
    asked = ["--db", db, "arr", "--as-of", "2026-06-30", "--by", "segment", "--format", "json"]

    def no_room(*_args: Any, **_kwargs: Any) -> Any:
        raise full()

    monkeypatch.setattr(checkpoints_module, "_writing", no_room)
    out = CliRunner().invoke(cli, asked)
    assert out.exit_code == 0, out.stderr
    with LedgerStore.open(db) as store:
        assert store.load_checkpoint("revenue-view") is None
    monkeypatch.undo()
    assert json.loads(CliRunner().invoke(cli, asked).stdout) == json.loads(out.stdout)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            _sqlite_full(),
            "the disk holding the ledger is full (database or disk is full); free space on it "
            "and try again",
        ),
        (  # the shared-memory file a reader of a WAL ledger needs could not be grown
            _sqlite_full("disk I/O error", "SQLITE_IOERR_SHMSIZE"),
            "the disk holding the ledger is full (disk I/O error); free space on it and try again",
        ),
        (
            _postgres_full(),
            'the database server\'s disk is full (could not extend file "base/16384/16390": '
            "No space left on device); free space on it and try again",
        ),
    ],
    ids=["sqlite-write", "sqlite-shared-memory", "postgresql"],
)
def test_a_full_disk_is_named_as_the_reason(error: Exception, said: str) -> None:
    assert database_reason(error) == said


@pytest.mark.parametrize(
    ("args", "writes"),
    [
        (["init"], "append"),
        (["demo", "--today", "2026-11-01"], "append_batch"),
    ],
    ids=["init", "demo"],
)
def test_a_new_ledger_that_fails_part_way_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], writes: str
) -> None:
    """A full disk (or Ctrl-C) after the tables are made and before the events are in leaves
    neither an empty file nor a ledger holding only its tables: the next command finds no
    ledger there, as before."""
    db = tmp_path / "new.db"

    def disk_full(*_args: Any, **_kwargs: Any) -> Any:
        raise StorageError(f"database error: {database_reason(_sqlite_full())}")

    monkeypatch.setattr(LedgerStore, writes, disk_full)
    out = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert (out.exit_code, out.stderr) == (
        EXIT_STORAGE,
        "revledger: database error: the disk holding the ledger is full (database or disk is "
        "full); free space on it and try again.\n",
    )
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert CliRunner().invoke(cli, ["--db", str(db), *args]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db"]


def test_a_ledger_is_not_created_in_a_folder_this_user_may_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite would say only "unable to open database file"; the message names the folder.
    (Simulated: the tests may run as root, whom no folder refuses.)"""
    closed = tmp_path / "closed"
    closed.mkdir()
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == closed and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    for args in (["init"], ["demo"], ["import", "--restore", str(SAMPLE)]):
        out = CliRunner().invoke(cli, ["--db", str(closed / "l.db"), *args])
        assert (out.exit_code, out.stderr) == (
            EXIT_STORAGE,
            f"revledger: cannot create {closed / 'l.db'}: the folder {closed} cannot be written "
            "by this user; give a path in a folder you can write.\n",
        ), args
    assert list(closed.iterdir()) == []


@READ_ONLY_MOUNTS
@pytest.mark.parametrize(
    "args", [["init"], ["import", "--restore", str(SAMPLE)]], ids=["init", "restore"]
)
def test_a_ledger_is_not_created_on_a_read_only_disk(tmp_path: Path, args: list[str]) -> None:
    """The message names the read-only disk (a restore's, not the hidden file it would have
    written first)."""
    share = tmp_path / "share"
    share.mkdir()
    db = str(share / "new.db")
    out = _on_a_read_only_mount(share, db, *args)
    assert (out.returncode, out.stderr) == (
        EXIT_STORAGE,
        f"revledger: cannot create {db}: the folder {share} lies on a read-only disk; give a "
        "path on a disk that can be written.\n",
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("term", "columns", "width"),
    [
        ("xterm", "120", 36),
        ("xterm", "60", 60 - 30),  # narrower: the bar shrinks so the line still fits
        ("xterm", "40", 10),  # the README's 40-column line: the shortest bar, one column spare
        ("xterm", "30", None),  # too narrow for the line: each redraw would wrap
        ("dumb", "120", None),  # no cursor control: the bar's escapes would show as text
    ],
)
def test_an_import_draws_its_progress_only_where_the_terminal_can_show_it(
    monkeypatch: pytest.MonkeyPatch, term: str, columns: str, width: int | None
) -> None:
    monkeypatch.setenv("TERM", term)
    monkeypatch.setenv("COLUMNS", columns)
    assert progress_width(_Terminal(), PROGRESS_MIN_LINES) == width
    assert progress_width(io.StringIO(), PROGRESS_MIN_LINES) is None  # not a terminal
    assert progress_width(_Terminal(), PROGRESS_MIN_LINES - 1) is None  # a short file


def test_the_progress_bar_fits_the_terminal_it_is_drawn_on_not_standard_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Standard output may be a file (`import … > log.txt`) while the bar is drawn on standard
    error: the bar takes the width of the terminal standard error is."""

    class _Stderr(_Terminal):
        def fileno(self) -> int:
            return 2

    def size(fd: int = 1) -> os.terminal_size:
        return os.terminal_size((50 if fd == 2 else 200, 24))

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("os.get_terminal_size", size)
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a: os.terminal_size((200, 24)))
    assert progress_width(_Stderr(), PROGRESS_MIN_LINES) == 50 - PROGRESS_CLUTTER


def _small_disks_work() -> bool:
    try:
        probe = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t tmpfs -o size=64k tmpfs /mnt",
            ],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


SMALL_DISKS = pytest.mark.skipif(
    not _small_disks_work(),
    reason="a small disk to fill is a tmpfs mounted in a private mount namespace (unshare "
    "--mount, as root)",
)

_FULL_DISK_SCRIPT = """
import json, os, subprocess, sys
disk, lines, large = sys.argv[1], sys.argv[2], sys.argv[3]
def run(*args, db="l.db"):
    done = subprocess.run([sys.executable, "-m", "cli.entry", "--db", disk + "/" + db, *args],
                          capture_output=True, text=True)
    return [done.returncode, done.stdout, done.stderr]
result = {"init": run("init"), "import": run("import", lines)}
filler = os.open(disk + "/filler", os.O_WRONLY | os.O_CREAT)
try:  # fill the disk to the last byte
    while True:
        os.write(filler, b"\\0" * 4096)
except OSError:
    os.close(filler)
result["full"] = run("import", large)
result["demo"] = run("demo", "--today", "2026-11-01", db="demo.db")
result["export"] = run("export", "-o", disk + "/backup.jsonl")
result["query"] = run("arr")
os.remove(disk + "/filler")
result["verify"] = run("verify")
result["files"] = sorted(os.listdir(disk))
print(json.dumps(result))
"""


@SMALL_DISKS
def test_a_full_disk_refuses_every_write_whole_and_says_so(tmp_path: Path) -> None:
    """On a real full disk (a small tmpfs): an import is stored whole or not at all, a new
    demo ledger and an export leave no file, each says the disk is full, and the ledger
    verifies afterwards with what it held before."""
    disk = tmp_path / "disk"
    disk.mkdir()
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    opened = {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "account_id": "A-1",
        "stage": "discovery",
        "amount": "1000",
        "expected_close": "2026-06-30",
    }
    small.write_text(json.dumps({**opened, "deal_id": "D-0"}) + "\n")
    large.write_text(
        "".join(json.dumps({**opened, "deal_id": f"D-{i}"}) + "\n" for i in range(1, 5000))
    )
    script = (
        f'mount -t tmpfs -o size=512k tmpfs {disk} && exec {sys.executable} -c "$0" '
        f"{disk} {small} {large}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, _FULL_DISK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [result[k][0] for k in ("init", "import")] == [0, 0], result
    full = "the disk holding the ledger is full"
    for step in ("full", "demo", "export", "query"):
        assert result[step][0] == EXIT_STORAGE and full in result[step][2], (step, result[step])
    assert result["verify"][0] == 0
    assert result["verify"][1].startswith("ok: 2 events, hash chain intact")
    assert [f for f in result["files"] if not f.startswith("l.db")] == []
