"""Ledgers written by earlier releases of revledger open, verify and answer as the current one.

The data in `tests/old_ledgers/` was written by earlier releases; each file notes how.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cli.main import cli
from ledger.store import Checkpoint, LedgerStore

OLD_LEDGERS = Path(__file__).parent / "old_ledgers"


def _revledger(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *args], prog_name="revledger")


def _old_ledger(name: str, db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Restore the export of old ledger `name` into `db_url`, put back the read-model
    checkpoints that release left in it, and return the fixture."""
    fixture: dict[str, Any] = json.loads((OLD_LEDGERS / name).read_text(encoding="utf-8"))
    export = tmp_path / "old-export.jsonl"
    export.write_text("\n".join(fixture["export"]) + "\n", encoding="utf-8")
    restored = _revledger(db_url, "import", "--restore", str(export))
    assert restored.exit_code == 0, restored.output
    store = LedgerStore.open(db_url)
    try:
        head = store.head()
        for row in fixture["checkpoints"]:
            store.save_checkpoint(
                Checkpoint(row["name"], row["absorbed_seq"], row["absorbed_hash"], row["state"])
            )
            # The old checkpoint is in place, pinned to the restored log (else the test
            # would prove nothing about reading it).
            kept = store.load_checkpoint(row["name"])
            assert kept is not None and kept.state == row["state"]
        assert max(row["absorbed_seq"] for row in fixture["checkpoints"]) == head.seq
    finally:
        store.close()
    return fixture


def _rows(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)["rows"]
    return rows


def test_a_read_model_saved_when_a_re_signed_deal_kept_its_first_account_is_built_again(
    db_url: str, tmp_path: Path
) -> None:
    # An earlier release filed a deal re-signed for another account under its first account
    # and saved that in its read model; the segment change that followed grouped the wrong
    # account. The current release must not answer from that saved state.
    _old_ledger("read-model-format-11.json", db_url, tmp_path)
    question = ("arr", "--as-of", "2026-03-31", "--by", "segment", "--format", "json")
    answered = _rows(_revledger(db_url, *question))

    rebuilt = _revledger(db_url, "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert answered == _rows(_revledger(db_url, *question))
    assert _revledger(db_url, "rebuild", "--check").exit_code == 0


def test_an_old_ledger_with_its_read_model_passes_rebuild_check_once_answered(
    db_url: str, tmp_path: Path
) -> None:
    # Whatever an earlier release saved, the read model a question leaves behind matches a
    # replay of the log.
    _old_ledger("read-model-format-11.json", db_url, tmp_path)
    assert _revledger(db_url, "arr", "--by", "segment").exit_code == 0
    checked = _revledger(db_url, "rebuild", "--check")
    assert checked.exit_code == 0, checked.output


HUBSPOT = OLD_LEDGERS / "hubspot-sub-millisecond"


def _import_hubspot(db_url: str, history: Path) -> Result:
    return _revledger(
        db_url,
        "import",
        "--from",
        "hubspot",
        str(history),
        "--pipeline",
        str(HUBSPOT / "pipeline.csv"),
        "--opportunities",
        str(HUBSPOT / "deals.csv"),
    )


def _head_seq(db_url: str) -> int:
    store = LedgerStore.open(db_url)
    try:
        return store.head().seq
    finally:
        store.close()


def test_a_hubspot_history_an_earlier_release_imported_to_the_millisecond_appends_nothing(
    db_url: str,
) -> None:
    # Change times with microseconds were keyed by their rounded epoch milliseconds; they are
    # now keyed to the microsecond. Importing the same history again must still find them.
    restored = _revledger(db_url, "import", "--restore", str(HUBSPOT / "ledger-export.jsonl"))
    assert restored.exit_code == 0, restored.output
    before = _head_seq(db_url)
    again = _import_hubspot(db_url, HUBSPOT / "property-history.csv")
    assert again.exit_code == 0, again.output
    assert "appended 0," in again.output
    assert _head_seq(db_url) == before


def test_a_deal_an_earlier_release_imported_as_won_to_the_microsecond_can_be_lost_later(
    db_url: str, tmp_path: Path
) -> None:
    # A later export moves the won deal to lost: the contract the earlier release signed (under
    # its own key) is the one retracted, so the deal's ARR goes.
    restored = _revledger(db_url, "import", "--restore", str(HUBSPOT / "ledger-export.jsonl"))
    assert restored.exit_code == 0, restored.output
    history = tmp_path / "property-history.csv"
    history.write_text(
        (HUBSPOT / "property-history.csv").read_text(encoding="utf-8")
        + "9001,dealstage,closedlost,2024-09-01T10:00:00Z,CRM_UI,userId:101\n",
        encoding="utf-8",
    )
    arr = ("arr", "--as-of", "2024-12-31", "--format", "json")
    signed = _rows(_revledger(db_url, *arr))
    assert signed[-1]["carr"] != "0"  # the earlier release's contract counts until then
    lost = _import_hubspot(db_url, history)
    assert lost.exit_code == 0, lost.output
    assert _rows(_revledger(db_url, *arr))[-1]["carr"] == "0"
    assert _revledger(db_url, "verify").exit_code == 0
    assert "appended 0," in _import_hubspot(db_url, history).output
