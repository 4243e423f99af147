"""Every setting shrinkwatch reads, in one place: environment variables only;
and the fixed names every layer shares (where the project's parts are, the
Airflow connection ids, the Asset URIs), so that none has to import them from
a layer above it.

`ENV_VARS` documents the settings; the README table and the docker-compose
test are checked against it, so a setting that is read but undocumented fails
the tests.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT_ROOT / "dags"
PLUGINS_FOLDER = PROJECT_ROOT / "plugins"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
# the venv's commands (airflow, dbt) beside the interpreter that runs shrinkwatch
BIN_DIR = Path(sys.executable).parent

# The Airflow connections a deployment points shrinkwatch at its systems with;
# the local runtime sets them from the settings below.
WAREHOUSE_CONN_ID = "shrinkwatch_warehouse"
ERP_CONN_ID = "shrinkwatch_erp"
WMS_CONN_ID = "shrinkwatch_wms"
MES_CONN_ID = "shrinkwatch_mes"

# Asset URIs: each extract DAG updates its system's raw asset; the transform DAG
# runs when all three have been updated, and its publish updates the marts asset.
RAW_ASSET_URIS = {
    "erp": "shrinkwatch://warehouse/raw/erp",
    "wms": "shrinkwatch://warehouse/raw/wms",
    "mes": "shrinkwatch://warehouse/raw/mes",
}
MARTS_ASSET_URI = "shrinkwatch://warehouse/marts"

# name -> (default, meaning). Defaults in <angle brackets> are derived.
ENV_VARS: dict[str, tuple[str, str]] = {
    "SHRINKWATCH_HOME": (
        "<project>/.shrinkwatch",
        "Working directory: embedded PostgreSQL data, Airflow home, demo plant, reports.",
    ),
    "SHRINKWATCH_DATABASE_URL": (
        "",
        "External PostgreSQL for the warehouse (postgresql://user:pw@host:port/db). "
        "Unset: the embedded server in $SHRINKWATCH_HOME/pg. Its server also holds the "
        "Airflow metadata database (`airflow`) unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set.",
    ),
    "SHRINKWATCH_ERP_URL": (
        "sqlite:///<demo>/erp.sqlite",
        "SQLAlchemy URL of the ERP database (any dialect).",
    ),
    "SHRINKWATCH_WMS_LANDING_DIR": ("<demo>/wms_landing", "Directory the WMS drops its CSV exports in."),
    "SHRINKWATCH_MES_BASE_URL": (
        "<the demo MES server>",
        "Base URL of the MES API; unset, the demo command serves the demo plant's MES on 127.0.0.1.",
    ),
    "SHRINKWATCH_MES_TOKEN": ("demo-token", "Bearer token for the MES API."),
    "SHRINKWATCH_LOCATION_MAP": (
        "<demo>/location_map.csv",
        "The plant's location map (CSV), loaded into raw.location_map by the WMS extract when it changes.",
    ),
    "SHRINKWATCH_DEMO_DIR": ("$SHRINKWATCH_HOME/demo", "Where the demo plant is generated."),
    "SHRINKWATCH_DEMO_SEED": ("42", "Seed of the demo plant; the same seed gives the same plant."),
    "SHRINKWATCH_DEMO_SCALE": (
        "0.04",
        "Size of the demo plant: 1 = about 1M ERP document lines, 1M WMS tasks, 1M MES events.",
    ),
    "SHRINKWATCH_DEMO_DAYS": ("90", "Days of history in the demo plant."),
    "SHRINKWATCH_DEMO_PLANTS": ("2", "Plants in the demo plant."),
    "SHRINKWATCH_ERP_LOOKBACK_HOURS": (
        "48",
        "ERP documents entered up to this long before the last watermark are re-read, "
        "so late-committed documents are not missed (re-reads are idempotent).",
    ),
    "SHRINKWATCH_ERP_RECONCILE_DAYS": (
        "90",
        "Entry days (before the lookback) on which the ERP's document count is compared with raw and "
        "quarantine at every run; a day the ERP holds more documents of is read again, so a document "
        "committed later than the lookback still arrives. 0 turns the comparison off.",
    ),
    "SHRINKWATCH_MES_LOOKBACK_HOURS": (
        "24",
        "MES items updated up to this long before the last watermark are re-read, "
        "so items committed late by a lagging node are not missed (re-reads are idempotent).",
    ),
    "SHRINKWATCH_MES_PAGE_SIZE": ("1000", "`limit` asked of the MES API per page."),
    "SHRINKWATCH_MES_MAX_RETRIES": ("8", "Retries of one MES request on 429 or 5xx before the load fails."),
    "SHRINKWATCH_WMS_ENCODINGS": (
        "utf-8-sig,gb18030",
        "Encodings tried, in order, for each WMS file (UTF-8 with or without BOM, then GB18030).",
    ),
    "SHRINKWATCH_CHUNK_ROWS": ("50000", "Rows buffered per COPY chunk: bounds extraction memory."),
    "SHRINKWATCH_CLOCK_SKEW_MINUTES": (
        "15",
        "Clock skew allowed between a source and shrinkwatch: an event dated later than the load "
        "time plus this is quarantined as a future posting (rule `not_future:<column>`).",
    ),
    "SHRINKWATCH_EXTRACT_SCHEDULE": (
        "*/15 * * * *",
        "When the scheduler runs the extract DAGs: a cron expression or an Airflow preset (`@hourly`). "
        "Read by the DAG files; the transform DAG runs on the extracts' Assets.",
    ),
    "SHRINKWATCH_DBT_THREADS": (
        "4",
        "Models and tests dbt builds at once on the warehouse (the transform's dbt tasks and the dbt CLI): "
        "while one waits on PostgreSQL another runs. Read by the DAG files and dbt_project/profiles.yml.",
    ),
    "SHRINKWATCH_GX_RESULTS_KEEP_DAYS": (
        "3",
        "Days Great Expectations keeps its stored validation results and their Data Docs pages "
        "($SHRINKWATCH_HOME/gx); older ones are removed after each checkpoint run, so the store "
        "and the Data Docs stay bounded at any cadence. Every result also stays in ops.dq_results.",
    ),
    "SHRINKWATCH_WORKER_NAME": (
        "",
        "Set by `shrinkwatch airflow up --executor celery` for each Celery worker it starts: the name "
        "its tasks report as their hostname. Unset: the machine's host name.",
    ),
    "SHRINKWATCH_LOCK_TIMEOUT_SECONDS": (
        "900",
        "How long a load or a transform waits for another run (a load of the same raw table, a transform "
        "holding raw, loads still writing raw) before it gives up with an error naming it; it writes nothing.",
    ),
    "SHRINKWATCH_TRANSFORM_LEASE_MINUTES": (
        "60",
        "How long a transform run's hold on raw lasts after its last task started; one that dies without "
        "its report frees raw after this. Longer than the longest transform task.",
    ),
    # Read by dbt_project/profiles.yml (the dbt CLI outside Airflow; inside
    # Airflow, Cosmos builds the profile from the shrinkwatch_warehouse
    # connection). `shrinkwatch` sets them from the warehouse it uses.
    "SHRINKWATCH_PG_HOST": ("<warehouse>", "dbt CLI profile: host or unix-socket directory."),
    "SHRINKWATCH_PG_PORT": ("5432", "dbt CLI profile: port."),
    "SHRINKWATCH_PG_USER": ("postgres", "dbt CLI profile: user."),
    "SHRINKWATCH_PG_PASSWORD": ("", "dbt CLI profile: password."),
    "SHRINKWATCH_PG_DATABASE": ("shrinkwatch", "dbt CLI profile: database."),
    "SHRINKWATCH_GX_DSN": (
        "<warehouse>",
        "Set by shrinkwatch at run time from the warehouse connection; the committed GX context "
        "reads its connection string from it.",
    ),
    "SHRINKWATCH_GX_RESULTS_DIR": (
        "$SHRINKWATCH_HOME/gx",
        "Set by shrinkwatch at run time: the committed GX context stores its validation results "
        "(validations/) and Data Docs (data_docs/local_site/index.html) there, one directory per home.",
    ),
}

# The settings Airflow's DAG files and tasks read (every deployment's
# dag-processor and workers need them); the rest serve the local runtime,
# which turns them into Airflow connections.
TASK_SETTINGS = (
    "SHRINKWATCH_HOME",
    "SHRINKWATCH_EXTRACT_SCHEDULE",
    "SHRINKWATCH_DBT_THREADS",
    "SHRINKWATCH_GX_RESULTS_KEEP_DAYS",
    "SHRINKWATCH_ERP_LOOKBACK_HOURS",
    "SHRINKWATCH_ERP_RECONCILE_DAYS",
    "SHRINKWATCH_MES_LOOKBACK_HOURS",
    "SHRINKWATCH_MES_PAGE_SIZE",
    "SHRINKWATCH_MES_MAX_RETRIES",
    "SHRINKWATCH_WMS_ENCODINGS",
    "SHRINKWATCH_CHUNK_ROWS",
    "SHRINKWATCH_CLOCK_SKEW_MINUTES",
    "SHRINKWATCH_LOCATION_MAP",
    "SHRINKWATCH_LOCK_TIMEOUT_SECONDS",
    "SHRINKWATCH_TRANSFORM_LEASE_MINUTES",
)


def env(name: str) -> str | None:
    if name not in ENV_VARS:
        raise KeyError(f"{name} is not a documented shrinkwatch setting")
    value = os.environ.get(name, "").strip()
    return value or None


DEFAULT_EXTRACT_SCHEDULE = ENV_VARS["SHRINKWATCH_EXTRACT_SCHEDULE"][0]


def extract_schedule() -> str:
    """The extract DAGs' schedule (read when the DAG files are parsed)."""
    return env("SHRINKWATCH_EXTRACT_SCHEDULE") or DEFAULT_EXTRACT_SCHEDULE


