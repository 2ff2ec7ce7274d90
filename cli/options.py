"""What query commands share: the time-coordinate and --by options, titles, and output."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from cli.render import Report, render_parts
from ledger.envelope import RecordedEvent
from ledger.errors import StorageError

MAX_DIGITS = 18
"""The most digits a whole-number option takes: a 64-bit integer's range (a seq or version)."""


class WholeNumber(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """An option value that must be a whole number from `low` to `high` (inclusive; no bound
    where None, the range then being the command's to check), refused with a plain reason
    (exit code 2)."""

    name = "integer"

    def __init__(self, low: int | None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            # Digits only: int() would also take "1_000", "+5" and other scripts' digits.
            text = str(value).strip()
            if not re.fullmatch(r"-?[0-9]+", text):
                self.fail(f"{value!r} is not a whole number", param, ctx)
            digits = len(text.lstrip("-").lstrip("0"))
            if digits > MAX_DIGITS:  # beyond any count, and beyond what int() converts
                shown = text if len(text) <= 24 else f"a whole number of {digits} digits"
                if self.low is not None and self.high is not None:
                    self.fail(f"{shown} is not from {self.low} to {self.high}", param, ctx)
                size = "small" if text.startswith("-") else "large"
                self.fail(f"{shown} is too {size}", param, ctx)
            n = int(text)
        low, high = self.low, self.high
        if low is not None and high is not None and not low <= n <= high:
            self.fail(f"{n} is not from {low} to {high}", param, ctx)
        if low is not None and n < low:
            self.fail(f"{n} is less than {low}", param, ctx)
        if high is not None and n > high:
            self.fail(f"{n} is more than {high}", param, ctx)
        return n


PERIOD_HELP = "The period: YYYY-Qn, YYYY-MM or YYYY (fiscal quarters and years when configured)."
AS_OF = click.option(
    "--as-of",
    metavar="YYYY-MM-DD",
    help="Valid time: at the close of this day (ledger time zone). Default: today.",
)
KNOWN_AT = click.option(
    "--known-at",
    metavar="DATE|INSTANT",
    help="Transaction time: only what was recorded by then (a date: end of that day). "
    "Default: everything recorded.",
)


def by_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the --by option offering `choices`."""
    return click.option(
        "--by", type=click.Choice(list(choices)), help="Break the answer down by this."
    )


def _standard_output(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Any:
    """Return the --output path, None for `-` (standard output, as when it is not given)."""
    return None if value is not None and str(value) == "-" else value


OUTPUT = click.option(
    "--output",
    "-o",
    # Neither `writable=True` nor `dir_okay=False`: a file that cannot be written (a folder
    # too) is a storage failure (exit 6), named by the command itself, like a full disk.
    type=click.Path(path_type=Path),
    callback=_standard_output,
    help="Write to this file (whole or not at all) instead of standard output (`-`).",
)


def answer_stream() -> TextIO:
    """Return standard output, where answers go; raise StorageError when it is closed (the
    answer would be lost without a word)."""
    if sys.stdout is None:
        raise StorageError("standard output is closed; there is nowhere to write the answer")
    return sys.stdout


class _Answer:
    """Whether an answer was begun on standard output and not finished: JSON and CSV are
    written as their rows are read, so an error while reading them cuts the answer short."""

    cut_short = False


ANSWER = _Answer()


def echo_report(report: Report, fmt: str) -> None:
    """Write `report` to standard output as a table, JSON or CSV (JSON and CSV as their rows
    are read, see `render_parts`; an error part-way leaves `ANSWER.cut_short` set, and its
    message says so)."""
    stream_answer(render_parts(report, fmt))


def stream_answer(parts: Iterable[str], *, flush: bool = True) -> None:
    """Write `parts` to standard output as they come (each flushed, unless not `flush`); an
    error part-way leaves `ANSWER.cut_short` set, and its message says so."""
    out = answer_stream()
    for part in parts:
        if flush:
            click.echo(part, file=out, nl=False)
        else:
            out.write(part)
        ANSWER.cut_short = True
    ANSWER.cut_short = False


def report_title(label: str, meta: dict[str, Any]) -> str:
    """Return a report title that names both time coordinates and the log head."""
    known = meta["known_at"] or "the start of the ledger"
    return f"{label} as of {meta['as_of']} (known at {known}; head seq {meta['head']['seq']})"


def event_summary(e: RecordedEvent) -> str:
    """Return an event's payload fields as one line of `key=value` pairs (lists comma-joined)."""
    data = e.payload.model_dump(mode="json", exclude={"type"}, exclude_none=True)
    return " ".join(
        f"{k}={','.join(map(_text, v)) if isinstance(v, list) else _text(v)}"
        for k, v in data.items()
        if k != "stages" and v != []
    )


def _text(value: Any) -> str:
    """Return a JSON value as the import format spells it (true/false, not True/False)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def refuse_repeated(command: click.Command, ctx: click.Context, args: Sequence[str]) -> None:
    """Raise a usage error (exit 2) when an option of `command` that takes one value, or a
    flag, is given twice in `args` (`--format json --format csv`, `--baa-signed
    --no-baa-signed`, `--format=csv` too): click would keep the last silently, and a ledger
    that keeps everything must not guess which was meant."""
    for param in command.params:
        if isinstance(param, click.Option) and not param.multiple:
            names = {*param.opts, *param.secondary_opts}
            given = [a for a in args if a.split("=", 1)[0] in names]
            if len(given) > 1:
                raise click.BadParameter(
                    f"is given {len(given)} times ({', '.join(given)}); give it once",
                    ctx=ctx,
                    param=param,
                )


def refuse_unknown_command(group: click.Group, ctx: click.Context, args: Sequence[str]) -> None:
    """Raise a usage error (exit 2) when `args` starts with a name that is none of `group`'s
    commands, suggesting the near spellings (`forcast`: did you mean `forecast`?), as click
    does for an option; click itself knows only the commands already loaded, and older
    releases suggest none."""
    if not args or ctx.resilient_parsing or args[0].startswith("-"):
        return  # an option is refused as one, by the group's own parsing
    name = args[0]
    if group.get_command(ctx, name) is not None:
        return
    message = f"No such command {name!r}."
    # `help` is near `health`, but a newcomer asking for help wants --help, which the message
    # names (see `RevledgerGroup.main`).
    near = (
        [] if name == "help" else sorted(difflib.get_close_matches(name, group.list_commands(ctx)))
    )
    if len(near) == 1:
        message += f" Did you mean {near[0]!r}?"
    elif near:
        message += f" (Did you mean one of: {', '.join(map(repr, near))}?)"
    raise click.UsageError(message, ctx)


class OnceGroup(click.Group):
    """A group whose commands refuse an option given twice (see `refuse_repeated`), and whose
    help lists each command with the whole first sentence of its help, wrapped, where click
    would cut it off at the width of one line (`Pipeline aging: open deals older than a
    threshold,...`)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        refuse_unknown_command(self, ctx, args)
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            own = rest
            if isinstance(command, click.Group):  # its own options: those before a subcommand
                own = next((rest[:i] for i, a in enumerate(rest) if a in command.commands), rest)
            refuse_repeated(command, click.Context(command, info_name=name, parent=ctx), own)
        return name, command, rest
