"""`revledger report`: the HTML report gives the answers of the commands that own each
definition, in one frame, as a self-contained, well-formed page that escapes the ledger's text
and is the same bytes for the same question."""

from __future__ import annotations

import html
import re
import shlex
import xml.dom.minidom
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner, Result

from cli.html_report import _heat
from cli.main import cli
from cli.render import Column, Report, html_table
from ledger.envelope import NewEvent
from ledger.errors import InputError
from ledger.events import EventRetracted, LedgerConfigured
from ledger.operations import import_file, restore_file
from ledger.store import LedgerStore
from ledger.timeutil import parse_instant, read_instant, shown_instant
from projections.windows import parse_window
from queries.common import TimeQuery
from queries.forecast import forecast_query
from queries.pipeline import (
    aging_query,
    health_query,
    regressions_query,
    stages_query,
    win_rate_query,
)
from queries.report import LedgerReport, point_days, report_query
from queries.revenue import arr_query, cohorts_query, movements_query, retention_query

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO = FIXTURES / "demo-ledger.jsonl"
CLOCK = datetime(2026, 11, 2, 15, 4, 5, 123456, tzinfo=UTC)


@pytest.fixture
def demo(db_url: str) -> Iterator[LedgerStore]:
    """The demo ledger (three years, ending 2026-10-31), restored on each backend."""
    s = LedgerStore.open(db_url, create=True)
    restore_file(s, DEMO)
    yield s
    s.close()


# -- the points of the trends ---------------------------------------------------------------------
def test_points_are_the_quarter_ends_before_the_as_of_quarter_then_the_as_of_day() -> None:
    days = point_days(date(2026, 11, 15), 4, 1)
    assert days == [
        ("2025-Q3", date(2025, 9, 30)),  # where the first bridge starts
        ("2025-Q4", date(2025, 12, 31)),
        ("2026-Q1", date(2026, 3, 31)),
        ("2026-Q2", date(2026, 6, 30)),
        ("2026-Q3", date(2026, 9, 30)),
        ("2026-Q4 to date", date(2026, 11, 15)),
    ]


def test_an_as_of_day_that_ends_its_quarter_is_labelled_as_the_quarter() -> None:
    assert point_days(date(2026, 9, 30), 1, 1) == [
        ("2026-Q1", date(2026, 3, 31)),
        ("2026-Q2", date(2026, 6, 30)),
        ("2026-Q3", date(2026, 9, 30)),
    ]


def test_points_follow_the_fiscal_year() -> None:
    # Fiscal year starting in February: FY2027 Q1 is Feb-Apr 2026.
    days = point_days(date(2026, 5, 10), 2, 2)
    assert days == [
        ("2026-Q3", date(2025, 10, 31)),
        ("2026-Q4", date(2026, 1, 31)),
        ("2027-Q1", date(2026, 4, 30)),
        ("2027-Q2 to date", date(2026, 5, 10)),
    ]


def test_points_stop_at_the_first_year_a_ledger_may_have() -> None:
    assert point_days(date(1900, 8, 1), 8, 1) == [
        ("1899-Q4", date(1899, 12, 31)),
        ("1900-Q1", date(1900, 3, 31)),
        ("1900-Q2", date(1900, 6, 30)),
        ("1900-Q3 to date", date(1900, 8, 1)),
    ]
    assert point_days(date(1900, 2, 1), 8, 1) == [
        ("1899-Q4", date(1899, 12, 31)),
        ("1900-Q1 to date", date(1900, 2, 1)),
    ]


