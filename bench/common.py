"""Shared pieces of the benchmarks: timing, samples, fresh databases and machine facts."""

from __future__ import annotations

import gc
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL, make_url

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Measurement:
    """Repeated samples of one workload on one system and backend (rates in `unit`)."""

    workload: str
    system: str
    backend: str
    unit: str
    count: int
    samples: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, count: int, seconds: float) -> None:
        self.samples.append(count / seconds)
        self.seconds.append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            median=self.median,
            min=min(self.samples, default=float("nan")),
            max=max(self.samples, default=float("nan")),
        )
        return out


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    """Run `fn` after a full garbage collection; return its count and its wall seconds."""
    gc.collect()
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


@contextmanager
def temp_dir() -> Iterator[Path]:
    """Yield a fresh temporary directory, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="revledger-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- PostgreSQL ---------------------------------------------------------------------------------
def pg_url(url: str) -> URL:
    """Return `url` parsed, with the psycopg driver."""
    u = make_url(url)
    return u.set(drivername="postgresql+psycopg")


def pg_conninfo(url: str, schema: str | None = None) -> str:
    """Return a libpq connection string for `url` (search_path set to `schema` if given)."""
    u = pg_url(url)
    parts = [f"dbname={u.database}", f"host={u.host or 'localhost'}", f"port={u.port or 5432}"]
    if u.username:
        parts.append(f"user={u.username}")
    if u.password:
        parts.append(f"password={u.password}")
    if schema:
        parts.append(f"options=-csearch_path={schema}")
    return " ".join(parts)


def schema_url(url: str, schema: str) -> str:
    """Return the SQLAlchemy URL of `url` with `schema` as its search_path."""
    base = pg_url(url).render_as_string(hide_password=False)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """Yield the name of a fresh schema, dropped with everything in it afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def pg_version(url: str) -> str:
    with psycopg.connect(pg_conninfo(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# -- the machine ------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "?"
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else "?"


def _memory_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return float("nan")
    m = re.search(r"^MemTotal:\s*(\d+) kB", text, re.M)
    return round(int(m.group(1)) / 1024 / 1024, 1) if m else float("nan")


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
        m = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', text, re.M)
        if m:
            return f"{m.group(1)} (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # read only: no index refresh
        )
    except OSError:
        return ""
    return out.stdout.strip()


def _git_revision() -> str:
    """Return the checked-out commit, marked `+changes` if the working tree differs from it."""
    rev = _git("rev-parse", "--short", "HEAD") or "?"
    return rev + ("+changes" if _git("diff", "--name-only", "HEAD") else "")


def machine(pg: str | None) -> dict[str, Any]:
    """Return the facts of this machine and software that the results depend on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version(pg) if pg else None,
        "revledger_revision": _git_revision(),
        "packages": {
            d: _version(d)
            for d in ("revledger", "eventsourcing", "sqlalchemy", "pydantic", "psycopg")
        },
    }
