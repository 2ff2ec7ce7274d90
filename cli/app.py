"""The `revledger` group: global options, store opening, and error handling.

Every user mistake ends as one sentence on stderr and a documented exit code:
0 ok · 1 internal error · 2 usage · 3 invalid input · 4 conflict · 5 integrity · 6 storage.
"""

from __future__ import annotations

import codecs
import importlib
import io
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from click.core import ParameterSource
from sqlalchemy.exc import SQLAlchemyError

from cli.options import ANSWER, OnceGroup, refuse_repeated
from cli.render import FORMATS
from ledger.errors import EXIT_INTERNAL, EXIT_STORAGE, EXIT_USAGE, RevledgerError
from ledger.store import DEFAULT_DB, LedgerStore, database_reason

_MASKS: list[tuple[str, str]] = []
"""(text, replacement) pairs `_fail` applies: the parts of a database URL's password that a
message could show (see `_password_masks`)."""


def _password_masks(texts: Sequence[str]) -> list[tuple[str, str]]:
    """Return what to replace in messages so that no part of the password of the database
    URLs `texts` shows. `shown` masks a URL's password; but one holding a raw `@` makes the
    URL read its tail as part of the host, which messages name (`failed to resolve host
    '3@127.0.0.1'`): each such tail, followed by its `@`, is masked."""
    masks: list[tuple[str, str]] = []
    for text in texts:
        if "://" not in text:
            continue
        password = text.partition("://")[2].rpartition("@")[0].partition(":")[2]
        masks += [(password[i + 1 :] + "@", "***@") for i, c in enumerate(password) if c == "@"]
    return sorted(masks, key=lambda m: -len(m[0]))


def _database_arguments(arguments: Sequence[str]) -> list[str]:
    """Return the databases the command line names: each `--db` value, and $REVLEDGER_DB."""
    found = [os.environ.get("REVLEDGER_DB", "")]
    for i, argument in enumerate(arguments):
        if argument == "--db" and i + 1 < len(arguments):
            found.append(arguments[i + 1])
        elif argument.startswith("--db="):
            found.append(argument.removeprefix("--db="))
    return found


def _fail(message: str, code: int) -> NoReturn:
    for secret, mask in _MASKS:
        message = message.replace(secret, mask)
    message = " ".join(message.split())
    if ANSWER.cut_short:
        message = (
            message.rstrip(".") + "; the answer written to standard output before it is cut short"
        )
    if not message.endswith((".", "?", "!", ")")):
        message += "."
    click.echo(f"revledger: {message}", err=True)
    sys.exit(code)


