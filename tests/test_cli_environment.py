"""When the environment misbehaves: pipes, closed or full output, other encodings, odd
arguments, damaged or unusual databases. Each ends as one sentence and a documented exit code,
never as a traceback, and a read answers even where the derived read model cannot be saved."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from ledger.errors import EXIT_STORAGE, EXIT_USAGE, StorageError
from ledger.store import LedgerStore
from ledger.store import checkpoints as checkpoints_module
from ledger.store.engine import make_engine

REVLEDGER = [sys.executable, "-m", "cli.entry"]


def _opened(deal: str, *, note: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "deal_opened",
        "effective_at": "2026-01-05",
        "deal_id": deal,
        "account_id": f"A-{deal}",
        "stage": "discovery",
        "amount": "1000",
        "expected_close": "2026-06-30",
    }
    if note is not None:
        line["owner"] = note
    return line


def _ledger(tmp_path: Path, deals: int = 3, **line: Any) -> Path:
    """Return a SQLite ledger holding `deals` opened deals."""
    db = tmp_path / "l.db"
    data = tmp_path / "deals.jsonl"
    data.write_text("".join(json.dumps(_opened(f"D-{i}", **line)) + "\n" for i in range(deals)))
    assert CliRunner().invoke(cli, ["--db", str(db), "init"]).exit_code == 0
    assert CliRunner().invoke(cli, ["--db", str(db), "import", str(data)]).exit_code == 0
    return db


def _run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **kwargs.pop("env", {})}
    env.pop("REVLEDGER_DEBUG", None)
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([*REVLEDGER, *args], stderr=subprocess.PIPE, env=env, **kwargs)


def test_an_import_read_from_a_pipe_imports_its_lines(db_url: str, tmp_path: Path) -> None:
    """A FIFO (`<(zcat …)`, `/dev/stdin`) can be read only once: by the import, not first by
    the count of lines for the progress bar."""
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    lines = "".join(json.dumps(_opened(f"D-{i}")) + "\n" for i in range(5))

    def feed() -> None:
        with fifo.open("w") as pipe:
            pipe.write(lines)

    feeder = threading.Thread(target=feed)
    assert CliRunner().invoke(cli, ["--db", db_url, "init"]).exit_code == 0
    feeder.start()
    out = CliRunner().invoke(cli, ["--db", db_url, "import", str(fifo)])
    feeder.join()
    assert out.exit_code == 0, out.stderr
    assert out.stdout.startswith("events.pipe: 5 events read, appended 5")


def test_an_argument_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    latin1 = b"D-Zo\xeb".decode("utf-8", "surrogateescape")  # as a Latin-1 terminal passes it
    out = CliRunner().invoke(cli, ["--db", str(db), "log", "--deal", latin1])
    assert (out.exit_code, out.stderr) == (
        EXIT_USAGE,
        "revledger: the argument 'D-Zo\\xeb' is not UTF-8 text; check the encoding of the "
        "terminal or script that passed it.\n",
    )


def test_answers_are_utf8_whatever_the_locale_says(tmp_path: Path) -> None:
    db = _ledger(tmp_path, deals=1, note="Zoë – ☕")
    for command in (["log", "--format", "csv"], ["export"]):
        done = _run("--db", str(db), *command, env={"PYTHONIOENCODING": "latin-1"})
        assert (done.returncode, done.stderr) == (0, b"")
        assert "Zoë – ☕" in done.stdout.decode("utf-8")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """`revledger export | head -1`: the export stops when `head` has what it wants."""
    db = _ledger(tmp_path, deals=400)  # about 0.2 MB of export, more than a pipe holds
    with subprocess.Popen(
        [*REVLEDGER, "--db", str(db), "export"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as export:
        assert export.stdout is not None and export.stderr is not None
        assert export.stdout.readline().startswith(b'{"actor":')
        export.stdout.close()
        assert (export.wait(timeout=60), export.stderr.read()) == (0, b"")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_output_that_cannot_be_written_is_a_storage_failure(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    with open("/dev/full", "wb") as full:
        done = _run("--db", str(db), "export", stdout=full)
    assert (done.returncode, done.stderr) == (
        EXIT_STORAGE,
        b"revledger: a read or write failed: No space left on device.\n",
    )


def test_a_closed_standard_output_is_said_where_the_answer_goes_there(tmp_path: Path) -> None:
    """An answer (an export, a report) has nowhere to go; a command that writes elsewhere
    (`export -o FILE`) or whose summary line is all it prints runs as usual."""
    db = _ledger(tmp_path)

    def closed(*args: str) -> subprocess.CompletedProcess[bytes]:
        return _run("--db", str(db), *args, stdout=None, preexec_fn=lambda: os.close(1))

    for answer in (["export"], ["log"], ["arr"], ["verify"], ["verify", "--format", "json"]):
        done = closed(*answer)
        assert (done.returncode, done.stderr) == (
            EXIT_STORAGE,
            b"revledger: standard output is closed; there is nowhere to write the answer.\n",
        )
    elsewhere = closed("export", "-o", str(tmp_path / "out.jsonl"))
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 4


def test_a_schema_version_edited_into_nonsense_is_a_storage_failure(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE revledger_meta SET value = 'x' WHERE key = 'schema_version'")
    out = CliRunner().invoke(cli, ["--db", str(db), "log"])
    assert (out.exit_code, out.stderr) == (
        EXIT_STORAGE,
        "revledger: this ledger's schema version reads 'x', which is not a version number; its "
        "revledger_meta table was edited by hand.\n",
    )


@pytest.mark.parametrize(
    ("db", "message"),
    [
        (
            "postgresql://u:secret@h:abc/db",
            "'postgresql://***@h:abc/db' is not a database path or an SQLAlchemy URL",
        ),
        (
            "postgresql+psycopg2://u@h/db",
            "revledger talks to PostgreSQL through psycopg 3, not psycopg2: write the URL as "
            "postgresql+psycopg://… (or postgresql://…)",
        ),
    ],
)
def test_a_mistyped_database_url_is_named(db: str, message: str) -> None:
    with pytest.raises(StorageError) as err:
        make_engine(db)
    assert str(err.value) == message


def test_a_postgres_url_as_hosting_services_write_it_is_postgresql() -> None:
    engine = make_engine("postgres://u@127.0.0.1:5432/db")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_a_folder_or_an_empty_file_is_not_a_ledger_and_stays_as_it_was(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for db, message in (
        (tmp_path, f"{tmp_path} is a folder; a ledger is a file: give the file's path"),
        (empty, f"{empty} is an empty file, not a revledger ledger"),
    ):
        out = CliRunner().invoke(cli, ["--db", str(db), "log"])
        assert (out.exit_code, out.stderr) == (EXIT_STORAGE, f"revledger: {message}.\n")
    assert empty.stat().st_size == 0
    inside_a_file = empty / "x.db"
    out = CliRunner().invoke(cli, ["--db", str(inside_a_file), "init"])
    assert (
        out.stderr
        == f"revledger: cannot create {inside_a_file}: {empty} is a file, not a folder.\n"
    )


def test_an_answer_is_given_where_its_read_model_cannot_be_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader without write access (a read-only file or role) still gets revenue answers;
    only the derived checkpoint goes unsaved."""
    db = _ledger(tmp_path)

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    asked = ["--db", str(db), "arr", "--as-of", "2026-03-31", "--format", "json"]
    monkeypatch.setattr(checkpoints_module, "_writing", refused)
    out = CliRunner().invoke(cli, asked)
    assert out.exit_code == 0, out.stderr
    with LedgerStore.open(str(db)) as store:
        assert store.load_checkpoint("revenue-view") is None
    monkeypatch.undo()  # a reader that may write: the same answer, and the model saved
    assert CliRunner().invoke(cli, asked).stdout == out.stdout
    with LedgerStore.open(str(db)) as store:
        assert store.load_checkpoint("revenue-view") is not None


