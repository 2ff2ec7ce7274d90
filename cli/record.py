"""`revledger record <type>`: one sub-command per event type, options generated from its schema."""

from __future__ import annotations

import types
import typing
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import click
from pydantic.fields import FieldInfo

from cli.app import Ctx, format_param, pass_ctx
from cli.options import WholeNumber, refuse_repeated, refuse_unknown_command
from cli.render import ENVELOPE_KINDS, Column, Report, render
from ledger.events import EVENT_TYPES, EventModel
from ledger.operations import default_actor, load_stages, record_event


class OnceOption(click.Option):
    """An option that may be given once: a second value is refused (exit 2), where click would
    keep the last one silently, and a ledger that keeps everything must not guess which."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        values = super().process_value(ctx, value)
        if len(values) > 1:
            shown = ", ".join(repr(str(v)) for v in values)
            raise click.BadParameter(f"is given {len(values)} times ({shown}); give it once")
        return values[0] if values else None


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            annotation = args[0]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


FIELD_HELP: dict[str, str] = {
    "deal_id": "The deal's id (your CRM's opportunity id).",
    "account_id": "The customer account's id (your CRM's account id).",
    "stage": "A stage of the configured pipeline.",
    "amount": "Expected ARR of the deal, a decimal with at most 2 places, below 10^12.",
    "expected_close": "The day the deal is expected to close.",
    "segment": "Customer segment, a lower-case name such as health_system.",
    "channel": "direct, or partner:<name> (e.g. partner:epic).",
    "owner": "The deal's owner (a sales rep's id).",
    "personas": "A buyer persona engaged, such as cmio or it_security.",
    "forecast_category": "Overrides the stage's forecast category.",
    "probability": "Win probability from 0 to 1, at most 4 places; overrides the stage's.",
    "persona": "The buyer persona, such as cmio, cfo, it_security, legal.",
    "framework": "The security framework of the review.",
    "arr": (
        "ARR of the contract, a decimal with at most 2 places, below 10^12; 0 for a free pilot."
    ),
    "term_months": "Contract term in months, 1 to 120.",
    "tcv": "Total contract value.",
    "baa_signed": "A business associate agreement (BAA) was signed.",
    "standard_terms": "Signed on standard terms.",
    "reason": "Why, in a few words (no patient data: it is refused).",
    "note": "A short note (no patient data: it is refused).",
    "currency": "Three-letter ISO 4217 code, such as USD.",
    "timezone": "IANA time zone in which bare dates are read, such as America/New_York.",
    "fiscal_year_start_month": "Month (1-12) in which the fiscal year starts.",
    "period": "A period such as 2026-Q4, 2026-11 or 2026 (fiscal when configured).",
    "commit": "The commit call: ARR the leader commits to.",
    "best_case": "The best-case call (not below commit).",
    "retracts": "The event that no longer counts: its event_id, or its seq as `log` shows it.",
}
"""The help of each payload field's option (`record <type> --help`)."""
TYPE_FIELD_HELP: dict[tuple[str, str], str] = {
    ("expansion", "arr"): "ARR added to the account's live ARR (> 0).",
    ("contraction", "arr"): "ARR taken off the account's live ARR (> 0).",
    ("contract_signed", "account_id"): "The account; required when the deal was never opened.",
    ("go_live", "deal_id"): "The deal whose signed contract goes live.",
    ("quota_set", "amount"): "The bookings quota (new ARR) of the period.",
    ("deal_reopened", "stage"): "The stage the deal returns to.",
}


OTHER_FLAGS: dict[str, tuple[str, ...]] = {"fiscal_year_start_month": ("--fiscal-year-start",)}
"""More names of a field's option: the one `init` gives the same setting."""


def _help(type_name: str, name: str, info: FieldInfo) -> str | None:
    """Return an option's help: what the field is, and its default when it has one."""
    text = TYPE_FIELD_HELP.get((type_name, name)) or FIELD_HELP.get(name)
    default = info.default
    if info.is_required() or default is None or default == () or type_name == "ledger_configured":
        return text  # a configuration keeps the settings it leaves out (see `record_event`)
    shown = ("true" if default else "false") if isinstance(default, bool) else str(default)
    return f"{text or ''} Default: {shown}.".strip()


