"""Pausing Python's cyclic garbage collector while many small objects are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector paused (if it was running).

    Decoding events or building read models makes hundreds of thousands of small objects
    without reference cycles; while they are created, the collector would walk all of them
    again and again, for a large share of the time. Reference counting still frees them;
    anything cyclic waits for the collector's next run.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()