def test_an_os_error_without_a_system_error_number_is_an_internal_error_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an error the operating system reported (with its number) is the environment's;
    any other OSError (a library's, say) is a bug, reported as one sentence like every bug."""
    db = _ledger(tmp_path)

    def broken(*_args: Any) -> int:
        raise OSError("not a gzip file")

    monkeypatch.setattr("cli.ledger_commands.export_file", broken)
    out = CliRunner().invoke(cli, ["--db", str(db), "export", "-o", str(tmp_path / "x.jsonl")])
    assert out.exit_code == 1
    assert out.stderr.startswith("revledger: internal error (OSError: not a gzip file); this is")


def _read_only_mounts_work() -> bool:
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _on_a_read_only_mount(share: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run revledger with `args` on the ledger `db` in the folder `share`, mounted read-only
    for that process alone."""
    command = " ".join(["exec", *REVLEDGER, "--db", db, *args])
    script = f"mount --bind {share} {share} && mount -o remount,bind,ro {share} && {command}"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )


READ_ONLY_MOUNTS = pytest.mark.skipif(
    not _read_only_mounts_work(),
    reason="mounting a folder read-only needs a private mount namespace (unshare --mount, as root)",
)


@READ_ONLY_MOUNTS
def test_a_ledger_an_older_release_wrote_on_a_read_only_disk_says_where_to_open_it(
    tmp_path: Path,
) -> None:
    """It must be migrated before this release reads it, which writes: the message says to
    open it once where it can be written (not to find the owner of its tables)."""
    share = tmp_path / "share"
    share.mkdir()
    db = str(share / "ledger.db")
    assert CliRunner().invoke(cli, ["--db", db, "init"]).exit_code == 0
    old = sqlite3.connect(db)  # the tables of schema version 1: no checkpoints, no index
    old.execute("UPDATE revledger_meta SET value = '1' WHERE key = 'schema_version'")
    old.execute("DROP TABLE checkpoints")
    old.execute("DROP INDEX ix_events_recorded_at")
    old.commit()
    old.close()
    refused = _on_a_read_only_mount(share, db, "verify")
    assert refused.returncode == EXIT_STORAGE
    assert " ".join(refused.stderr.split()).endswith(
        "holds a ledger of schema version 1, which this release reads once it is migrated to "
        "version 2, and this connection may not write to it (a read-only file, disk or share); "
        "open it once where it can be written, a copy on a writable disk say (opening it "
        "migrates it)"
    ), refused.stderr
    assert CliRunner().invoke(cli, ["--db", db, "verify"]).exit_code == 0, "migrated there"


@READ_ONLY_MOUNTS
def test_a_ledger_on_a_read_only_file_system_answers_and_refuses_writes(tmp_path: Path) -> None:
    """A ledger copied to a read-only disk or share, without its side files: SQLite cannot
    create the shared-memory file it reads a WAL database through, so it is read as an
    immutable file, and an append says the database is read-only (an import's dry run, which
    only reads, checks its file)."""
    share = tmp_path / "share"
    share.mkdir()
    db = str(share / "ledger.db")
    fixture = Path(__file__).parent.parent / "fixtures" / "sample-ledger.jsonl"
    for args in (["init"], ["import", str(fixture)]):
        assert CliRunner().invoke(cli, ["--db", db, *args]).exit_code == 0
    assert sorted(p.name for p in share.iterdir()) == ["ledger.db"]

    def on_a_read_only_mount(*args: str) -> subprocess.CompletedProcess[str]:
        return _on_a_read_only_mount(share, db, *args)

    frozen = on_a_read_only_mount("arr", "--as-of", "2026-06-30", "--format", "json")
    refused = on_a_read_only_mount("record", "quota_set", "--period", "2026-Q3", "--amount", "5")
    verified = on_a_read_only_mount("verify")
    rebuilt = on_a_read_only_mount("rebuild")
    lines = tmp_path / "more.jsonl"
    lines.write_text(
        '{"type":"quota_set","effective_at":"2026-07-01","period":"2026-Q3","amount":"5"}\n'
    )
    checked = on_a_read_only_mount("import", str(lines), "--dry-run")

    assert frozen.returncode == 0, frozen.stderr
    writable = CliRunner().invoke(
        cli, ["--db", db, "arr", "--as-of", "2026-06-30", "--format", "json"]
    )
    assert json.loads(frozen.stdout) == json.loads(writable.stdout)
    assert verified.returncode == 0, verified.stderr
    assert (refused.returncode, refused.stderr) == (
        EXIT_STORAGE,
        "revledger: this connection may not write to the ledger (attempt to write a readonly "
        "database): recording and importing need a ledger file and folder it may write; an "
        "import's --dry-run needs only to read it.\n",
    )
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout.startswith("more.jsonl: 1 event read, would append 1, 0 already")
    assert (rebuilt.returncode, rebuilt.stderr) == (
        EXIT_STORAGE,
        "revledger: this connection may not change the saved read models (attempt to write a "
        "readonly database): rebuilding them needs a ledger file and folder it may write.\n",
    )

    # A copy taken while a writer had not checkpointed: its write-ahead log lies beside it.
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO revledger_meta VALUES ('note', 'x')")
    writer.commit()
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("ledger.db", "ledger.db-wal"):
        (copy / name).write_bytes((share / name).read_bytes())
    writer.close()
    for name in ("ledger.db", "ledger.db-wal"):
        (share / name).unlink(missing_ok=True)
        (share / name).write_bytes((copy / name).read_bytes())
    with_log = on_a_read_only_mount("verify")
    assert with_log.returncode == EXIT_STORAGE
    assert "it lies on a read-only disk with its write-ahead log (ledger.db-wal) beside it" in (
        " ".join(with_log.stderr.split())
    )


@pytest.mark.parametrize("folder", ["p%41", "q?mark", "hash#tag", "sp ace"])
def test_a_ledger_file_name_may_hold_url_characters(tmp_path: Path, folder: str) -> None:
    (tmp_path / folder).mkdir()
    db = tmp_path / folder / "ledger.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init"]).exit_code == 0
    verified = CliRunner().invoke(cli, ["--db", str(db), "verify"])
    assert verified.stdout.startswith("ok: 1 event, hash chain intact")
    assert db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]  # not pA, q, hash


@pytest.mark.parametrize("command", ["arr", "verify", "log", "init"])
def test_a_url_with_a_port_that_is_no_number_is_a_storage_failure(command: str) -> None:
    out = CliRunner().invoke(cli, ["--db", "postgresql://u:pw@127.0.0.1:notaport/db", command])
    assert (out.exit_code, out.stderr) == (
        EXIT_STORAGE,
        "revledger: 'postgresql://***@127.0.0.1:notaport/db' is not a database path or an "
        "SQLAlchemy URL.\n",
    )


def test_no_part_of_a_password_holding_a_raw_at_sign_is_shown() -> None:
    """`p@ss3cretPW` makes the URL read `ss3cretPW@127.0.0.1` as its host, which the driver's
    message names: the mask covers it there too."""
    url = "postgresql://u:p@ss3cretPW@127.0.0.1:1/db"
    out = CliRunner().invoke(cli, ["--db", url, "verify"])
    assert out.exit_code == EXIT_STORAGE
    assert "ss3cretPW" not in out.stderr
    assert out.stderr.startswith("revledger: cannot open the database postgresql://u:***@***@")


def test_a_short_password_masks_no_word_and_one_in_the_query_string_is_masked() -> None:
    short = CliRunner().invoke(cli, ["--db", "postgresql://bob:a@127.0.0.1:1/analytics", "log"])
    query = CliRunner().invoke(
        cli, ["--db", "postgresql://u@127.0.0.1:1/db?password=S3cretQ", "log"]
    )

    assert short.stderr.startswith(
        "revledger: cannot open the database postgresql://bob:***@127.0.0.1:1/analytics: "
    )
    assert "S3cretQ" not in query.stderr
    assert "?password=***" in query.stderr


def test_a_sqlite_uri_with_its_own_parameters_reads_the_ledger_it_names(tmp_path: Path) -> None:
    """`sqlite:///file:PATH?mode=ro&uri=true` opens the ledger at PATH read-only: it answers
    as the plain path does, an append is refused as on a read-only file, and an output file
    that is the ledger's own is recognised through the URI."""
    db = _ledger(tmp_path)
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    plain = CliRunner().invoke(cli, ["--db", str(db), "log", "--format", "json"])
    through = CliRunner().invoke(cli, ["--db", read_only, "log", "--format", "json"])
    assert through.exit_code == 0, through.stderr
    assert through.stdout == plain.stdout
    record = ["record", "quota_set", "--period", "2026-Q3", "--amount", "5"]
    refused = CliRunner().invoke(cli, ["--db", read_only, *record])
    assert refused.exit_code == EXIT_STORAGE
    assert refused.stderr.startswith("revledger: this connection may not write to the ledger")
    own = CliRunner().invoke(cli, ["--db", read_only, "export", "-o", str(db)])
    assert own.exit_code == EXIT_STORAGE
    assert "it is the ledger's own database file" in own.stderr


def test_a_new_ledger_written_as_a_sqlite_uri_with_its_own_parameters_is_made_at_its_path(
    tmp_path: Path,
) -> None:
    """`init` and a restore into a new ledger given as `sqlite:///file:PATH?…&uri=true` with
    SQLite's own parameters make the ledger at PATH (percent-decoded), as they do for the plain
    path, and leave no other file."""
    (tmp_path / "source").mkdir()
    source = _ledger(tmp_path / "source")
    export = tmp_path / "source" / "ledger.jsonl"
    done = CliRunner().invoke(cli, ["--db", str(source), "export", "-o", str(export)])
    assert done.exit_code == 0, done.stderr
    made = tmp_path / "made"
    made.mkdir()
    for name, command in (("new ledger.db", ["init"]), ("restored.db", ["import", "--restore"])):
        url = f"sqlite:///file:{made / name.replace(' ', '%20')}?cache=private&uri=true"
        args = [*command, str(export)] if "--restore" in command else command
        out = CliRunner().invoke(cli, ["--db", url, *args])
        assert out.exit_code == 0, out.stderr
        verified = CliRunner().invoke(cli, ["--db", str(made / name), "verify"])
        assert verified.exit_code == 0, verified.stderr
    assert sorted(p.name for p in made.iterdir()) == ["new ledger.db", "restored.db"]


def test_sqlite_uri_parameters_on_a_plain_path_are_refused_and_make_no_file(
    tmp_path: Path,
) -> None:
    """With `uri=true`, SQLite reads a name not written `file:…` as a plain file name, with the
    `?mode=ro` the driver appends to it: such a URL is refused (exit 6), saying how to write
    it, and no file `l.db?mode=ro` is made beside the ledger, nor a new ledger."""
    db = _ledger(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for path, command in ((db, "log"), (db, "verify"), (tmp_path / "new.db", "init")):
        url = f"sqlite:///{path}?mode=ro&uri=true"
        out = CliRunner().invoke(cli, ["--db", url, command])
        assert (out.exit_code, out.stderr) == (
            EXIT_STORAGE,
            f"revledger: cannot open the database {url}: SQLite takes its URI parameter(s) "
            "'mode' only from a database written as a URI (file:PATH), such as "
            "sqlite:///file:ledger.db?mode=ro&uri=true.\n",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == before
