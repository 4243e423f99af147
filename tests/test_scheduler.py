"""The DAGs under Airflow's real scheduler, started by `shrinkwatch airflow up`
and watched through Airflow's REST API, as a user's tooling would: no
`airflow dags test`. A tiny demo plant on a real embedded PostgreSQL.

LocalExecutor: unpaused, the extract DAGs run on their own (the latest
15-minute tick), a second run of one extract triggered while the first runs
waits for it, the transform runs when the three raw Assets are updated, and
new data extracted while it runs waits for it (its hold on raw) and triggers
the next transform, created only once the first has ended. CeleryExecutor:
the same scheduler with two Celery workers and a Redis broker on 127.0.0.1
with a password; the tasks run on both workers. Each time raw holds every
source row once. Every process is stopped by pid by
`shrinkwatch airflow down`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import requests

from helpers.erp import insert as insert_rows
from helpers.plant import expected_raw_counts
from shrinkwatch import scheduler
from shrinkwatch.airflow.ids import EXTRACT_DAGS, TRANSFORM_DAG
from shrinkwatch.postgres import EmbeddedPostgres, PgTarget
from shrinkwatch.settings import BIN_DIR, Settings

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(1200)]

DEMO = {"SHRINKWATCH_DEMO_SCALE": "0.002", "SHRINKWATCH_DEMO_DAYS": "5", "SHRINKWATCH_DEMO_SEED": "7"}
# Short intervals where the test waits on Airflow; DAG files are parsed once
# (re-parsing every 30 s only costs CPU here)
FAST_AIRFLOW = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
}
RUN_TIMEOUT = 420  # seconds one DAG run may take on a busy 2-core machine
NEW_ERP_DOC = "4999999101"


class Airflow:
    """Airflow's REST API (v2) with a JWT from the simple auth manager."""

    def __init__(self, url: str, password_file: Path):
        self.url = url
        answer = requests.post(f"{url}/auth/token", json={"username": scheduler.UI_USER,
                                                          "password": scheduler.ui_password(password_file)})
        assert answer.status_code == 201, answer.text
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params) -> dict:
        answer = self.session.get(f"{self.url}/api/v2/{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def unpause(self, dag_id: str) -> None:
        answer = self.session.patch(f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30)
        answer.raise_for_status()

    def trigger(self, dag_id: str) -> str:
        answer = self.session.post(f"{self.url}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None},
                                   timeout=30)
        answer.raise_for_status()
        return answer.json()["dag_run_id"]

    def runs(self, dag_id: str = "~") -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns", order_by="id", limit=100)["dag_runs"]

    def task_instances(self, run: dict) -> list[dict]:
        return self.get(f"dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]


def _assert_every_source_row_loaded_once(warehouse: PgTarget, settings: Settings) -> None:
    """Every source row in raw once, every WMS file loaded once, no load lost or failed."""
    expected = expected_raw_counts(settings.demo_dir, settings.wms_landing_dir)
    assert _raw_counts(warehouse, expected) == expected
    assert _query(warehouse, "select file_name, count(*) from ops.load_ledger where status = 'loaded' "
                             "and file_name is not null group by 1 having count(*) > 1") == []
    assert _query(warehouse, "select count(*) from ops.load_conservation") == [(0,)]
    assert _query(warehouse, "select count(*) from ops.load_ledger where status = 'failed'") == [(0,)]


def _wait(condition, what: str, timeout: float = RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(2)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s")


def _finished(airflow: Airflow, dag_id: str, count: int) -> list[dict] | None:
    runs = airflow.runs(dag_id)
    done = [r for r in runs if r["state"] in ("success", "failed")]
    return runs if len(runs) >= count and len(done) == len(runs) else None


def _at(run: dict, field: str) -> datetime:
    return datetime.fromisoformat(run[field])


def _seconds(run: dict) -> float:
    return (_at(run, "end_date") - _at(run, "start_date")).total_seconds()


def _view(runs: list[dict]) -> list[tuple]:
    """The REST API's view of the runs, as the report quotes it."""
    return [(r["dag_id"], r["dag_run_id"], r["run_type"], r["state"], round(_seconds(r), 1)) for r in runs]


class Stack:
    """A SHRINKWATCH_HOME with a tiny demo plant, and `shrinkwatch airflow up` on it."""

    def __init__(self, executor: str):
        self.home = Path(tempfile.mkdtemp(prefix=f"sw-sched-{executor}-", dir="/tmp"))
        self.home.chmod(0o755)  # the embedded server's system user must reach its data directory
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("SHRINKWATCH_DATABASE_URL", "SHRINKWATCH_MES_BASE_URL", "SHRINKWATCH_DEMO_DIR")}
        self.env.update({"SHRINKWATCH_HOME": str(self.home), **DEMO, **FAST_AIRFLOW})
        self.port = scheduler.free_port()
        self.executor = executor

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN_DIR / "shrinkwatch"), *args], env=self.env, capture_output=True,
                              text=True, check=check, timeout=600)

    @property
    def settings(self) -> Settings:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            return Settings.from_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def up(self, *options: str) -> subprocess.CompletedProcess:
        self.command("plant", "generate")
        started = time.monotonic()
        done = self.command("airflow", "up", "--executor", self.executor, "--port", str(self.port), *options,
                            check=False)
        self.up_seconds = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def airflow(self) -> Airflow:
        return Airflow(f"http://127.0.0.1:{self.port}",
                       self.home / "airflow" / "simple_auth_manager_passwords.json.generated")

    def warehouse(self) -> PgTarget:
        return PgTarget(host=str(self.home / "pg"), password="embedded")

    def down(self) -> subprocess.CompletedProcess:
        done = self.command("airflow", "down", check=False)
        EmbeddedPostgres(self.home).stop()  # should `down` not have: never leave a server behind
        return done

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def _query(target: PgTarget, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(target.conninfo()) as conn:
        return conn.execute(sql, params).fetchall()


def _deliver_new_data(settings: Settings) -> None:
    """An ERP document posted just now, a copy of an existing issue."""
    erp = settings.demo_dir / "erp.sqlite"
    with sqlite3.connect(erp) as conn:
        cursor = conn.execute("select * from erp_material_doc where bwart = '261' order by cpudt desc limit 1")
        issue = dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))
    now = datetime.now(UTC)
    insert_rows(erp, "erp_material_doc", [issue | {
        "mblnr": NEW_ERP_DOC, "zeile": 1, "cpudt": now.date().isoformat(), "cputm": now.strftime("%H:%M:%S"),
        "budat": now.date().isoformat(),
    }])