def _driver_error(exc: Exception) -> bool:
    """True for an error of a database driver that reached the command line unwrapped."""
    if isinstance(exc, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def _utf8_arguments(arguments: Sequence[str]) -> list[str]:
    """Return the arguments as text. An interpreter started in a locale that is not UTF-8 (C,
    POSIX) carries the bytes of UTF-8 text over as lone surrogates; they are read as UTF-8
    again. Refuse an argument whose bytes are no UTF-8 text (another encoding): it could be
    neither stored nor compared."""
    out = []
    for argument in arguments:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(argument)
            try:
                argument = raw.decode("utf-8")
            except UnicodeDecodeError:
                shown = raw.decode("utf-8", "backslashreplace")
                if "://" in shown:  # a database URL: its password is not to be shown
                    shown = shown.partition("://")[0] + "://…"
                _fail(
                    f"the argument '{shown}' is not UTF-8 text; check the encoding of the "
                    "terminal or script that passed it",
                    EXIT_USAGE,
                )
        out.append(argument)
    return out


def _prepare_output() -> None:
    """Write answers as UTF-8 whatever the locale says (an export is UTF-8 JSON Lines, and a
    note may hold any character), and keep the database drivers' own log lines (a connection
    lost at clean-up, say) off stderr, where the one sentence of the failure they follow is
    the message. (A closed standard output is refused by the commands that answer on it.)"""
    if isinstance(sys.stdout, io.TextIOWrapper) and codecs.lookup(sys.stdout.encoding).name != (
        "utf-8"
    ):
        sys.stdout.reconfigure(encoding="utf-8")
    if not os.environ.get("REVLEDGER_DEBUG"):
        for name in ("sqlalchemy", "psycopg"):
            logger = logging.getLogger(name)
            if not logger.handlers:
                logger.addHandler(logging.NullHandler())


def _pipe_closed() -> bool:
    """True when click found standard output's reader gone (`revledger export | head -1`)."""
    return type(sys.stdout).__name__.endswith("PacifyFlushWrapper")


# A group called without a command raises this (click 8.2 and later) with the whole help as its
# message; that help is printed as it is, not folded into one line.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class RevledgerGroup(OnceGroup):
    """A click group whose every failure is one line on stderr with a documented exit code.

    Commands registered with `add_lazy` are imported only when they run (or when the help
    lists them), so a command pays for its own modules and not for every other command's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def add_lazy(self, modules: dict[str, str]) -> None:
        """Register commands by name -> module whose `COMMANDS` list holds that command."""
        self.lazy.update(modules)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = {*self.commands, *self.lazy}
        own = next((args[:i] for i, a in enumerate(args) if a in names), args)
        refuse_repeated(self, ctx, own)  # `--db a.db --db b.db`: which ledger was meant?
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module = importlib.import_module(self.lazy[cmd_name])
            for command in module.COMMANDS:
                self.commands.setdefault(str(command.name), command)
        return self.commands.get(cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = _utf8_arguments(sys.argv[1:] if args is None else args)
        _MASKS[:] = _password_masks(_database_arguments(arguments))
        _prepare_output()
        ANSWER.cut_short = False
        try:
            rv = super().main(
                args=arguments, prog_name=prog_name or "revledger", standalone_mode=False, **extra
            )
        except SystemExit:
            if _pipe_closed():  # click ends a command whose reader went away with exit 1
                sys.exit(0)
            raise
        except click.exceptions.Abort:
            _fail("interrupted", 130)
        except _NO_ARGS_IS_HELP as exc:
            click.echo(exc.format_message(), err=True)
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            text = exc.format_message().rstrip(".")
            _fail(text + ("" if text.endswith(("?", ")")) else ".") + hint, EXIT_USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except RevledgerError as exc:
            _fail(str(exc), exc.exit_code)
        except SQLAlchemyError as exc:
            _fail(f"database error: {database_reason(exc)}", EXIT_STORAGE)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(0)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                where = f"{exc.filename}: " if exc.filename else ""
                _fail(f"a read or write failed: {where}{exc.strerror}", EXIT_STORAGE)
            if _driver_error(exc):
                _fail(f"database error: {database_reason(exc)}", EXIT_STORAGE)
            if os.environ.get("REVLEDGER_DEBUG"):
                raise
            _fail(
                f"internal error ({type(exc).__name__}: {exc}); this is a bug in revledger, "
                "rerun with REVLEDGER_DEBUG=1 to see where",
                EXIT_INTERNAL,
            )
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


class Ctx:
    """What every command gets: the database the user chose (`given`: on the command line, not
    by $REVLEDGER_DB or the default)."""

    def __init__(self, db: str, *, given: bool = False) -> None:
        self.db = db
        self.given = given

    def store(self) -> LedgerStore:
        """Open the existing ledger (never creates one)."""
        return LedgerStore.open(self.db)


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(cls=RevledgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="REVLEDGER_DB",
    metavar="PATH|URL",
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite file path, or an SQLAlchemy URL such as postgresql+psycopg://user@host/db "
    "(env REVLEDGER_DB).",
)
@click.version_option(package_name="revledger")
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """revledger: an event-sourced, bitemporal revenue ledger.

    Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid input, 4 conflict,
    5 integrity failure, 6 storage (no ledger, unreachable database).
    """
    ctx.obj = Ctx(db, given=ctx.get_parameter_source("db") == ParameterSource.COMMANDLINE)


def format_param() -> click.Option:
    """Return the --format option shared by every command that prints a report."""
    return click.Option(
        ["--format", "fmt"],
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people, json for scripts, csv for spreadsheets.",
    )


def format_option(fn: Any) -> Any:
    """Decorate a command with --format (see `format_param`)."""
    click.decorators._param_memo(fn, format_param())
    return fn
