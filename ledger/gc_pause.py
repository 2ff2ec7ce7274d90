"""Pausing Python's cyclic garbage collector while many small objects are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_one_shot = False


def one_shot_process() -> None:
    """Say that this process answers one question and exits (the command line does): from now
    on what a `gc_paused(keep=True)` block made is frozen (see there)."""
    global _one_shot
    _one_shot = True


@contextmanager
def gc_paused(*, keep: bool = False) -> Iterator[None]:
    """Run the block with the cyclic collector paused (if it was running).

    Decoding events or building read models makes hundreds of thousands of small objects
    without reference cycles; while they are created, the collector would walk all of them
    again and again, for a large share of the time. Reference counting still frees them;
    anything cyclic waits for the collector's next run.

    With `keep`, what the block made lives on for the rest of a question (the events a deal
    question replays). In a one-shot process (`one_shot_process`), every object alive is then
    moved out of the collector's sight (`gc.freeze`) before it resumes, so that the passes
    the question's later work sets off do not walk them all again and again either (at a
    million events, a fifth of a deal question's time). Elsewhere (a long-running program
    using the library) nothing is frozen: an object frozen there that later became part of a
    reference cycle would never be collected.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keep and _one_shot:
            gc.freeze()
        if running:
            gc.enable()
