"""The `revledger` console script: the few things done before the command line loads.

Loading the command line takes a few tenths of a second; a Ctrl-C in that time ends the
command as one later does (`revledger: interrupted.`, exit 130), not with a traceback. A
SIGTERM ends any command as a Ctrl-C would, through the same clean-up (a transaction rolled
back, a half-written export removed), with exit 143.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import NoReturn

INTERRUPTED = 130
TERMINATED = 128 + signal.SIGTERM


def _stop(code: int, message: str) -> NoReturn:
    try:
        sys.stderr.write(f"revledger: {message}.\n")
        sys.stderr.flush()
    finally:
        raise SystemExit(code)


def _terminated(_signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    _stop(TERMINATED, "terminated")


def handle_sigterm() -> None:
    """End the command on SIGTERM as on a Ctrl-C (clean-up, then exit 143)."""
    signal.signal(signal.SIGTERM, _terminated)


def main() -> None:
    """Run the command line (exits with the documented exit code)."""
    handle_sigterm()
    try:
        from cli.main import main as run
    except KeyboardInterrupt:
        _stop(INTERRUPTED, "interrupted")
    run()


if __name__ == "__main__":
    main()
