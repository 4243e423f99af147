"""The DAGs under Airflow's real scheduler, started by `shrinkwatch airflow up`
and watched through Airflow's REST API, as a user's tooling would: no
`airflow dags test`. A tiny demo plant on a real embedded PostgreSQL, one
stack start per executor on the same plant and warehouse.

CeleryExecutor first (the transform paused): two Celery workers and a Redis
broker on 127.0.0.1 with a password; the scheduler runs the extract DAGs on
their latest 15-minute tick, a second round with nothing new follows, the
tasks run on both workers, and `down` stops every process by pid. Then the
LocalExecutor, the transform unpaused, once a late WMS export has arrived:
a second run of extract_wms triggered with the first waits for it, the
transform runs when the three raw Assets are updated, and new data extracted
while it runs waits for it (its hold on raw) and triggers the next
transform, created only once the first has ended. Each time raw holds every
source row once.
"""

from __future__ import annotations

import json
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


def _every_source_row_loaded_once(warehouse: PgTarget, settings: Settings,
                                  held_back: frozenset[str] = frozenset()) -> list:
    """What is wrong with "every source row in raw once, every WMS file loaded
    once, no load lost or failed": nothing when the list is empty."""
    expected = expected_raw_counts(settings.demo_dir, settings.wms_landing_dir, held_back)
    problems = [("raw rows", table, loaded, expected[table])
                for table, loaded in _raw_counts(warehouse, expected).items() if loaded != expected[table]]
    problems += [("file loaded twice", *row) for row in _query(
        warehouse, "select file_name, count(*) from ops.load_ledger where status = 'loaded' "
                   "and file_name is not null group by 1 having count(*) > 1")]
    problems += [("unconserved load", *row) for row in _query(warehouse, "select * from ops.load_conservation")]
    problems += [("failed load", *row) for row in _query(
        warehouse, "select load_id, table_name, message from ops.load_ledger where status = 'failed'")]
    return problems


def _wait(condition, what: str, timeout: float = RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(2)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s")


def _finished(airflow: Airflow, dag_id: str, count: int, since: datetime | None = None) -> list[dict] | None:
    """The DAG's runs (queued since `since`) once there are `count` and all have ended."""
    runs = [r for r in airflow.runs(dag_id) if since is None or _at(r, "queued_at") >= since]
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

    def __init__(self):
        self.home = Path(tempfile.mkdtemp(prefix="sw-sched-", dir="/tmp"))
        self.home.chmod(0o755)  # the embedded server's system user must reach its data directory
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("SHRINKWATCH_DATABASE_URL", "SHRINKWATCH_MES_BASE_URL", "SHRINKWATCH_DEMO_DIR")}
        self.env.update({"SHRINKWATCH_HOME": str(self.home), **DEMO, **FAST_AIRFLOW})
        self.port = scheduler.free_port()
        self.up_seconds: dict[str, float] = {}

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

    def up(self, executor: str, *options: str) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = self.command("airflow", "up", "--executor", executor, "--port", str(self.port), *options,
                            check=False)
        self.up_seconds[executor] = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    @property
    def password_file(self) -> Path:
        return self.home / "airflow" / "simple_auth_manager_passwords.json.generated"

    def airflow(self) -> Airflow:
        return Airflow(f"http://127.0.0.1:{self.port}", self.password_file)

    def warehouse(self) -> PgTarget:
        return PgTarget(host=str(self.home / "pg"), password="embedded")

    def down(self) -> dict:
        """`shrinkwatch airflow down`, and what it left running."""
        pids = scheduler.running_services(self.settings)
        done = self.command("airflow", "down", check=False)
        warehouse_pid_after = EmbeddedPostgres(self.home).pid()
        EmbeddedPostgres(self.home).stop()  # should `down` not have: never leave a server behind
        return {
            "stdout": done.stdout, "pids": pids, "services_after": scheduler.running_services(self.settings),
            "warehouse_pid_after": warehouse_pid_after,
            "alive_after": [pid for pid in pids.values() if Path(f"/proc/{pid}").exists()
                            and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]],
        }

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


def _listening(pids: dict[str, int]) -> list[str]:
    """`ss` lines of the TCP sockets these processes listen on."""
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    return [line for line in listening.splitlines() if any(f"pid={pid}," in line for pid in pids.values())]


