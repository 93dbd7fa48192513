"""Shared fixtures: the PostGIS test database, a throwaway schema per test, data and output dirs.

The PostGIS database is created by ``scripts/test-setup.sh`` (``make test`` runs it first) and
named by ``WANGGE_TEST_DATABASE_URL``. When it is unreachable the PostGIS tests fail, they never
skip: a green run must mean the database code ran.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/wangge_test"
REPO_ROOT = Path(__file__).resolve().parents[1]


class PgSchema(NamedTuple):
    """A schema that exists for one test only, in the database at ``url``."""

    url: str
    schema: str


def _shown(url: str) -> str:
    """The URL with any password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture(scope="session")
def postgis_url() -> str:
    """URL of the PostGIS test database, checked once per session with postgis_full_version()."""
    url = os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    error: psycopg.Error | None = None
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT postgis_full_version()").fetchone()
    except psycopg.Error as exc:
        error = exc
    if error is not None:  # fail outside the except block: no chained traceback
        pytest.fail(
            f"PostGIS test database {_shown(url)} is not usable: {error}\n"
            "Run `bash scripts/test-setup.sh` (or `make test`) to install PostGIS and create it, "
            "or point WANGGE_TEST_DATABASE_URL at a database with the postgis extension.",
            pytrace=False,
        )
    assert row is not None
    return url


@pytest.fixture
def pg_schema(postgis_url: str, request: pytest.FixtureRequest) -> Iterator[PgSchema]:
    """Create a fresh, uniquely named schema for one test; drop it (CASCADE) afterwards."""
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40].strip("_")
    name = f"t_{stem}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield PgSchema(postgis_url, name)
    finally:
        with psycopg.connect(postgis_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repository's ``data/`` folder (sample inputs)."""
    return REPO_ROOT / "data"


@pytest.fixture
def tmp_out(tmp_path: Path) -> Path:
    """An empty directory for one test's output files."""
    out = tmp_path / "out"
    out.mkdir()
    return out


FAULT_PROPERTY = "fault_injection"
"""The user property a fault-injection test's lines travel in (from an xdist worker too)."""


@pytest.fixture
def fault_log(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a line saying what a fault test did; every line is printed in the terminal
    summary ("fault injection"), so a CI log shows the faults that were really injected.
    The lines ride on the test's report (``user_properties``), so they reach the terminal
    when the suite runs on several workers (``pytest -n 2``) too."""

    def say(line: str) -> None:
        request.node.user_properties.append((FAULT_PROPERTY, f"{request.node.nodeid}: {line}"))

    return say


class FaultSummary:
    """Collects the fault lines from the test reports and prints them at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take the lines of a finished test (its teardown report holds them all)."""
        if report.when == "teardown":
            self.lines += [v for k, v in report.user_properties if k == FAULT_PROPERTY]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print what the fault tests did."""
        if self.lines:
            terminalreporter.section("fault injection: what was done")
            for line in self.lines:
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    """Register the fault summary (on the controller only: workers just report)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(FaultSummary(), "wangge-fault-summary")
