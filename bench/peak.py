"""Run the `revledger` command line and record this process's own peak resident memory.

    REVLEDGER_BENCH_PEAK_FILE=peak.txt python -m bench.peak --db ledger.db nrr

The peak is the kernel's high-water mark of resident memory of this process's own address
space (`VmHWM` in `/proc/self/status`), written in KiB to the file named by the environment
variable when the command ends. Unlike `ru_maxrss` of a child, it does not inherit the memory
of the parent that forked it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cli.main import cli


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    """Run the command line; write the peak resident memory (KiB) when it ends."""
    try:
        cli.main(prog_name="revledger")
    finally:
        target = os.environ.get("REVLEDGER_BENCH_PEAK_FILE")
        if target:
            Path(target).write_text(str(_peak_kib()), encoding="ascii")


if __name__ == "__main__":
    main()