def _hold_back_a_wms_export(settings: Settings) -> tuple[str, Path]:
    """Move the newest task export, the only file of its day, out of the
    landing: it arrives late, while the LocalExecutor stack runs."""
    plant = json.loads((settings.demo_dir / "plant.json").read_text())
    files = plant["wms_files"]
    alone = [f for f in files if f["entity"] == "task" and f["role"] == "export" and f["rows"]
             and sum(g["entity"] == "task" and g["file_date"] == f["file_date"] for g in files) == 1]
    late = max(alone, key=lambda f: f["file_date"])["file"]
    aside = settings.demo_dir / late
    (settings.wms_landing_dir / late).rename(aside)
    return late, aside


@pytest.fixture(scope="module")
def runs():
    """One plant, first under the CeleryExecutor (the transform paused), then,
    after `down`, under the LocalExecutor with the transform unpaused: one
    plant, one metadata database and one warehouse for both, as a user who
    moves from one executor to the other has them."""
    stack = Stack()
    try:
        stack.command("plant", "generate")
        settings = stack.settings
        late_file, aside = _hold_back_a_wms_export(settings)
        celery = _celery_phase(stack, frozenset({late_file}))
        celery["down"] = stack.down()
        aside.rename(settings.wms_landing_dir / late_file)
        local = _local_phase(stack)
        yield {"stack": stack, "settings": settings, "celery": celery, "local": local}
    finally:
        stack.down()
        stack.remove()


def _celery_phase(stack: Stack, held_back: frozenset[str]) -> dict:
    """Two workers; the scheduler runs the extracts on their latest 15-minute
    tick, then a second round is triggered by hand with nothing new to load."""
    up = stack.up("celery", "--workers", "2", "--concurrency", "1")
    airflow = stack.airflow()
    _wait(lambda: {d["dag_id"] for d in airflow.get("dags")["dags"]} >= {*EXTRACT_DAGS.values(), TRANSFORM_DAG},
          "the dag-processor to parse the DAG files", 180)
    for dag_id in EXTRACT_DAGS.values():
        airflow.unpause(dag_id)
    for dag_id in EXTRACT_DAGS.values():
        _wait(lambda d=dag_id: _finished(airflow, d, 1), f"{dag_id}'s scheduled run")
    for dag_id in EXTRACT_DAGS.values():
        airflow.trigger(dag_id)
    extracts = {dag_id: _wait(lambda d=dag_id: _finished(airflow, d, 2), f"{dag_id}'s runs to finish")
                for dag_id in EXTRACT_DAGS.values()}
    pids = scheduler.running_services(stack.settings)
    return {
        "up": up, "extracts": extracts, "pids": pids, "listening": _listening(pids),
        "task_instances": [ti for runs in extracts.values() for run in runs for ti in airflow.task_instances(run)],
        "every_row_once": _every_source_row_loaded_once(stack.warehouse(), stack.settings, held_back),
        "broker": _broker_answers(pids["redis"]),
    }


def _local_phase(stack: Stack) -> dict:
    """The late WMS file has arrived: two runs of extract_wms triggered at
    once (the second waits for the first), the other extracts, and so the
    transform on the three Assets; new ERP data while it runs."""
    up = stack.up("local")
    started = datetime.now(UTC)
    airflow = stack.airflow()
    airflow.unpause(TRANSFORM_DAG)
    first_wms, second_wms = airflow.trigger(EXTRACT_DAGS["wms"]), airflow.trigger(EXTRACT_DAGS["wms"])
    while_first_ran = {r["dag_run_id"]: r["state"] for r in airflow.runs(EXTRACT_DAGS["wms"])}
    for system in ("erp", "mes"):
        airflow.trigger(EXTRACT_DAGS[system])
    _wait(lambda: [r for r in airflow.runs(TRANSFORM_DAG) if r["state"] == "running"],
          "the asset-triggered transform to start")
    # a run is "running" before its first task is: the transform holds raw
    # once dbt_build_staging has taken its lease (shrinkwatch.locks)
    _wait(lambda: _query(stack.warehouse(), "select count(*) from ops.transform_leases "
                                            "where released_at is null") == [(1,)],
          "the transform to take its lease on raw")
    # new source data while the transform runs: the extracts load it, and
    # the transform run their Assets trigger waits for the running one
    _deliver_new_data(stack.settings)
    for dag_id in EXTRACT_DAGS.values():
        airflow.trigger(dag_id)
    extracts = {dag_id: _wait(lambda d=dag_id: _finished(airflow, d, 3 if d == EXTRACT_DAGS["wms"] else 2, started),
                              f"{dag_id}'s runs to finish") for dag_id in EXTRACT_DAGS.values()}
    raw_after_extracts = _query(stack.warehouse(), "select count(*) from raw.erp_material_doc where mblnr = %s",
                                (NEW_ERP_DOC,))
    transforms = _wait(lambda: (runs := airflow.runs(TRANSFORM_DAG))[1:] and runs,
                       "a second, asset-triggered transform run")
    path = f"dags/{TRANSFORM_DAG}/dagRuns/{transforms[0]['dag_run_id']}"
    first = _wait(lambda: (run := airflow.get(path))["state"] in ("success", "failed") and run,
                  "the first transform run to finish")
    # the second one is not run here: a transform takes minutes on this machine
    pids = scheduler.running_services(stack.settings)
    return {
        "up": up, "first_wms": first_wms, "second_wms": second_wms, "while_first_ran": while_first_ran,
        "extracts": extracts, "raw_after_extracts": raw_after_extracts, "first_transform": first,
        "second_transform": transforms[1], "task_instances": airflow.task_instances(first),
        "pids": pids, "listening": _listening(pids),
        "every_row_once": _every_source_row_loaded_once(stack.warehouse(), stack.settings),
    }