def dbt_threads() -> int:
    """dbt's threads in the transform (read when the DAG files are parsed)."""
    return int(env("SHRINKWATCH_DBT_THREADS") or ENV_VARS["SHRINKWATCH_DBT_THREADS"][0])


def gx_results_keep_days() -> float:
    """How long GX's stored validation results are kept (read by the checkpoint tasks)."""
    return float(env("SHRINKWATCH_GX_RESULTS_KEEP_DAYS") or ENV_VARS["SHRINKWATCH_GX_RESULTS_KEEP_DAYS"][0])


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None
    demo_dir: Path
    erp_url: str
    wms_landing_dir: Path
    mes_base_url: str | None
    mes_token: str
    location_map: Path
    demo_seed: int
    demo_scale: float
    demo_days: int
    demo_plants: int
    erp_lookback_hours: float
    erp_reconcile_days: int
    mes_lookback_hours: float
    mes_page_size: int
    mes_max_retries: int
    wms_encodings: tuple[str, ...]
    chunk_rows: int
    clock_skew_minutes: float
    lock_timeout_seconds: float
    transform_lease_minutes: float

    @property
    def clock_skew(self) -> timedelta:
        return timedelta(minutes=self.clock_skew_minutes)

    @property
    def lock_timeout(self) -> timedelta:
        return timedelta(seconds=self.lock_timeout_seconds)

    @property
    def transform_lease(self) -> timedelta:
        return timedelta(minutes=self.transform_lease_minutes)

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(env("SHRINKWATCH_HOME") or PROJECT_ROOT / ".shrinkwatch").resolve()
        demo_dir = Path(env("SHRINKWATCH_DEMO_DIR") or home / "demo").resolve()
        return cls(
            home=home,
            database_url=env("SHRINKWATCH_DATABASE_URL"),
            demo_dir=demo_dir,
            erp_url=env("SHRINKWATCH_ERP_URL") or f"sqlite:///{demo_dir / 'erp.sqlite'}",
            wms_landing_dir=Path(env("SHRINKWATCH_WMS_LANDING_DIR") or demo_dir / "wms_landing"),
            mes_base_url=env("SHRINKWATCH_MES_BASE_URL"),
            mes_token=env("SHRINKWATCH_MES_TOKEN") or "demo-token",
            location_map=Path(env("SHRINKWATCH_LOCATION_MAP") or demo_dir / "location_map.csv").resolve(),
            demo_seed=int(env("SHRINKWATCH_DEMO_SEED") or 42),
            demo_scale=float(env("SHRINKWATCH_DEMO_SCALE") or 0.04),
            demo_days=int(env("SHRINKWATCH_DEMO_DAYS") or 90),
            demo_plants=int(env("SHRINKWATCH_DEMO_PLANTS") or 2),
            erp_lookback_hours=float(env("SHRINKWATCH_ERP_LOOKBACK_HOURS") or 48),
            erp_reconcile_days=int(env("SHRINKWATCH_ERP_RECONCILE_DAYS") or 90),
            mes_lookback_hours=float(env("SHRINKWATCH_MES_LOOKBACK_HOURS") or 24),
            mes_page_size=int(env("SHRINKWATCH_MES_PAGE_SIZE") or 1000),
            mes_max_retries=int(env("SHRINKWATCH_MES_MAX_RETRIES") or 8),
            wms_encodings=tuple(
                e.strip() for e in (env("SHRINKWATCH_WMS_ENCODINGS") or "utf-8-sig,gb18030").split(",")
            ),
            chunk_rows=int(env("SHRINKWATCH_CHUNK_ROWS") or 50000),
            clock_skew_minutes=float(env("SHRINKWATCH_CLOCK_SKEW_MINUTES") or 15),
            lock_timeout_seconds=float(env("SHRINKWATCH_LOCK_TIMEOUT_SECONDS") or 900),
            transform_lease_minutes=float(env("SHRINKWATCH_TRANSFORM_LEASE_MINUTES") or 60),
        )


