import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from shrinkwatch.postgres import EmbeddedPostgres, PgTarget
from shrinkwatch.runtime import Runtime
from shrinkwatch.settings import BIN_DIR, Settings


def test_embedded_server_serves_a_fresh_database_over_a_socket(warehouse: PgTarget):
    assert warehouse.is_socket
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == warehouse.dbname
        # unix socket only: the server listens on no TCP address at all
        assert conn.execute("show listen_addresses").fetchone()[0] == ""
        assert conn.execute("select current_user").fetchone()[0] == "postgres"


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


def _server_user_uid() -> int:
    # run as root, the wheel runs the server as its own `pgserver` system user
    return pwd.getpwnam("pgserver").pw_uid if os.geteuid() == 0 else os.geteuid()


def _refusal(conninfo: str) -> str | None:
    try:
        psycopg.connect(conninfo, connect_timeout=10).close()
    except psycopg.OperationalError as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def tcp_server(pg_home: Path) -> tuple[EmbeddedPostgres, PgTarget]:
    """A second embedded server, on 127.0.0.1 too, with a data directory whose
    path is too long for a unix socket (so its socket goes elsewhere)."""
    home = pg_home / ("long-" + "x" * 90)
    home.mkdir()
    home.chmod(0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = EmbeddedPostgres(home, tcp_port=port)
    target = server.start()
    yield server, target
    socket_dir = server.socket_dir()
    server.stop()
    if socket_dir != server.pgdata:
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_the_socket_directory_is_private_to_the_server(pg_server: PgTarget):
    found = os.lstat(pg_server.host)
    assert stat.S_ISDIR(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o700
    assert found.st_uid == _server_user_uid()


def test_a_socket_path_too_long_falls_back_to_a_private_directory(tcp_server):
    server, target = tcp_server
    assert len(str(server.pgdata / ".s.PGSQL.5432")) > 107
    assert Path(target.host) == server.socket_dir() != server.pgdata
    found = os.lstat(target.host)
    assert stat.S_ISDIR(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o700
    assert found.st_uid == _server_user_uid()
    with psycopg.connect(target.conninfo()) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "postgres"


def test_every_login_but_the_superusers_on_the_socket_needs_a_password(tcp_server):
    server, target = tcp_server
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        conn.execute("create role no_password login")
        conn.execute("create role with_password login password 'right-pw'")
    tcp = f"host=127.0.0.1 port={target.port} dbname=postgres"
    sock = f"host={target.host} port={target.port} dbname=postgres"
    for conninfo in (f"{sock} user=no_password", f"{tcp} user=no_password",
                     f"{tcp} user=postgres", f"{tcp} user=postgres password=embedded",
                     f"{sock} user=with_password password=wrong-pw", f"{tcp} user=with_password password=wrong-pw"):
        refusal = _refusal(conninfo)
        assert refusal and ("no password supplied" in refusal or "password authentication failed" in refusal), \
            conninfo
    for conninfo in (f"{sock} user=with_password password=right-pw", f"{tcp} user=with_password password=right-pw"):
        assert _refusal(conninfo) is None, conninfo
    with psycopg.connect(target.conninfo()) as conn:
        # the server verifies the password itself (no md5, no plain text)
        assert conn.execute("select rolpassword like 'SCRAM-SHA-256$%' from pg_authid "
                            "where rolname = 'with_password'").fetchone()[0]


def test_a_role_without_password_is_refused_on_the_session_servers_socket(warehouse: PgTarget):
    role = f"r_nopw_{warehouse.dbname}"
    with psycopg.connect(warehouse.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    refusal = _refusal(replace(warehouse, user=role, password="").conninfo())
    assert refusal and "no password supplied" in refusal
