"""Stage maps: how a CRM's stages (Salesforce stage names, HubSpot stage ids) become the ledger's.

A stage map file is CSV, one stage a line: `crm stage,ledger stage` (a third column, such as a
HubSpot stage's label, is ignored). Lines starting with `#` are comments; a first line (after
any comments) whose second value is `ledger stage` is a header. The ledger stage is a stage of
the configured pipeline, or `won` or `lost`, which mark the closing stages. CRM stages are
compared ignoring case and repeated spaces.

A stage the file does not list (or every stage, without a file) maps to the pipeline stage of
the same name written as a ledger stage name (`Security Review` -> `security_review`), and
`Closed Won`/`closedwon`/`Won` to `won`, `Closed Lost`/`closedlost`/`Lost` to `lost`. Stages
left unmapped are collected while a file is read and reported together, each with the place it
first occurs, before anything is written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from ledger.crm.csvfile import column_key, read_records
from ledger.errors import InputError, withheld

WON: Final = "won"
LOST: Final = "lost"
CLOSING = (WON, LOST)
_DEFAULT_CLOSING = {"closedwon": WON, "won": WON, "closedlost": LOST, "lost": LOST}


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _as_stage_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


class StageMap:
    """Resolves CRM stages to ledger stages (or `won`/`lost`) and collects the unmapped ones."""

    def __init__(self, stages: tuple[str, ...], entries: dict[str, str] | None = None) -> None:
        self.stages = stages
        self.entries = entries or {}
        self.unmapped: dict[str, str] = {}
        """CRM stage -> where it first occurs, for every stage that could not be mapped."""

    @classmethod
    def load(cls, path: Path, stages: tuple[str, ...]) -> StageMap:
        """Return the map in file `path`, checked against the pipeline `stages`."""
        entries: dict[str, str] = {}
        targets = ", ".join((*stages, *CLOSING))
        first = True
        for line, values in read_records(path):
            if values[0].startswith("#"):
                continue
            header, first = first, False
            where = f"{path.name} line {line}"
            if len(values) < 2 or not values[0] or not values[1]:
                raise InputError(
                    "must be `crm stage,ledger stage` (e.g. `Closed Won,won`)", where=where
                )
            crm, ledger = values[0], values[1]
            if header and column_key(ledger) == "ledgerstage":
                continue
            if ledger not in stages and ledger not in CLOSING:
                raise InputError(
                    f"{_shown(ledger)} is not a stage of the configured pipeline nor won or lost "
                    f"(one of: {targets})",
                    where=f"{where} column 2",
                )
            key = _name_key(crm)
            if entries.get(key, ledger) != ledger:
                raise InputError(
                    f"maps {_shown(crm)} to {_shown(ledger)}, but an earlier line maps it to "
                    f"{_shown(entries[key])}",
                    where=where,
                )
            entries[key] = ledger
        return cls(stages, entries)

    def resolve(self, crm_stage: str, where: str) -> str | None:
        """Return the ledger stage (or `won`/`lost`) of `crm_stage`; None if it is unmapped.

        An unmapped stage is remembered with `where`, its first occurrence, for `check`.
        """
        found = self.entries.get(_name_key(crm_stage))
        if found is None:
            closing = _DEFAULT_CLOSING.get(column_key(crm_stage))
            same_name = _as_stage_name(crm_stage)
            found = closing or (same_name if same_name in self.stages else None)
        if found is None:
            self.unmapped.setdefault(crm_stage, where)
        return found

    def check(self, option: str) -> None:
        """Raise one InputError listing every unmapped stage and where it first occurs."""
        if not self.unmapped:
            return
        listed = "; ".join(f"{_shown(s)} ({where})" for s, where in self.unmapped.items())
        n = len(self.unmapped)
        raise InputError(
            f"{n} stage{'s' if n > 1 else ''} of the CRM {'are' if n > 1 else 'is'} not mapped "
            f"to the ledger's pipeline: {listed}. Map {'each' if n > 1 else 'it'} in a "
            f"{option} file, one `crm stage,ledger stage` a line, to one of: "
            + ", ".join((*self.stages, *CLOSING))
        )


def _shown(stage: str) -> str:
    """Return a stage name as a message quotes it, withheld when it looks like PHI."""
    finding = withheld(stage)
    return repr(stage) if finding is None else f"a stage withheld (it looks like {finding})"
