"""A ledger's time zone is an IANA name, read the same on every machine; a stored one this
machine's database lacks is an environment problem, said in one sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError

import pendulum
import pytest

import ledger.store.store as store_module
from ledger.errors import InputError
from ledger.events import LedgerConfigured, build_event
from ledger.timeutil import TimeParseError, iana_zone_name, zone


@pytest.fixture
def clock() -> list[datetime]:
    return [datetime(2026, 5, 1, 12, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "utc",  # every reader maps UTC in any case
        "America/Los_Angeles",
        "Pacific/Auckland",
        "Asia/Kolkata",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
        "US/Pacific",  # the database's own links are names of it
        "Etc/GMT-14",
    ],
)
def test_iana_names_are_time_zones_of_a_ledger(name: str) -> None:
    assert iana_zone_name(name) == name
    config = build_event("ledger_configured", {"timezone": name})
    assert isinstance(config, LedgerConfigured) and config.timezone == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        # A machine's own zone: each machine reading the ledger would read other days.
        ("localtime", "names the time zone of the machine that reads it"),
        ("posixrules", "names the time zone of the machine that reads it"),
        ("Factory", "mark of a machine whose zone was never set, no place's time zone"),
        # Found by a file system blind to case, not by another machine's.
        ("america/new_york", "is not an IANA time zone name such as 'UTC'; its IANA name is "),
        ("ASIA/KOLKATA", "its IANA name is 'Asia/Kolkata'"),
        # Copies in a system's zone folder, which the tzdata package lacks.
        ("posix/Asia/Tokyo", "its IANA name is 'Asia/Tokyo'"),
        ("right/UTC", "its IANA name is 'UTC'"),
        ("Mars/Olympus", "is not an IANA time zone name such as 'UTC'"),
    ],
)
def test_other_names_are_refused_saying_which_name_is_meant(name: str, says: str) -> None:
    with pytest.raises(TimeParseError, match=says.replace("(", r"\(")):
        iana_zone_name(name)
    with pytest.raises(InputError, match="field 'timezone'"):
        build_event("ledger_configured", {"timezone": name})


def test_a_name_an_earlier_release_stored_still_reads_back() -> None:
    try:
        zone("localtime")
    except TimeParseError:
        pytest.skip("this machine's time zone database has no 'localtime'")
    config = build_event("ledger_configured", {"timezone": "localtime"}, stored=True)
    assert isinstance(config, LedgerConfigured) and config.timezone == "localtime"


def test_a_ledger_whose_time_zone_this_machine_lacks_is_refused_in_one_sentence(
    cli_at_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli_at_clock
    assert run("init", "--timezone", "Pacific/Kiritimati").exit_code == 0

    def lacking(name: str):  # a machine whose database has no Pacific/Kiritimati
        if name == "Pacific/Kiritimati":
            raise TimeParseError(f"'{name}' is not an IANA time zone name such as 'UTC'")
        return zone(name)

    monkeypatch.setattr(store_module, "zone", lacking)
    for argv in (("arr",), ("record", "quota_set", "--period", "2026-Q3", "--amount", "5")):
        out = run(*argv)
        assert out.exit_code == 6, out.output
        assert out.stderr == (
            "revledger: the ledger's time zone 'Pacific/Kiritimati' is not in this machine's "
            "time zone database, so its days cannot be read here; update the tzdata package "
            "(pip install -U tzdata), or record the zone's IANA name with `revledger record "
            "ledger_configured --timezone` where it is known.\n"
        )


@pytest.fixture
def lack_kiritimati(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Return what makes this machine's time zone database lack Pacific/Kiritimati from then
    on, as a machine with an older database would."""
    real = pendulum.timezone

    def timezone(name: str, *args: object, **kwargs: object) -> object:
        if name == "Pacific/Kiritimati":
            raise ZoneInfoNotFoundError(name)
        return real(name, *args, **kwargs)

    def lack() -> None:
        monkeypatch.setattr(pendulum, "timezone", timezone)
        zone.cache_clear()

    yield lack
    zone.cache_clear()


LACKING = (
    "revledger: the ledger's time zone 'Pacific/Kiritimati' is not in this machine's time zone "
    "database, so its days cannot be read here; update the tzdata package (pip install -U "
    "tzdata), or record the zone's IANA name with `revledger record ledger_configured "
    "--timezone` where it is known.\n"
)


def test_a_ledger_whose_time_zone_this_machine_lacks_verifies_and_refuses_an_import(
    cli_at_clock, lack_kiritimati: Callable[[], None], tmp_path: Path
) -> None:
    """Its chain is intact: `verify` says so (no integrity failure); an import, which reads
    its lines' days in that zone, is refused as every question is, and writes nothing."""
    run = cli_at_clock
    assert run("init", "--timezone", "Pacific/Kiritimati").exit_code == 0
    lines = tmp_path / "quota.jsonl"
    lines.write_text(
        '{"type":"quota_set","period":"2026-Q3","amount":"5","effective_at":"2026-04-01"}\n',
        encoding="utf-8",
    )
    lack_kiritimati()
    verified = run("verify")
    assert verified.exit_code == 0, verified.output
    for argv in (("import", str(lines)), ("import", "--dry-run", str(lines))):
        out = run(*argv)
        assert (out.exit_code, out.stderr) == (6, LACKING)
    assert run("export").stdout.count("\n") == 1  # the configuration alone