# -- the same answers as the commands -------------------------------------------------------------
def _check_same_answers(store: LedgerStore, when: TimeQuery, quarters: int) -> LedgerReport:
    report, prov = report_query(store, when, quarters=quarters)
    arr, arr_prov = arr_query(store, when)
    assert prov.head == arr_prov.head and prov.known_at == arr_prov.known_at
    assert report.as_of == arr_prov.as_of
    assert len(report.points) == quarters + 1
    config = store.config(prov.known_at) or store.config()
    assert config is not None and report.fiscal_start == config.fiscal_year_start_month
    previous = point_days(report.as_of, quarters, report.fiscal_start)[0][1]
    for point in report.points:
        day = point.day.isoformat()
        snap, _ = arr_query(store, TimeQuery(day, when.known_at))
        assert point.revenue == snap.total
        bridge, _ = movements_query(
            store, TimeQuery(day, when.known_at), start=previous.isoformat()
        )
        assert point.bridge == bridge.total
        kept, _ = retention_query(store, TimeQuery(day, when.known_at))
        assert point.retention == kept.total
        previous = point.day
    assert report.points[-1].revenue == arr.total
    by_segment, _ = arr_query(store, when, by="segment")
    assert report.by_segment == by_segment
    cohorts, _ = cohorts_query(store, when)
    assert report.cohorts == cohorts
    this, nxt = report.forecasts
    assert this == forecast_query(store, when, period=report.quarter.label)[0]
    assert nxt.period.start == report.quarter.end
    assert nxt == forecast_query(store, when, period=nxt.period.label)[0]
    stages, _ = stages_query(store, when)
    assert report.stages == stages
    open_deals, _ = aging_query(store, when, older_than_days=0)
    assert sum(x.deals for x in report.pipeline) == len(open_deals)
    for x in report.pipeline:
        mine = [d for d in open_deals if d.stage == x.stage]
        assert (x.deals, x.amount) == (len(mine), sum((d.amount for d in mine), Decimal(0)))
    shown = [x.stage for x in report.pipeline]
    assert shown == [name for name in config.stage_names() if name in shown]  # pipeline order
    year_from = parse_window("12m").before(report.as_of).toordinal() + 1
    assert report.year_from == date.fromordinal(year_from)
    start, end = report.year_from.isoformat(), report.as_of.isoformat()
    assert report.regressions == regressions_query(store, when, start=start, end=end)[0].total
    wins, _ = win_rate_query(store, when, start=start, end=end, by="segment")
    assert report.win_rates == wins
    assert report.health == health_query(store, when, start=start, end=end)[0]
    return report


def test_the_report_gives_the_commands_answers_at_every_point(demo: LedgerStore) -> None:
    report = _check_same_answers(demo, TimeQuery("2026-10-31"), 8)
    # The demo ledger's business is there to see: revenue, a bridge, cohorts, a forecast.
    assert report.points[-1].revenue.arr > 0
    assert any(p.bridge.new > 0 for p in report.points)
    assert report.cohorts and report.stages and report.win_rates.lines


def test_the_report_stands_at_a_past_known_at_like_the_commands(demo: LedgerStore) -> None:
    report = _check_same_answers(demo, TimeQuery("2025-06-30", "2025-07-15"), 3)
    now, _ = report_query(demo, TimeQuery("2025-06-30"), quarters=3)
    # Events recorded after 2025-07-15 (backdated ones among them) are not in the past view.
    assert report.points != now.points or report.forecasts != now.forecasts


@pytest.fixture
def fiscal_tokyo(db_url: str) -> Iterator[LedgerStore]:
    """The sample ledger in a Tokyo ledger whose fiscal year starts in April, its last
    expansion retracted afterwards."""
    s = LedgerStore.open(db_url, create=True)
    config = LedgerConfigured(timezone="Asia/Tokyo", fiscal_year_start_month=4)
    s.append(NewEvent(config, parse_instant("2020-01-01"), "test", "test"))
    import_file(s, FIXTURES / "sample-ledger.jsonl", actor="test")
    last = list(s.read(types=["expansion"]))[-1]
    retraction = EventRetracted(retracts=last.event_id, reason="entered twice")
    s.append(NewEvent(retraction, last.effective_at, "test", "test"))
    yield s
    s.close()


def test_a_fiscal_year_ledger_in_another_time_zone_gives_the_commands_answers(
    fiscal_tokyo: LedgerStore,
) -> None:
    head = fiscal_tokyo.head()
    assert head.recorded_at is not None
    before_retraction = shown_instant(read_instant(head.recorded_at) - timedelta(microseconds=1))
    for as_of in ("2025-06-30", "2025-09-30", "2025-11-15", "2026-03-31"):
        for known_at in (None, before_retraction):
            report = _check_same_answers(fiscal_tokyo, TimeQuery(as_of, known_at), 4)
            assert report.quarter.start.month in (1, 4, 7, 10) and report.fiscal_start == 4
    # The retraction is in the answer known now, not in the one known just before it.
    now, _ = report_query(fiscal_tokyo, TimeQuery("2026-03-31"))
    then, _ = report_query(fiscal_tokyo, TimeQuery("2026-03-31", before_retraction))
    assert now.points[-1].revenue.arr < then.points[-1].revenue.arr


def test_near_the_last_year_there_is_no_forecast_of_a_quarter_after_it(
    store: LedgerStore,
) -> None:
    report, _ = report_query(store, TimeQuery("2199-12-31"))
    assert [f.period.label for f in report.forecasts] == ["2199-Q4"]
    first, _ = report_query(store, TimeQuery("1900-03-31"))
    assert first.year_from == date(1900, 1, 1)  # the window starts in the first year


def test_a_ledger_with_nothing_but_its_configuration_has_an_empty_report(
    store: LedgerStore,
) -> None:
    report = _check_same_answers(store, TimeQuery("2026-03-31"), 2)
    assert all(p.revenue.arr == 0 and p.retention is not None for p in report.points)
    assert report.cohorts == [] and report.win_rates.total.closed == 0