def _raw_counts(warehouse: PgTarget, tables) -> dict[str, int]:
    return {table: _query(warehouse, f"select count(*) from raw.{table}")[0][0] for table in tables}


@pytest.fixture(scope="module")
def local_runs():
    stack = Stack("local")
    try:
        up = stack.up()
        airflow = stack.airflow()
        _wait(lambda: {d["dag_id"] for d in airflow.get("dags")["dags"]} >= {*EXTRACT_DAGS.values(), TRANSFORM_DAG},
              "the dag-processor to parse the DAG files", 180)
        airflow.unpause(TRANSFORM_DAG)
        for dag_id in EXTRACT_DAGS.values():
            airflow.unpause(dag_id)
        # a second run of one extract, triggered by hand while the scheduled one runs
        _wait(lambda: [r for r in airflow.runs(EXTRACT_DAGS["wms"]) if r["state"] == "running"],
              "the scheduled extract_wms run to start")
        manual_wms = airflow.trigger(EXTRACT_DAGS["wms"])
        while_first_ran = {r["dag_run_id"]: r["state"] for r in airflow.runs(EXTRACT_DAGS["wms"])}
        _wait(lambda: [r for r in airflow.runs(TRANSFORM_DAG) if r["state"] == "running"],
              "the asset-triggered transform to start")
        # a run is "running" before its first task is: the transform holds raw
        # once dbt_build_staging has taken its lease (shrinkwatch.locks)
        _wait(lambda: _query(stack.warehouse(), "select count(*) from ops.transform_leases "
                                                "where released_at is null") == [(1,)],
              "the transform to take its lease on raw")
        # new source data while the transform runs: the extracts load it, and
        # the transform run their Assets trigger waits for the running one
        settings = stack.settings
        _deliver_new_data(settings)
        for dag_id in EXTRACT_DAGS.values():
            airflow.trigger(dag_id)
        extracts = {dag_id: _wait(lambda d=dag_id: _finished(airflow, d, 3 if d == EXTRACT_DAGS["wms"] else 2),
                                  f"{dag_id}'s runs to finish") for dag_id in EXTRACT_DAGS.values()}
        raw_after_extracts = _query(stack.warehouse(), "select count(*) from raw.erp_material_doc where mblnr = %s",
                                    (NEW_ERP_DOC,))
        transforms = _wait(lambda: (runs := airflow.runs(TRANSFORM_DAG))[1:] and runs,
                           "a second, asset-triggered transform run")
        path = f"dags/{TRANSFORM_DAG}/dagRuns/{transforms[0]['dag_run_id']}"
        first = _wait(lambda: (run := airflow.get(path))["state"] in ("success", "failed") and run,
                      "the first transform run to finish")
        # the second one is not run here: a transform takes minutes on this machine
        yield {
            "stack": stack, "settings": settings, "up": up, "airflow": airflow, "manual_wms": manual_wms,
            "while_first_ran": while_first_ran, "first_transform": first, "second_transform": transforms[1],
            "extracts": extracts, "raw_after_extracts": raw_after_extracts,
            "task_instances": airflow.task_instances(first),
        }
    finally:
        stack.down()
        stack.remove()


