"""Shared fixtures: one real embedded PostgreSQL per test session.

The server listens on a unix socket only (no TCP) and is stopped by its
postmaster pid when the session ends. Each test that needs a warehouse gets a
database of its own on it, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from helpers.erp import create_db
from shrinkwatch.postgres import EmbeddedPostgres, PgTarget, drop_database, ensure_database

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture(scope="session")
def pg_home() -> Path:
    # Not under pytest's tmp dir: that is mode 0700 for root, and the embedded
    # server runs as its own system user, which must reach its data directory.
    home = Path(tempfile.mkdtemp(prefix="sw-test-", dir="/tmp"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_home: Path) -> PgTarget:
    server = EmbeddedPostgres(pg_home)
    target = server.start()
    yield target
    server.stop()


@pytest.fixture
def warehouse(pg_server: PgTarget) -> PgTarget:
    """A fresh, empty database for one test."""
    dbname = f"t_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_server, dbname)
    yield pg_server.with_db(dbname)
    drop_database(pg_server, dbname)


@pytest.fixture
def erp_source(tmp_path: Path) -> Path:
    """An ERP database (SQLite) with every contract table, empty."""
    return create_db(tmp_path / "erp.sqlite")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """An empty WMS landing directory."""
    directory = tmp_path / "wms_landing"
    directory.mkdir()
    return directory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The DAG runs (`airflow` mark) are most of the suite's time: collect them
    first, so that under `make test` (`-n 2 --dist loadfile
    --no-loadscope-reorder`) one worker runs them while the other runs the rest."""
    items.sort(key=lambda item: item.get_closest_marker("airflow") is None)