def _broker_answers(pid: int) -> dict:
    """Where Redis listens, and what it answers without its password."""
    import redis

    listening = _listening({"redis": pid})
    port = int(listening[0].split()[3].rsplit(":", 1)[1])
    try:
        redis.Redis(host="127.0.0.1", port=port).ping()
        without_password = "answered"
    except redis.exceptions.AuthenticationError:
        without_password = "refused"
    return {"listening": listening, "without_password": without_password}


@pytest.mark.parametrize("phase", ["celery", "local"])
def test_up_prints_where_the_ui_is_and_no_password(runs, phase):
    stack: Stack = runs["stack"]
    up = runs[phase]["up"]
    assert f"http://127.0.0.1:{stack.port}" in up.stdout
    password = scheduler.ui_password(stack.password_file)
    assert password not in up.stdout + up.stderr
    for log in (stack.home / "airflow" / "services").glob("*.log"):
        assert password not in log.read_text(errors="replace"), log.name
    phases = [line.split(": ", 1)[-1] for line in up.stderr.splitlines() if "shrinkwatch.scheduler" in line]
    print(f"\nshrinkwatch airflow up --executor {phase} took {stack.up_seconds[phase]:.0f}s: {phases}")


@pytest.mark.parametrize("phase", ["celery", "local"])
def test_every_service_listens_on_loopback_only(runs, phase):
    pids, listening = runs[phase]["pids"], runs[phase]["listening"]
    expected = {"api-server", "scheduler", "dag-processor", "triggerer", "mes"}
    if phase == "celery":
        expected |= {"redis", "worker-1", "worker-2"}
    assert expected <= set(pids)
    assert listening
    for line in listening:
        assert line.split()[3].startswith("127.0.0.1:"), line


def test_the_scheduler_ran_the_extracts_and_the_assets_triggered_the_transform(runs):
    celery, local = runs["celery"], runs["local"]
    extract_runs = [r for phase in (celery, local) for runs_ in phase["extracts"].values() for r in runs_]
    print("\nREST API view (dag_id, run_id, run_type, state, seconds):")
    for row in _view(sorted([*extract_runs, local["first_transform"]], key=lambda r: _at(r, "start_date"))):
        print("  ", row)
    for dag_id, scheduled in celery["extracts"].items():
        assert "scheduled" in {r["run_type"] for r in scheduled}, dag_id
    assert all(r["state"] == "success" for r in extract_runs), _view(extract_runs)
    transform = local["first_transform"]
    assert (transform["run_type"], transform["state"]) == ("asset_triggered", "success"), _view([transform])
    assert {ti["task_id"]: ti["state"] for ti in local["task_instances"]} == {
        "dbt_build_staging": "success", "validate_staging": "success", "validate_staging_warnings": "success",
        "dbt_build_marts": "success", "validate_marts": "success", "publish_marts": "success", "report": "success",
    }
    for ti in sorted(local["task_instances"], key=lambda ti: _at(ti, "start_date")):
        print("  ", (ti["task_id"], ti["state"], round(ti["duration"], 1)))
    warehouse = runs["stack"].warehouse()
    assert (transform["dag_run_id"], "published") in _query(warehouse, "select run_id, status from ops.publish_runs")


