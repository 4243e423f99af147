import os
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from shrinkwatch.postgres import PgTarget
from shrinkwatch.runtime import Runtime
from shrinkwatch.settings import BIN_DIR, Settings


def test_embedded_server_serves_a_fresh_database_over_a_socket(warehouse: PgTarget):
    assert warehouse.is_socket
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == warehouse.dbname
        # unix socket only: the server listens on no TCP address at all
        assert conn.execute("show listen_addresses").fetchone()[0] == ""


def test_urls_round_trip_for_socket_hosts():
    target = PgTarget.from_url("postgresql://postgres:pw@localhost/shrinkwatch?host=/tmp/x")
    assert target.host == "/tmp/x" and target.dbname == "shrinkwatch"
    assert PgTarget.from_url(target.sqlalchemy_url()) == target


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN_DIR / "shrinkwatch"), *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_db_start_does_not_print_the_warehouse_password(warehouse: PgTarget):
    secret = "db-start-pw-4d9e"
    url = replace(warehouse, password=secret).sqlalchemy_url()
    # the Airflow metadata URL set: `db start` then creates no `airflow` database here
    done = _cli("db", "start", env={"SHRINKWATCH_DATABASE_URL": url,
                                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://elsewhere/airflow"})
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    assert f"postgresql+psycopg://postgres:***@localhost:5432/{warehouse.dbname}" in done.stdout


def test_db_psql_passes_the_password_in_a_private_file_not_argv(warehouse: PgTarget, pg_home: Path,
                                                                 tmp_path: Path, monkeypatch):
    secret = "psql-pw-8b2f:\\x"  # `:` and `\` must be escaped in a passfile
    with psycopg.connect(warehouse.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login password {}").format(
            sql.Identifier(f"r_{warehouse.dbname}"), sql.Literal(secret)))
    reader = replace(warehouse, user=f"r_{warehouse.dbname}", password=secret)
    monkeypatch.setenv("SHRINKWATCH_HOME", str(pg_home))
    monkeypatch.delenv("SHRINKWATCH_DATABASE_URL", raising=False)
    passfile = tmp_path / "pgpass"
    command, env = Runtime(Settings.from_env()).psql_command(reader, ["-Atc", "select current_user"], passfile)
    assert not [arg for arg in command if "psql-pw" in arg]
    assert env == {"PGPASSFILE": str(passfile)}
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == reader.user


def test_a_url_echoed_in_an_error_has_its_password_masked():
    with pytest.raises(ValueError) as raised:
        PgTarget.from_url("mysql://u:echoed-pw-1a2b@h/db")
    assert "echoed-pw-1a2b" not in str(raised.value) and "mysql://u:***@h/db" in str(raised.value)
