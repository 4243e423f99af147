"""Configuration stays true: docker-compose.yml runs the same code with the
settings the code reads, and the README documents every setting."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from shrinkwatch import scheduler, settings
from shrinkwatch.postgres import PgTarget
from shrinkwatch.runtime import Runtime
from shrinkwatch.settings import ENV_VARS, PROJECT_ROOT, TASK_SETTINGS, Settings

AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery",
}
REQUIRED_FOR_COMPOSE = {
    "POSTGRES_PASSWORD": "pw",
    "REDIS_PASSWORD": "redis-pw",
    "AIRFLOW_JWT_SECRET": "secret",
    "SHRINKWATCH_ERP_URL": "mssql+pyodbc://erp",
    "SHRINKWATCH_MES_BASE_URL": "https://mes.example/base",
    "SHRINKWATCH_MES_TOKEN": "token",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    """The compose file as docker-compose itself resolves it (anchors,
    merges and ${VAR} interpolation), validated by `docker-compose config`."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is installed by `make test` (Debian package docker-compose)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHRINKWATCH_", "AIRFLOW"))}
    done = subprocess.run(
        [binary, "-f", str(PROJECT_ROOT / "docker-compose.yml"), "config"],
        env={**env, **REQUIRED_FOR_COMPOSE}, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_runs_every_airflow_component_with_celery_and_redis(compose):
    services = compose["services"]
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_COMPONENTS} <= set(services)
    for name, command in AIRFLOW_COMPONENTS.items():
        service = services[name]
        assert command in service["command"], name
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")


def test_compose_and_shrinkwatch_airflow_up_use_the_same_airflow_settings(compose):
    """What `shrinkwatch airflow up --executor celery` builds (shrinkwatch.scheduler
    and the runtime) from compose's hosts and passwords is what compose says."""
    metadata = PgTarget(host="postgres", user="shrinkwatch", password=REQUIRED_FOR_COMPOSE["POSTGRES_PASSWORD"],
                        dbname="airflow")
    runtime_env = Runtime(Settings.from_env()).airflow_env(metadata, "http://unused", api_port=8080)
    expected = {
        **scheduler.celery_env(
            scheduler.redis_broker_url("redis", 6379, REQUIRED_FOR_COMPOSE["REDIS_PASSWORD"]),
            runtime_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        ),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": runtime_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": scheduler.execution_api_url("airflow-apiserver", 8080),
    }
    for name in AIRFLOW_COMPONENTS:
        environment = compose["services"][name]["environment"]
        assert {key: environment.get(key) for key in expected} == expected, name
    assert "--port" in compose["services"]["airflow-apiserver"]["command"]
    # the broker asks for that password, handed to it on stdin, not its command line
    redis = compose["services"]["redis"]
    assert redis["environment"]["REDIS_PASSWORD"] == REQUIRED_FOR_COMPOSE["REDIS_PASSWORD"]
    assert "requirepass" in " ".join(redis["command"]) and "redis-server -" in " ".join(redis["command"])
    assert "REDIS_PASSWORD" not in " ".join(redis["command"]).split("|")[1]


def test_compose_gives_the_tasks_every_setting_and_connection_the_code_reads(compose):
    for name in AIRFLOW_COMPONENTS:
        environment = compose["services"][name]["environment"]
        for setting in TASK_SETTINGS:
            assert setting in environment, f"{name} lacks {setting}"
        connections = {
            conn_id: json.loads(environment["AIRFLOW_CONN_" + conn_id.upper()])
            for conn_id in (settings.WAREHOUSE_CONN_ID, settings.ERP_CONN_ID,
                            settings.WMS_CONN_ID, settings.MES_CONN_ID)
        }
        warehouse = connections[settings.WAREHOUSE_CONN_ID]
        assert warehouse["conn_type"] == "postgres" and warehouse["host"] == "postgres"
        assert warehouse["schema"] == "shrinkwatch" and warehouse["password"] == "pw"
        erp = connections[settings.ERP_CONN_ID]
        assert erp["extra"]["sqlalchemy_url"] == REQUIRED_FOR_COMPOSE["SHRINKWATCH_ERP_URL"]
        assert connections[settings.WMS_CONN_ID]["extra"]["path"]
        mes = connections[settings.MES_CONN_ID]
        assert (mes["host"], mes["password"]) == ("https://mes.example/base", "token")


