"""The main job on a plant shrinkwatch was not built against: reference plant
`clean-a` of `../shared/plants` (built from the same contract by a generator
that shares no code or convention with the demo simulator, and clean: nothing
was lost in it, so every case it raises is a false positive) through the real
DAGs, as a user runs it: `shrinkwatch run` on configured sources (its ERP
SQLite, its WMS landing directory, its MES served by the plant's own
`serve_mes.py` on 127.0.0.1, its location map), nothing generated, nothing
dropped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import requests

from shrinkwatch.main_job import run_main_job
from shrinkwatch.postgres import EmbeddedPostgres, PgTarget
from shrinkwatch.settings import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(1800)]

PLANTS = PROJECT_ROOT.parent / "shared" / "plants"
PLANT = "clean-a"
TOKEN = "plant-token"
# the README of ../shared/plants: "at most 3 cases on clean-a"
MAX_CASES = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the plant's MES server did not answer on {url}")


@pytest.fixture(scope="module")
def plant_run():
    archive = PLANTS / f"{PLANT}.tar.xz"
    if not archive.exists():
        pytest.skip(f"{archive} not found: the reference plants sit beside the project in ../shared")
    work = Path(tempfile.mkdtemp(prefix="sw-ref-", dir="/tmp"))
    work.chmod(0o755)
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    plant = work / PLANT
    port = _free_port()
    pid_file = work / "mes.pid"
    server = subprocess.Popen(
        [sys.executable, str(PLANTS / "serve_mes.py"), "--data", str(plant / "mes"), "--port", str(port),
         "--host", "127.0.0.1", "--token", TOKEN, "--fail-rate", "0.05", "--pid-file", str(pid_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    saved = dict(os.environ)
    home = work / "home"
    os.environ.update({
        "SHRINKWATCH_HOME": str(home),
        "SHRINKWATCH_ERP_URL": f"sqlite:///{plant / 'erp.sqlite'}",
        "SHRINKWATCH_WMS_LANDING_DIR": str(plant / "wms"),
        "SHRINKWATCH_MES_BASE_URL": f"http://127.0.0.1:{port}",
        "SHRINKWATCH_MES_TOKEN": TOKEN,
        "SHRINKWATCH_LOCATION_MAP": str(plant / "location_map.csv"),
    })
    for name in ("SHRINKWATCH_DATABASE_URL", "SHRINKWATCH_DEMO_DIR"):
        os.environ.pop(name, None)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}")
        settings = Settings.from_env()
        run = run_main_job(settings, demo=False, keep_warehouse=True)
        yield {"run": run, "settings": settings, "warehouse": PgTarget(host=str(home / "pg"), password="embedded")}
    finally:
        EmbeddedPostgres(home).stop()
        pid = int(pid_file.read_text()) if pid_file.exists() else server.pid
        os.kill(pid, signal.SIGTERM)
        server.wait(timeout=10)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)


def _query(target: PgTarget, sql: str) -> list[tuple]:
    with psycopg.connect(target.conninfo()) as conn:
        return conn.execute(sql).fetchall()


def test_the_main_job_on_configured_sources_publishes(plant_run):
    assert plant_run["run"].failed_dags == []
    assert [status for (status,) in _query(plant_run["warehouse"], "select status from ops.publish_runs")] == [
        "published"
    ]
    # configured sources: no demo plant generated beside them
    assert not (plant_run["settings"].home / "demo").exists()
    assert _query(plant_run["warehouse"], "select count(*) from ops.load_conservation") == [(0,)]


def test_a_clean_foreign_plant_raises_at_most_a_handful_of_cases(plant_run):
    cases = _query(
        plant_run["warehouse"],
        "select case_type, evidence ->> 'rule', material, value_at_risk from marts.fct_case order by 1, 2",
    )
    print("cases on", PLANT, cases)
    assert len(cases) <= MAX_CASES, cases


def test_every_movement_of_the_foreign_plant_is_attached(plant_run):
    unattached = _query(
        plant_run["warehouse"],
        "select source_table, attachment, reason, movement_count from marts.fct_unattached_movements",
    )
    assert unattached == [], unattached
    summary = plant_run["run"].summary
    assert summary["unattached_movements"] == []
    assert {row["case_type"] for row in summary["cases_by_type"]} <= {
        "stock_discrepancy", "excess_issue", "unreturned_remnant", "phantom_scrap", "unverified_return",
        "batch_mismatch", "posting_time_anomaly", "duplicate_posting", "sod_violation", "outsourcing_leakage",
        "data_quality",
    }