# --- Secrets: what no output of shrinkwatch may show -------------------------
# Settings whose whole value is a secret; the URL-valued ones may carry a
# password in their userinfo (postgresql://user:pw@host/db).
SECRET_SETTINGS = ("SHRINKWATCH_MES_TOKEN", "SHRINKWATCH_PG_PASSWORD")
URL_SETTINGS = (
    "SHRINKWATCH_DATABASE_URL",
    "SHRINKWATCH_ERP_URL",
    "SHRINKWATCH_MES_BASE_URL",
    "SHRINKWATCH_GX_DSN",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
)
MASK = "***"

# The shapes a credential takes in text: URL userinfo, a libpq `password=`
# field, a JSON "password" (an AIRFLOW_CONN_* value). Masking too much is
# harmless; so the URL password runs to the last `@` before any blank.
_CREDENTIAL_PATTERNS = (
    re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^@\s]+(?=@)"),
    re.compile(r"(?P<keep>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s']+)", re.IGNORECASE),
    re.compile(r'(?P<keep>"(?:password|token)"\s*:\s*")(?:[^"\\]|\\.)*(?=")', re.IGNORECASE),
)


def _known_secrets() -> set[str]:
    """The secret values configured right now, as plain text and as a URL carries them."""
    from urllib.parse import unquote, urlsplit

    values = {os.environ.get(name, "").strip() for name in SECRET_SETTINGS}
    for name in URL_SETTINGS:
        try:
            password = urlsplit(os.environ.get(name, "").strip()).password
        except ValueError:
            continue
        if password:
            values |= {password, unquote(password)}
    # a two-letter secret would mask every word containing it; its URL or
    # field form is still caught by the patterns
    return {v for v in values if len(v) >= 4}


def mask_secrets(text: str) -> str:
    """`text` with every credential replaced by `***`: the one helper every
    output of shrinkwatch goes through (settings, `db start`, logs, the run
    report, error messages)."""
    text = str(text)
    for secret in sorted(_known_secrets(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in _CREDENTIAL_PATTERNS:
        text = pattern.sub(lambda m: m.group("keep") + MASK, text)
    return text


def display_setting(name: str, value: str) -> str:
    """How `shrinkwatch settings` shows a value: a secret only as set or not."""
    if name in SECRET_SETTINGS:
        return "(set, hidden)" if value.strip() else ""
    return mask_secrets(value)


class MaskingFormatter(logging.Formatter):
    """Log lines (tracebacks included) with their credentials masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))