def _option_for(type_name: str, name: str, info: FieldInfo) -> click.Option | None:
    """Return the click option for one payload field, or None for fields given another way."""
    if name in ("type", "stages"):
        return None
    flags = ["--" + name.replace("_", "-"), *OTHER_FLAGS.get(name, ())]
    flag = flags[0]
    annotation = _unwrap_optional(info.annotation)
    required = info.is_required()
    help_text = _help(type_name, name, info)
    if annotation is bool:
        return click.Option([f"{flag}/--no-{name.replace('_', '-')}"], default=None, help=help_text)
    if typing.get_origin(annotation) is tuple:
        repeat = "Repeatable."
        return click.Option(
            [flag], multiple=True, help=f"{help_text} {repeat}" if help_text else repeat
        )
    if typing.get_origin(annotation) is Literal:
        # The choices are shown, and checked by the event's schema like every other field
        # (exit 3, naming the field and value), not by click.
        metavar = "[" + "|".join(str(c) for c in typing.get_args(annotation)) + "]"
    else:
        metavar = "PERIOD" if name == "period" else "TEXT"
        metavar = {Decimal: "DECIMAL", date: "YYYY-MM-DD", int: "N"}.get(annotation, metavar)
    return OnceOption([name, *flags], required=required, metavar=metavar, help=help_text)


_EFFECTIVE_HELP = {
    "event_retracted": "A label only (default now): the event retracted no longer counts on "
    "any day, as known from this retraction's recording on; to end something from a day, "
    "record a contraction or a churn.",
}
"""The --effective help of the event types whose effective time moves nothing."""


def _describe(cls: type[EventModel]) -> str:
    doc = (cls.__doc__ or "").strip().splitlines()
    return doc[0] if doc else cls.__name__


def _make_command(type_name: str, cls: type[EventModel]) -> click.Command:
    params: list[click.Parameter] = []
    for name, info in cls.model_fields.items():
        opt = _option_for(type_name, name, info)
        if opt is not None:
            params.append(opt)
    if type_name == "ledger_configured":
        params.append(
            OnceOption(
                ["--stages-file"],
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="JSON list of {name, probability, forecast_category}. Settings left out "
                "keep their current values (the default pipeline in a new ledger).",
            )
        )

    @pass_ctx
    def run(
        ctx: Ctx,
        /,
        effective: str | None,
        actor: str | None,
        expect_version: int | None,
        idempotency_key: str | None,
        fmt: str,
        **values: Any,
    ) -> None:
        fields = {k: v for k, v in values.items() if v is not None and v != ()}
        stages_file = fields.pop("stages_file", None)
        if stages_file is not None:
            fields["stages"] = load_stages(stages_file)
        with ctx.store() as store:
            done = record_event(
                store,
                type_name,
                fields,
                effective=effective,
                actor=default_actor(actor),
                expected_version=expect_version,
                idempotency_key=idempotency_key,
            )
        row = {
            "seq": done.seq,
            "event_id": done.event_id,
            "type": done.type,
            "stream_id": done.stream_id,
            "stream_version": done.stream_version,
            "duplicate": done.duplicate,
            "retracted_by": done.retracted_by,
        }
        if fmt == "table":
            note = ""
            if done.retracted_by is not None:
                note = (
                    f" (already recorded: idempotency key matched; seq {done.retracted_by} "
                    "retracted it, so it does not count: record it with another key to count it)"
                )
            elif done.duplicate:
                note = " (already recorded: idempotency key matched)"
            click.echo(f"seq {done.seq}  event_id {done.event_id}{note}")
            return
        cols = [Column(k, k, ENVELOPE_KINDS.get(k, "text")) for k in row]
        click.echo(render(Report("", cols, [row]), fmt), nl=False)

    params += [
        OnceOption(
            ["--effective"],
            metavar="DATE|INSTANT",
            help=_EFFECTIVE_HELP.get(
                type_name,
                "When it happened: YYYY-MM-DD (start of day, ledger time zone) or RFC 3339. "
                "Default: now.",
            ),
        ),
        OnceOption(["--actor"], help="Who records it (default $REVLEDGER_ACTOR or your user)."),
        OnceOption(
            ["--expect-version"],
            type=WholeNumber(0),
            help="Fail with a conflict unless the stream is at this version.",
        ),
        OnceOption(
            ["--idempotency-key"],
            help="A key that makes a retry of this append harmless.",
        ),
    ]
    params.append(format_param())
    about = _describe(cls)
    if type_name == "ledger_configured":
        about += "\n\nSettings left out keep their current values."
    return RecordCommand(
        type_name, params=params, callback=run, help=about, short_help=_describe(cls)
    )


class RecordCommand(click.Command):
    """One event type's command: a flag given twice (`--baa-signed --no-baa-signed`), or
    `--format` given twice, is refused, as the options of `OnceOption` are."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_repeated(self, ctx, args)
        return super().parse_args(ctx, args)


class RecordGroup(click.Group):
    """Accepts type names with dashes too (`contract-signed`)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name.replace("-", "_"))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        refuse_unknown_command(self, ctx, args)
        return super().resolve_command(ctx, args)


@click.group("record", cls=RecordGroup)
def record() -> None:
    """Record one event: revledger record <type> --field value ..."""


for _name, _cls in sorted(EVENT_TYPES.items()):
    record.add_command(_make_command(_name, _cls))


COMMANDS = [record]
