"""The cyclic garbage collector is paused while many objects are made, and a one-shot process
(the command line) freezes what a question keeps, so later passes do not walk it again."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ledger import gc_pause
from ledger.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Leave the collector as the test found it: running, nothing frozen."""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    yield
    gc.unfreeze()
    gc.enable()


def test_the_collector_is_paused_in_the_block_and_runs_again_after_it() -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "an inner block leaves the outer one paused"
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("a failure in the block")
    assert gc.isenabled(), "also when the block raises"


def test_a_collector_paused_before_the_block_stays_paused() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_what_a_kept_block_made_is_frozen_in_a_one_shot_process_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with gc_paused(keep=True):
        kept = [[n] for n in range(1000)]
    assert gc.get_freeze_count() == 0, "a program using the library keeps its collector whole"
    monkeypatch.setattr(gc_pause, "_one_shot", True)
    with gc_paused():
        made = [[n] for n in range(1000)]
    assert gc.get_freeze_count() == 0, "only a block that keeps what it made freezes it"
    with gc_paused(keep=True):
        kept += [[n] for n in range(1000)]
    assert gc.get_freeze_count() >= len(kept) + len(made)
    assert gc.isenabled()