def test_quarters_out_of_range_are_refused(store: LedgerStore) -> None:
    for quarters in (0, 41):
        with pytest.raises(InputError, match="--quarters"):
            report_query(store, TimeQuery("2026-03-31"), quarters=quarters)


# -- the page -------------------------------------------------------------------------------------
class _Balance(HTMLParser):
    """Checks that every element the page opens it also closes, in order."""

    VOID: ClassVar = {"meta", "br", "img", "input", "link", "hr"}
    """HTML's elements without an end tag; SVG's are closed in their own tag (`<rect/>`)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.scripts = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closed tag (`<rect/>`) opens nothing, so nothing is pushed."""

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open[-3:], tag)
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def _page_checks(page: str) -> _Balance:
    """Assert the page is well formed, runs no script and fetches nothing; return its parse."""
    assert page.startswith("<!DOCTYPE html>")
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.open == []
    assert parser.scripts == 0
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", page)
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        xml.dom.minidom.parseString(svg)  # each chart is well-formed XML
    return parser


@pytest.fixture
def clock() -> list[datetime]:
    """The time the CLI runs at; a test may move it."""
    return [CLOCK]


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, db_url: str, clock: list[datetime]
) -> Callable[..., Result]:
    """Run `revledger --db <ledger> ARGS` in-process with the clock pinned to `clock[0]`."""
    for where in ("ledger.store.batch", "ledger.operations", "queries.common"):
        monkeypatch.setattr(f"{where}.utc_now", lambda: clock[0])

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", db_url, *args])

    return invoke