def test_a_second_run_of_an_extract_waits_for_the_first_and_duplicates_nothing(runs):
    local = runs["local"]
    first, second = local["first_wms"], local["second_wms"]
    assert local["while_first_ran"][second] == "queued", local["while_first_ran"]
    by_id = {r["dag_run_id"]: r for r in local["extracts"][EXTRACT_DAGS["wms"]]}
    assert _at(by_id[second], "start_date") >= _at(by_id[first], "end_date")
    # the late file was loaded by the first run; the second found it decided on
    late = _query(runs["stack"].warehouse(), "select count(*) from ops.load_ledger where status = 'loaded' "
                  "and started_at >= %s and file_name is not null", (_at(by_id[first], "start_date"),))
    assert late == [(1,)]
    assert local["every_row_once"] == []


def test_new_data_arriving_while_a_transform_runs_waits_for_it_and_goes_to_the_next_transform(runs):
    local = runs["local"]
    first, second = local["first_transform"], local["second_transform"]
    # the extracts triggered meanwhile ran, but their loads waited for the
    # transform's hold on raw (shrinkwatch.locks): the new document was not
    # among the rows that run's staging checkpoint validated
    assert local["raw_after_extracts"] == [(1,)]
    loaded_at = _query(runs["stack"].warehouse(), "select max(finished_at) from ops.load_ledger "
                       "where table_name = 'erp_material_doc' and rows_inserted > 0")[0][0]
    assert loaded_at >= _at(first, "end_date") - timedelta(seconds=5), (loaded_at, _view([first]))
    # the Assets those loads updated trigger the next transform, created once
    # the first has ended (one transform run at a time)
    assert second["run_type"] == "asset_triggered"
    assert _at(second, "queued_at") >= _at(first, "end_date")


def test_down_stops_every_process_it_started(runs):
    down = runs["celery"]["down"]
    assert "stopped:" in down["stdout"]
    assert {"redis", "worker-1", "worker-2", "scheduler"} <= set(down["pids"])
    assert down["services_after"] == {}
    assert down["alive_after"] == []
    # `up` started the embedded warehouse, so `down` stopped it: the
    # LocalExecutor's `up` started it again
    assert "warehouse" in down["stdout"]
    assert down["warehouse_pid_after"] is None


# --- CeleryExecutor: two workers, a Redis broker with a password ------------------


def test_celery_tasks_ran_on_both_workers(runs):
    celery = runs["celery"]
    instances = celery["task_instances"]
    print(f"\nshrinkwatch airflow up --executor celery took {runs['stack'].up_seconds['celery']:.0f}s")
    print("task instances (dag_id, run_id, task_id, state, hostname):")
    for ti in sorted(instances, key=lambda ti: _at(ti, "start_date")):
        print("  ", (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["state"], ti["hostname"]))
    assert all(ti["state"] == "success" for ti in instances)
    assert {ti["hostname"].split("@")[0] for ti in instances} == {"worker-1", "worker-2"}


def test_celery_loses_and_duplicates_nothing(runs):
    assert runs["celery"]["every_row_once"] == []


def test_extract_runs_with_nothing_new_take_well_under_a_minute(runs):
    """Measured under Celery, where no transform runs: one that holds raw
    makes a load wait for its report (the LocalExecutor scenario shows that)."""
    # every run after the first (the manual round, and a 15-minute tick that may have come)
    later = [run for runs_ in runs["celery"]["extracts"].values() for run in runs_[1:]]
    print("\nextract runs with nothing new: " + ", ".join(f"{r['dag_id']} {_seconds(r):.1f}s" for r in later))
    assert len(later) >= 3 and all(_seconds(run) < 60 for run in later)


def test_the_broker_listens_on_loopback_and_asks_for_its_password(runs):
    broker = runs["celery"]["broker"]
    assert broker["listening"] and all(line.split()[3].startswith("127.0.0.1:") for line in broker["listening"])
    assert broker["without_password"] == "refused"
    # its password is on no command line
    for service_pid in scheduler.running_services(runs["settings"]).values():
        cmdline = Path(f"/proc/{service_pid}/cmdline").read_bytes()
        assert b"redis://:" not in cmdline and b"requirepass" not in cmdline
