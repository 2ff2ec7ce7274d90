"""A seeded, realistic three-year history of a health-tech company, for trying the ledger.

`generate(seed, today)` builds it (pure, deterministic); `load_demo` writes it to a new ledger.
"""

from ledger.demo.generate import DemoHistory, generate
from ledger.demo.load import DemoLoad, demo_today, load_demo

__all__ = ["DemoHistory", "DemoLoad", "demo_today", "generate", "load_demo"]