def test_the_image_carries_the_dags_the_dbt_project_and_the_gx_context():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for folder in ("dags", "plugins", "dbt_project", "expectations", "src"):
        assert re.search(rf"^COPY {folder} ", dockerfile, re.M), folder
    assert "uv sync --frozen" in dockerfile
    assert "dbt parse" in dockerfile


def test_the_readme_documents_every_setting():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [name for name in ENV_VARS if f"`{name}`" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_the_readme_architecture_table_matches_the_tree():
    readme = (PROJECT_ROOT / "README.md").read_text()
    architecture = readme.split("## Architecture", 1)[1].split("\n### ", 1)[0]
    named = set(re.findall(r"^\| `(src/shrinkwatch/[^`]*)`", architecture, re.M))
    package = PROJECT_ROOT / "src" / "shrinkwatch"
    tree = {"src/shrinkwatch/"} | {
        f"src/shrinkwatch/{p.name}/" if p.is_dir() else f"src/shrinkwatch/{p.name}"
        for p in package.iterdir()
        if p.name != "__init__.py" and not p.name.startswith((".", "__pycache__"))
    }
    assert named == tree


# Secrets the settings below carry: none may appear in any output.
SECRETS = {
    "SHRINKWATCH_MES_TOKEN": "mes-token-9f3b1e",
    "SHRINKWATCH_PG_PASSWORD": "pg-pw-5e6f0a",
    "SHRINKWATCH_DATABASE_URL": "postgresql://warehouse:db-pw-7c1d2b@db.example:5432/shrinkwatch",
    "SHRINKWATCH_ERP_URL": "mssql+pyodbc://erp:erp%40pw-2a8e3c@erp.example/erp",
}
SECRET_VALUES = ("mes-token-9f3b1e", "pg-pw-5e6f0a", "db-pw-7c1d2b", "erp%40pw-2a8e3c", "erp@pw-2a8e3c")


def test_settings_shows_that_a_secret_is_set_never_its_value():
    done = subprocess.run([str(settings.BIN_DIR / "shrinkwatch"), "settings"], env={**os.environ, **SECRETS},
                          capture_output=True, text=True, check=True)
    output = done.stdout + done.stderr
    assert not [secret for secret in SECRET_VALUES if secret in output]
    assert "SHRINKWATCH_MES_TOKEN=(set, hidden)" in output
    assert "postgresql://warehouse:***@db.example:5432/shrinkwatch" in output
    assert "mssql+pyodbc://erp:***@erp.example/erp" in output


def test_log_lines_and_the_run_report_mask_secrets(monkeypatch, tmp_path):
    import logging

    from shrinkwatch import report

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    formatter = settings.MaskingFormatter("%(message)s")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "token %s, url %s", (
        SECRETS["SHRINKWATCH_MES_TOKEN"], "postgresql://u:any-other-pw@h/db"), None)
    logged = formatter.format(record)
    assert logged == "token ***, url postgresql://u:***@h/db"
    reason = f"could not reach {SECRETS['SHRINKWATCH_ERP_URL']} with {SECRETS['SHRINKWATCH_MES_TOKEN']}"
    summary = {"ledger": [], "relations": {}, "unconserved_loads": 0,
               "open_quarantine": {"critical": 0, "warning": 0},
               "publish": {"run_id": "r1", "status": "blocked", "reason": reason}}
    text = report.format_text(summary)
    written = report.write(summary, tmp_path / "run_summary.json").read_text()
    for output in (text, written):
        assert not [secret for secret in SECRET_VALUES if secret in output], output
        assert "mssql+pyodbc://erp:***@erp.example/erp" in output
