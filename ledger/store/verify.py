"""Walking the hash chain: `verify` for a stored log, and the same checks for a restore."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ledger.canonical import (
    GENESIS_HASH,
    canonical_json,
    chain_hash,
    envelope_bytes,
    payload_json,
)
from ledger.envelope import ENVELOPE_COLUMNS
from ledger.errors import InputError, IntegrityError, RevledgerError
from ledger.events import EVENT_TYPES, decode_payload
from ledger.store.codec import DealAccounts, envelope_fields
from ledger.timeutil import read_instant


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of walking the chain: how far it verified and the first bad seq, if any."""

    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    anchors: int = 0
    """How many kept (seq, hash) anchors were checked."""

    @property
    def ok(self) -> bool:
        return self.problem is None


class ChainWalker:
    """Checks envelopes one by one in seq order: seq, link, hash, times, stream versions,
    payload, index columns.

    Beyond the chain, each envelope must be what an append writes: instants in the fixed-width
    UTC text, each stream's versions counting up from 1 with no gap, a schema version this
    release knows, and a payload at the current schema version in the canonical encoding. The
    hash chain is no signature (anyone can compute it), so these catch an edited log or export
    whose hashes were computed again by something that does not write as the ledger does.
    """

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.last_recorded: str | None = None
        self.accounts = DealAccounts()
        self.versions: dict[str, int] = {}

    def check(self, row: dict[str, Any]) -> tuple[str | None, str | None]:
        """Check one envelope; return its (deal_id, account_id) index columns.

        Raises IntegrityError naming the seq at fault.
        """
        seq = row["seq"]
        if seq != self.expected_seq:
            raise IntegrityError(_out_of_place(seq, self.expected_seq), seq=self.expected_seq)
        if row["prev_hash"] != self.prev_hash:
            if seq == 1:
                raise IntegrityError(
                    "seq 1: prev_hash is not the start of the chain (64 zeros)", seq=seq
                )
            raise IntegrityError(
                f"seq {seq}: prev_hash does not link to the hash of seq {seq - 1}", seq=seq
            )
        if chain_hash(self.prev_hash, envelope_bytes(**envelope_fields(row))) != row["hash"]:
            raise IntegrityError(f"seq {seq}: stored hash does not match its content", seq=seq)
        for name in ("effective_at", "recorded_at"):
            if not _is_instant_text(row[name]):
                raise IntegrityError(
                    f"seq {seq}: {name} is not an instant as the ledger writes one "
                    "(YYYY-MM-DDTHH:MM:SS.ffffffZ)",
                    seq=seq,
                )
        if self.last_recorded is not None and row["recorded_at"] < self.last_recorded:
            raise IntegrityError(f"seq {seq}: recorded_at goes backwards", seq=seq)
        type_name, version = row["type"], row["schema_version"]
        cls = EVENT_TYPES.get(type_name)
        if cls is None:
            raise IntegrityError(f"seq {seq}: unknown event type {type_name!r}", seq=seq)
        if version > cls.schema_version:
            raise IntegrityError(
                f"seq {seq}: schema_version {version} of {type_name} is newer than this "
                f"release reads ({cls.schema_version})",
                seq=seq,
            )
        try:
            event = decode_payload(type_name, version, row["payload"])
        except (ValueError, RevledgerError) as exc:
            raise IntegrityError(
                f"seq {seq}: payload does not decode ({_decode_problem(exc)})", seq=seq
            ) from None
        if version == cls.schema_version and payload_json(event) != row["payload"]:
            raise IntegrityError(
                f"seq {seq}: payload is not in the canonical encoding every append writes",
                seq=seq,
            )
        stream = row["stream_id"]
        if event.stream_id() != stream:
            raise IntegrityError(f"seq {seq}: stream_id does not match the payload", seq=seq)
        follows = self.versions.get(stream, 0)
        if row["stream_version"] != follows + 1:
            raise IntegrityError(
                f"seq {seq}: stream_version {row['stream_version']} of stream {stream} does "
                f"not follow its version {follows}",
                seq=seq,
            )
        self.versions[stream] = follows + 1
        self.expected_seq = seq + 1
        self.prev_hash = row["hash"]
        self.last_recorded = row["recorded_at"]
        return self.accounts.index_refs(event, row["event_id"])


def _out_of_place(seq: int, expected: int) -> str:
    """Return why an envelope with `seq` cannot come where seq `expected` should."""
    if seq > expected:
        return f"seq {expected} is missing or out of place: the next event has seq {seq}"
    return f"seq {seq} comes again or out of place where seq {expected} should come"