def test_up_prints_where_the_ui_is_and_no_password(local_runs):
    stack: Stack = local_runs["stack"]
    output = local_runs["up"].stdout
    assert f"http://127.0.0.1:{stack.port}" in output
    password = scheduler.ui_password(stack.home / "airflow" / "simple_auth_manager_passwords.json.generated")
    assert password not in output + local_runs["up"].stderr
    for log in (stack.home / "airflow" / "services").glob("*.log"):
        assert password not in log.read_text(errors="replace"), log.name
    phases = [line.split(": ", 1)[-1] for line in local_runs["up"].stderr.splitlines()
              if "shrinkwatch.scheduler" in line]
    print(f"\nshrinkwatch airflow up (LocalExecutor) took {stack.up_seconds:.0f}s: {phases}")


def test_every_service_listens_on_loopback_only(local_runs):
    pids = scheduler.running_services(local_runs["stack"].settings)
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "mes"} <= set(pids)
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    ours = [line for line in listening.splitlines() if any(f"pid={pid}," in line for pid in pids.values())]
    assert ours, listening
    for line in ours:
        local_address = line.split()[3]
        assert local_address.startswith("127.0.0.1:"), line


def test_the_scheduler_ran_the_extracts_and_the_assets_triggered_the_transform(local_runs):
    runs = [r for runs in local_runs["extracts"].values() for r in runs] + [local_runs["first_transform"]]
    print("\nREST API view (dag_id, run_id, run_type, state, seconds):")
    for row in _view(sorted(runs, key=lambda r: _at(r, "start_date"))):
        print("  ", row)
    for dag_id, extract_runs in local_runs["extracts"].items():
        assert "scheduled" in {r["run_type"] for r in extract_runs}, dag_id
        assert all(r["state"] == "success" for r in extract_runs), _view(extract_runs)
    transform = local_runs["first_transform"]
    assert (transform["run_type"], transform["state"]) == ("asset_triggered", "success"), _view([transform])
    assert {ti["task_id"]: ti["state"] for ti in local_runs["task_instances"]} == {
        "dbt_build_staging": "success", "validate_staging": "success", "validate_staging_warnings": "success",
        "dbt_build_marts": "success", "validate_marts": "success", "publish_marts": "success", "report": "success",
    }
    for ti in sorted(local_runs["task_instances"], key=lambda ti: _at(ti, "start_date")):
        print("  ", (ti["task_id"], ti["state"], round(ti["duration"], 1)))
    warehouse = local_runs["stack"].warehouse()
    assert (transform["dag_run_id"], "published") in _query(warehouse, "select run_id, status from ops.publish_runs")


def test_a_second_run_of_an_extract_waits_for_the_first_and_duplicates_nothing(local_runs):
    manual, states = local_runs["manual_wms"], local_runs["while_first_ran"]
    assert states[manual] == "queued" and "running" in states.values(), states
    wms_runs = local_runs["extracts"][EXTRACT_DAGS["wms"]]
    by_id = {r["dag_run_id"]: r for r in wms_runs}
    first = next(r for r in wms_runs if r["run_type"] == "scheduled")
    assert _at(by_id[manual], "start_date") >= _at(first, "end_date")
    # outcomes: every source row in raw once, and every WMS file loaded once
    settings: Settings = local_runs["settings"]
    warehouse = local_runs["stack"].warehouse()
    _assert_every_source_row_loaded_once(warehouse, settings)


def test_new_data_arriving_while_a_transform_runs_waits_for_it_and_goes_to_the_next_transform(local_runs):
    first, second = local_runs["first_transform"], local_runs["second_transform"]
    # the extracts triggered meanwhile ran, but their loads waited for the
    # transform's hold on raw (shrinkwatch.locks): the new document was not
    # among the rows that run's staging checkpoint validated
    assert local_runs["raw_after_extracts"] == [(1,)]
    loaded_at = _query(local_runs["stack"].warehouse(), "select max(finished_at) from ops.load_ledger "
                       "where table_name = 'erp_material_doc' and rows_inserted > 0")[0][0]
    assert loaded_at >= _at(first, "end_date") - timedelta(seconds=5), (loaded_at, _view([first]))
    # the Assets those loads updated trigger the next transform, created once
    # the first has ended (one transform run at a time)
    assert second["run_type"] == "asset_triggered"
    assert _at(second, "queued_at") >= _at(first, "end_date")


