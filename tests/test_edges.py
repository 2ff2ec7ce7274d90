"""Edges of the time model and of the safeguards, each met exactly: a fact on the bound, a
go-live on the as-of day, a clock that goes back, a rounding tie, a signature that a time zone
moves into a quarter, a stored row edited and its chain hashed again."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from cli.render import _plain, cell_text
from ledger.canonical import GENESIS_HASH, canonical_json, chain_hash, envelope_bytes
from ledger.phi import identifier_finding, phi_finding
from ledger.store.codec import envelope_fields
from ledger.store.verify import verify_rows
from ledger.timeutil import parse_instant, start_of_day
from projections.arr import arr_snapshot
from projections.cohorts import cohorts
from projections.revenue_book import RevenueBook, revenue_view
from tests.conftest import events_from
from tests.inline_log import InlineLog, day


def _cohorts(log, as_of):
    return cohorts(
        revenue_view(log.events),
        as_of,
        grain="quarter",
        fiscal_start=1,
        day_of=lambda t: t.date(),
        bound_of=lambda d: start_of_day(d, "UTC"),
    )


def test_canonical_json_writes_a_decimal_without_trailing_zeros():
    assert canonical_json({"a": D("120000.50")}) == '{"a":"120000.5"}'


def test_a_two_digit_birth_year_of_the_1930s_is_a_date_of_birth():
    assert phi_finding("Pt seen 4/12/35") == "a date of birth"


def test_id_words_inside_an_e_mail_address_pass():
    assert identifier_finding("ssn1@vendor.example") is None


def test_a_segment_change_effective_at_the_bound_is_not_yet_in_force():
    log = InlineLog()
    log.signed_and_live("A", "D1", "1000", "2025-01-10", "2025-01-20", segment="smb")
    log.add("deal_updated", "2025-04-01", deal_id="D1", segment="ent")
    view = revenue_view(log.events)
    assert [x.key for x in arr_snapshot(view, day("2025-03-31"), by="segment").lines] == ["smb"]


def test_a_go_live_at_the_as_of_bound_makes_no_cohort_yet():
    log = InlineLog()
    log.signed_and_live("A", "D1", "1000", "2025-03-10", "2025-04-01")
    assert _cohorts(log, day("2025-03-31")) == []


def test_carr_never_goes_below_zero_when_a_contraction_exceeds_live_arr_ahead():
    log = InlineLog()
    log.signed_and_live("A", "D1", "1000", "2025-01-10", "2025-01-20")
    log.add("expansion", "2025-03-01", account_id="A", arr="1000")
    log.add("contraction", "2025-04-01", account_id="A", arr="1500")
    t = revenue_view(log.events).accounts["A"]
    assert t.carr_at(day("2025-02-01")) == D(0)


def test_a_cohorts_last_column_stands_at_the_as_of_bound():
    log = InlineLog()
    log.signed_and_live("A", "D1", "1000", "2025-01-10", "2025-01-20")
    log.add("churn", "2025-05-20", account_id="A")
    [q1] = _cohorts(log, day("2025-04-30"))
    assert q1.arr == [D(1000), D(1000)]


def test_a_cohort_has_no_column_for_a_period_that_starts_at_the_as_of_bound():
    """As of the close of a quarter's last day, the next quarter has not begun: the cohort's
    columns end with the quarter just closed."""
    log = InlineLog()
    log.signed_and_live("A", "D1", "1000", "2025-01-10", "2025-01-20")
    log.add("expansion", "2025-04-01", account_id="A", arr="500")
    [q1] = _cohorts(log, day("2025-06-30"))
    assert (q1.arr, q1.revenue) == ([D(1000), D(1500)], [D(1), D("1.5")])


def test_ratios_round_half_even_in_json_and_tables():
    assert _plain(D("0.12345"), "ratio") == "0.1234"
    assert cell_text(D("0.1225"), "ratio") == "12.2%"


def test_retracting_a_deal_attribute_after_a_view_puts_the_segment_back():
    log = InlineLog()
    log.signed_and_live("A", "D1", "1000", "2024-01-10", "2024-01-20", segment="smb")
    upd = log.add("deal_updated", "2024-01-15", deal_id="D1", segment="ent")
    book = RevenueBook().absorb(log.events)
    assert book.view().accounts["A"].segment == "ent"
    r = log.add("event_retracted", "2024-02-01", retracts=upd.event_id, reason="wrong segment")
    book.absorb([r])
    assert book.view().accounts["A"].segment == "smb"


@pytest.fixture
def clock() -> list[datetime]:
    return [datetime(2025, 7, 1, 9, 0, tzinfo=UTC)]


def _record(run, line: str) -> None:
    done = run("record", *shlex.split(line))
    assert done.exit_code == 0, done.output


def test_a_signature_on_april_1_in_tokyo_counts_in_q2(cli_at_clock):
    # Signed at 20:00 UTC on March 31: April 1 in Tokyo, so in Q2 there.
    run = cli_at_clock
    assert run("init", "--timezone", "Asia/Tokyo").exit_code == 0
    _record(run, "deal_opened --deal-id D1 --account-id A1 --stage negotiation --amount 100000 "
                 "--expected-close 2025-03-15 --effective 2025-03-01")  # fmt: skip
    _record(run, "contract_signed --deal-id D1 --arr 100000 --effective 2025-03-31T20:00:00Z")
    out = run("forecast", "--period", "2025-Q2", "--as-of", "2025-06-30", "--format", "json")
    assert out.exit_code == 0, out.output
    assert str(json.loads(out.stdout)["rows"][0]["closed_won"]) == "100000"


def test_coverage_has_no_ratio_once_the_quota_is_reached(cli_at_clock):
    run = cli_at_clock
    assert run("init").exit_code == 0
    for deal, amount in (("D1", "100000"), ("D2", "50000")):
        opened = f"deal_opened --deal-id {deal} --account-id A{deal} --stage negotiation"
        _record(
            run, f"{opened} --amount {amount} --expected-close 2025-05-30 --effective 2025-04-02"
        )
    _record(run, "contract_signed --deal-id D1 --arr 100000 --effective 2025-04-10")
    _record(run, "quota_set --period 2025-Q2 --amount 100000 --effective 2025-04-01")
    out = run("forecast", "--period", "2025-Q2", "--as-of", "2025-06-30", "--format", "json")
    assert out.exit_code == 0, out.output
    row = json.loads(out.stdout)["rows"][0]
    assert row["coverage"] is None, row


OPEN = (
    '{"type":"deal_opened","effective_at":"2026-01-05","deal_id":"D-1","account_id":"A-1",'
    '"stage":"demo","amount":"100000","expected_close":"2026-06-30"}'
)
SIGN = '{"type":"contract_signed","effective_at":"2026-03-01","deal_id":"D-1","arr":"100000"}'


def _rehashed(rows):
    prev = GENESIS_HASH
    for r in rows:
        r["prev_hash"] = prev
        r["hash"] = prev = chain_hash(prev, envelope_bytes(**envelope_fields(r)))
    return rows


def test_verify_names_a_recorded_at_going_backwards_in_a_rehashed_chain(store):
    store.append_batch(events_from([OPEN]))
    store.append_batch(events_from([SIGN]))
    rows = [dict(r) for r in store.raw_rows()]
    rows[2]["recorded_at"] = "2000-01-01T00:00:00.000000Z"
    report = verify_rows(_rehashed(rows))
    assert report.first_bad_seq == 3 and "backwards" in (report.problem or "")


def test_verify_names_a_stream_id_the_payload_does_not_give(store):
    store.append_batch(events_from([OPEN, SIGN]))
    rows = [dict(r) for r in store.raw_rows()]
    rows[1]["stream_id"] = "deal:D-2"
    report = verify_rows(_rehashed(rows))
    assert report.first_bad_seq == 2 and "stream_id" in (report.problem or "")


def test_recorded_at_never_goes_back_when_the_clock_does(store, monkeypatch):
    t = [datetime(2030, 1, 1, 12, tzinfo=UTC)]
    monkeypatch.setattr("ledger.store.batch.utc_now", lambda: t[0])
    store.append_batch(events_from([OPEN]))
    t[0] = datetime(2030, 1, 1, 11, tzinfo=UTC)
    store.append_batch(events_from([SIGN]))
    rec = [r["recorded_at"] for r in store.raw_rows()]
    assert rec == sorted(rec)


def test_win_rate_counts_a_deal_lost_on_the_from_day(cli_at_clock, tmp_path):
    run = cli_at_clock
    assert run("init").exit_code == 0
    f = tmp_path / "l.jsonl"
    f.write_text(
        OPEN.replace("2026-01-05", "2025-01-05")
        + "\n"
        + '{"type":"deal_lost","effective_at":"2025-02-01","deal_id":"D-1"}\n'
    )
    imp = run("import", str(f))
    assert imp.exit_code == 0, imp.output
    out = run("win-rate", "--as-of", "2025-06-30", "--from", "2025-02-01", "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows"][0]["lost"] == 1, out.stdout


def test_a_day_whose_midnight_is_skipped_starts_when_its_clocks_start():
    # São Paulo, 2018-11-04: clocks went from 00:00 straight to 01:00 (-02:00), so the day's
    # first instant is 01:00 local, 03:00 UTC; never 02:00 UTC, which is still 3 November.
    assert start_of_day(date(2018, 11, 4), "America/Sao_Paulo") == datetime(
        2018, 11, 4, 3, tzinfo=UTC
    )
    assert parse_instant("2018-11-04", "America/Sao_Paulo") == datetime(2018, 11, 4, 3, tzinfo=UTC)


def test_a_day_whose_midnight_comes_twice_starts_at_the_first():
    # Havana, 2023-11-05: at 01:00 (-04:00) clocks went back to 00:00 (-05:00); the day began
    # at the first midnight, 04:00 UTC, not the second, 05:00 UTC.
    assert start_of_day(date(2023, 11, 5), "America/Havana") == datetime(2023, 11, 5, 4, tzinfo=UTC)