_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _is_instant_text(text: Any) -> bool:
    """True for the fixed-width UTC text of a real instant (see `format_instant`)."""
    if not isinstance(text, str) or _INSTANT.fullmatch(text) is None:
        return False
    try:
        read_instant(text)
    except ValueError:
        return False
    return True


def _decode_problem(exc: Exception) -> str:
    """Return why a stored payload does not decode, naming the field but never its value."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return f"{where}: {first['msg']}"
    return str(exc)


def _anchor_check(seq: int, kept: str, stored: str) -> None:
    if stored != kept:
        raise IntegrityError(
            f"seq {seq}: its hash is {stored}, not the one kept for it ({kept}); the log up "
            "to it was rewritten since (or that hash was kept for another seq)",
            seq=seq,
        )


def verify_rows(
    rows: Iterable[dict[str, Any]],
    index: Iterator[tuple[int, str | None, str | None]] | None = None,
    anchors: Mapping[int, str] | None = None,
) -> VerifyReport:
    """Walk stored envelopes in seq order; return how far the chain verifies.

    When `index` yields the stored (seq, deal_id, account_id) columns alongside, they are
    checked against the values derived from the payloads. `anchors` maps seqs to the hashes
    kept from an earlier verify: each event must still be there with that hash.
    """
    walker = ChainWalker()
    anchors = anchors or {}
    count = 0
    last_hash = GENESIS_HASH
    for row in rows:
        try:
            refs = walker.check(row)
            if row["seq"] in anchors:
                _anchor_check(row["seq"], anchors[row["seq"]], row["hash"])
            if index is not None:
                stored = next(index, None)
                if stored is None or stored[0] != row["seq"] or tuple(stored[1:]) != refs:
                    raise IntegrityError(
                        f"seq {row['seq']}: index columns deal_id/account_id do not match "
                        "the payload",
                        seq=row["seq"],
                    )
        except IntegrityError as exc:
            return VerifyReport(count, count, last_hash, exc.seq, str(exc))
        count += 1
        last_hash = row["hash"]
    beyond = [seq for seq in sorted(anchors) if seq > count]
    if beyond:
        problem = (
            f"seq {beyond[0]} is missing: an earlier verify kept its hash, but the log now ends "
            f"at seq {count}; events were removed from its end (or this is another ledger)"
        )
        return VerifyReport(count, count, last_hash, count + 1, problem, len(anchors))
    return VerifyReport(count, count, last_hash, anchors=len(anchors))


INTEGER_COLUMNS = ("seq", "schema_version", "stream_version")
"""The envelope fields that are integers."""
TEXT_COLUMNS = tuple(c for c in ENVELOPE_COLUMNS if c not in (*INTEGER_COLUMNS, "payload"))
"""The envelope fields that are text (the idempotency key may be null): an append writes
nothing else there, and a number there hashes otherwise than the text it would be stored as."""


def check_restore_rows(
    rows: Iterable[tuple[str, dict[str, Any]]],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, insertable row) for the envelopes of an export file, each after
    checking its fields and its link in the chain.

    Raises InputError for a malformed envelope and IntegrityError for a broken chain, both
    naming the line, when that envelope is reached.
    """
    walker = ChainWalker()
    for where, env in rows:
        missing = [c for c in ENVELOPE_COLUMNS if c not in env]
        if missing:
            raise InputError("is required in an exported envelope", where=where, field=missing[0])
        extra = sorted(set(env) - set(ENVELOPE_COLUMNS))
        if extra:
            raise InputError("is not an envelope field", where=where, field=extra[0])
        row = {c: env[c] for c in ENVELOPE_COLUMNS}
        for c in INTEGER_COLUMNS:
            if not isinstance(row[c], int) or isinstance(row[c], bool):
                raise InputError(
                    "must be an integer", where=where, field=c, value=row[c], has_value=True
                )
        for c in TEXT_COLUMNS:
            if not isinstance(row[c], str) and (row[c] is not None or c != "idempotency_key"):
                raise InputError("must be text", where=where, field=c, value=row[c], has_value=True)
        if isinstance(row["payload"], dict):
            row["payload"] = canonical_json(row["payload"])
        else:
            raise InputError("must be a JSON object", where=where, field="payload")
        try:
            deal_id, account_id = walker.check(row)
        except IntegrityError as exc:
            raise IntegrityError(f"{where}: {exc}", seq=exc.seq) from None
        row["deal_id"], row["account_id"] = deal_id, account_id
        yield where, row