def test_the_page_shows_the_figures_and_is_the_same_bytes_twice(
    demo: LedgerStore, run: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    first = run("report", "--as-of", "2026-10-31", "-o", str(out))
    assert first.exit_code == 0, first.output
    assert first.stderr == f"wrote the report as of 2026-10-31 to {out}\n"
    page = out.read_text(encoding="utf-8")
    again = run("report", "--as-of", "2026-10-31")
    assert again.exit_code == 0 and again.stdout == page
    assert run("report", "--as-of", "2026-10-31", "-o", "-").stdout == page  # - is stdout
    texts = re.sub(r"\s+", " ", " ".join(_page_checks(page).texts))
    report, prov = report_query(demo, TimeQuery("2026-10-31"))
    now = report.points[-1]
    # The figures as the table renderer prints them: ARR, NRR, the forecast's closed won.
    assert f"{now.revenue.arr:,.2f}" in texts
    assert now.retention is not None and now.retention.nrr is not None
    assert f"{now.retention.nrr * 100:.1f}%" in texts
    assert f"{report.forecasts[0].total.closed_won:,.2f}" in texts
    # ARR by segment ends with its total row, as `arr --by segment` does.
    segments = page.split('<section id="segments">', 1)[1].split("</section>", 1)[0]
    total = report.by_segment.total
    assert segments.rsplit("<tr>", 1)[1].startswith(
        f'<td>total</td><td class="num">{total.accounts}</td><td class="num">{total.arr:,.2f}</td>'
    )
    assert f"seq {prov.head.seq}, hash {prov.head.hash}" in texts
    # The command that makes it again pins the transaction time it stood at.
    assert f"--known-at {prov.as_meta()['known_at']}" in texts
    assert page.count("<svg") == 8
    assert [f'<section id="{s}">' in page for s in ("revenue", "cohorts", "health")] == [True] * 3


HOSTILE = '<b>"x" & co'


def test_the_ledgers_and_the_users_text_is_escaped(tmp_path: Path) -> None:
    # Every name the ledger's events may hold on this page is a slug; the database path and the
    # typed options are the user's text, shown in the command that makes the page again.
    db = tmp_path / f"{HOSTILE}.db"
    s = LedgerStore.open(str(db), create=True)
    s.append(NewEvent(LedgerConfigured(), parse_instant("2026-01-01"), "test", "test"))
    s.close()
    result = CliRunner().invoke(cli, ["--db", str(db), "report", "--as-of", "2026-03-31"])
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert HOSTILE not in page and "<b>" not in page
    assert "&lt;b&gt;&quot;x&quot; &amp; co" in re.sub(r"<[^>]+>", "", page)  # tags aside
    assert HOSTILE in "".join(_page_checks(page).texts)  # shown as text, as typed


def test_the_table_renderer_escapes_every_cell() -> None:
    table = html_table(Report(HOSTILE, [Column("deal", "deal <id>")], [{"deal": HOSTILE}]))
    assert "<b>" not in table and table.count("&lt;b&gt;&quot;x&quot; &amp; co") == 2
    assert "<th>deal &lt;id&gt;</th>" in table


def _again(page: str) -> list[str]:
    """Return the arguments after `--db …` of the command the page says makes it again."""
    found = re.search(r"<dt>again</dt><dd><code>(.*?)</code>", page)
    assert found is not None
    words = shlex.split(html.unescape(re.sub(r"<[^>]+>", "", found[1])))
    assert words[:2] == ["revledger", "--db"]
    return words[3:]


def test_the_command_in_the_footer_makes_the_same_page_after_more_is_recorded(
    demo: LedgerStore, run: Callable[..., Result], clock: list[datetime]
) -> None:
    # --known-at as a day means its end, which lies ahead of the clock: the footer pins the
    # transaction time the page stood at instead, the head's recording time.
    first = run("report", "--as-of", "2026-10-15", "--known-at", "2026-11-02")
    assert first.exit_code == 0, first.output
    again = _again(first.stdout)
    pinned = parse_instant(again[again.index("--known-at") + 1])
    head_recorded = demo.head().recorded_at
    assert head_recorded is not None and pinned == parse_instant(head_recorded)
    clock[0] += timedelta(days=1)
    recorded = run("record", "quota_set", "--period", "2026-Q4", "--amount", "1", "--effective",
                   "2026-10-01")  # fmt: skip
    assert recorded.exit_code == 0, recorded.output
    assert run(*again).stdout == first.stdout
    plain = run("report", "--as-of", "2026-10-15")
    assert plain.stdout != first.stdout  # the quota recorded since is in the answer known now


def test_the_report_never_replaces_the_ledger(
    demo: LedgerStore, run: Callable[..., Result], db_url: str
) -> None:
    if "://" in db_url:
        pytest.skip("a PostgreSQL ledger is no file that an output could replace")
    for name in (db_url, db_url + "-wal", db_url + "-journal"):  # the journal not there yet
        for args in (("report", "-o", name), ("export", "-o", name)):
            result = run(*args)
            assert result.exit_code == 6, result.output
            assert "it is the ledger's own database file" in result.stderr
    assert run("verify").exit_code == 0


def test_report_errors_are_one_sentence(
    store: LedgerStore, run: Callable[..., Result], tmp_path: Path
) -> None:
    bad = run("report", "--quarters", "0")
    assert bad.exit_code == 2 and "--quarters" in bad.stderr
    missing = run("report", "-o", str(tmp_path / "no-such-folder" / "r.html"))
    assert missing.exit_code == 6
    assert missing.stderr.startswith("revledger: cannot write")
    assert not (tmp_path / "no-such-folder").exists()
    day = run("report", "--as-of", "2026-02-30")
    assert day.exit_code == 3 and "--as-of" in day.stderr


def test_a_report_in_the_first_year_a_ledger_may_have_has_no_retention_yet(
    store: LedgerStore,
) -> None:
    report, _ = report_query(store, TimeQuery("1900-02-01"))
    assert [p.label for p in report.points] == ["1900-Q1 to date"]
    assert report.points[0].retention is None  # its 12 months reach back before 1900


def test_the_heat_map_tells_a_loss_from_a_gain_and_from_an_empty_cell() -> None:
    column = Column("p3", "+3", "ratio")
    lost, kept, grown = (_heat(column, Decimal(v)) for v in ("0", "1", "1.5"))
    assert "hsl(22," in lost and "hsl(205," in grown  # orange below 100 %, blue above
    assert lost.endswith("color:#fff") and grown.endswith("color:#fff")  # the deepest shades
    assert "95%" in kept  # near white at 100 %
    assert _heat(column, None) == "" and _heat(Column("accounts", "n", "int"), 3) == ""


def test_the_footers_command_breaks_only_between_words(
    demo: LedgerStore, run: Callable[..., Result]
) -> None:
    page = run("report", "--as-of", "2026-10-31").stdout
    footer = page[page.index("<footer>") :]
    assert '<span class="word">--known-at</span> <span class="word">' in footer
    assert ".word{white-space:nowrap}" in page


def test_the_footer_names_a_sqlite_ledger_by_its_full_path_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given as a relative sqlite:/// URL, in a folder whose name holds a space: the command
    # names the file in full, and the quoted path is one unbreakable word.
    folder = tmp_path / "rev ops"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert CliRunner().invoke(cli, ["--db", "sqlite:///l.db", "init"]).exit_code == 0
    page = CliRunner().invoke(cli, ["--db", "sqlite:///l.db", "report"]).stdout
    footer = page[page.index("<dt>again</dt>") :]
    quoted = shlex.quote(str((folder / "l.db").resolve()))
    assert f'<span class="word">{html.escape(quoted)}</span>' in footer