def test_down_stops_every_process_it_started(local_runs):
    stack: Stack = local_runs["stack"]
    pids = scheduler.running_services(stack.settings)
    done = stack.command("airflow", "down")
    assert "stopped:" in done.stdout
    assert scheduler.running_services(stack.settings) == {}
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert EmbeddedPostgres(stack.home).pid() is None  # `up` started it, so `down` stopped it


# --- CeleryExecutor: two workers, a Redis broker with a password ------------------


@pytest.fixture(scope="module")
def celery_runs():
    stack = Stack("celery")
    try:
        up = stack.up("--workers", "2", "--concurrency", "1")
        airflow = stack.airflow()
        _wait(lambda: {d["dag_id"] for d in airflow.get("dags")["dags"]} >= set(EXTRACT_DAGS.values()),
              "the dag-processor to parse the DAG files", 180)
        for dag_id in EXTRACT_DAGS.values():
            airflow.unpause(dag_id)
        for dag_id in EXTRACT_DAGS.values():
            _wait(lambda d=dag_id: _finished(airflow, d, 1), f"{dag_id}'s scheduled run")
        # a second round, with nothing new to load
        for dag_id in EXTRACT_DAGS.values():
            airflow.trigger(dag_id)
        extracts = {dag_id: _wait(lambda d=dag_id: _finished(airflow, d, 2), f"{dag_id}'s runs to finish")
                    for dag_id in EXTRACT_DAGS.values()}
        yield {
            "stack": stack, "up": up, "airflow": airflow, "extracts": extracts,
            "task_instances": [ti for runs in extracts.values() for run in runs for ti in airflow.task_instances(run)],
        }
    finally:
        stack.down()
        stack.remove()


def test_celery_tasks_ran_on_both_workers(celery_runs):
    instances = celery_runs["task_instances"]
    print(f"\nshrinkwatch airflow up --executor celery took {celery_runs['stack'].up_seconds:.0f}s")
    print("task instances (dag_id, run_id, task_id, state, hostname):")
    for ti in sorted(instances, key=lambda ti: _at(ti, "start_date")):
        print("  ", (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["state"], ti["hostname"]))
    print("runs (dag_id, run_id, run_type, state, seconds):")
    for row in _view(sorted((r for runs in celery_runs["extracts"].values() for r in runs),
                            key=lambda r: _at(r, "start_date"))):
        print("  ", row)
    assert all(ti["state"] == "success" for ti in instances)
    assert {ti["hostname"].split("@")[0] for ti in instances} == {"worker-1", "worker-2"}


def test_celery_loses_and_duplicates_nothing(celery_runs):
    stack: Stack = celery_runs["stack"]
    settings = stack.settings
    warehouse = stack.warehouse()
    _assert_every_source_row_loaded_once(warehouse, settings)


def test_extract_runs_with_nothing_new_take_well_under_a_minute(celery_runs):
    """Measured where no transform runs: one that holds raw makes a load wait
    for its report (the LocalExecutor scenario above shows that)."""
    # every run after the first (the manual round, and a 15-minute tick that may have come)
    later = [run for runs in celery_runs["extracts"].values() for run in runs[1:]]
    print("\nextract runs with nothing new: " + ", ".join(f"{r['dag_id']} {_seconds(r):.1f}s" for r in later))
    assert len(later) >= 3 and all(_seconds(run) < 60 for run in later)


def test_the_broker_listens_on_loopback_and_asks_for_its_password(celery_runs):
    import redis

    stack: Stack = celery_runs["stack"]
    pid = scheduler.running_services(stack.settings)["redis"]
    listening = [line for line in subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True,
                                                 check=True).stdout.splitlines() if f"pid={pid}," in line]
    assert listening and all(line.split()[3].startswith("127.0.0.1:") for line in listening), listening
    port = int(listening[0].split()[3].rsplit(":", 1)[1])
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()
    # its password is on no command line
    for service_pid in scheduler.running_services(stack.settings).values():
        cmdline = Path(f"/proc/{service_pid}/cmdline").read_bytes()
        assert b"redis://:" not in cmdline and b"requirepass" not in cmdline
