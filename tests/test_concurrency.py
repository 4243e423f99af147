"""Runs that overlap, on a real PostgreSQL: two runs loading one WMS file, a
load arriving while a transform holds raw, and every wait bounded
(shrinkwatch.locks). Each run is a thread with its own connections, as two
processes would be; the transform is its DAG tasks' own functions, in DAG
order, with the real dbt between them."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from helpers.dbt import run_dbt
from helpers.wms import TASK_HEADER, task, write
from shrinkwatch import locks, publish
from shrinkwatch.airflow import tasks
from shrinkwatch.airflow.ids import CRITICAL_TRANSFORM_TASKS
from shrinkwatch.extract.ledger import LoadsFailed, unconserved_loads
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.extract.wms import extract_wms
from shrinkwatch.postgres import PgTarget
from shrinkwatch.settings import Settings

LOAD_OF_TASKS = "shrinkwatch load raw.wms_task"  # the application name of a load of raw.wms_task


def query(conninfo: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql, params).fetchall()


def eventually(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)


def sessions_waiting_for(conninfo: str, lock: str) -> int:
    return query(
        conninfo,
        """select count(*) from pg_locks
           where locktype = 'advisory' and not granted and objsubid = 2
             and database = (select oid from pg_database where datname = current_database())
             and classid = hashtext(%s)::oid and objid = hashtext(%s)::oid""",
        (locks.NAMESPACE, lock),
    )[0][0]


def ledger_of(conninfo: str, file_name: str) -> list[tuple]:
    return query(
        conninfo, "select load_id, status, message from ops.load_ledger where file_name = %s order by load_id",
        (file_name,),
    )


@pytest.fixture
def conninfo(warehouse: PgTarget) -> str:
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    return conninfo


def test_two_runs_loading_one_wms_file_at_once_load_its_rows_once(conninfo, landing):
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T2"), task("T3")])
    pool = ThreadPoolExecutor(2)
    try:
        # a load of raw.wms_task is in progress: both runs find the file new
        # and wait for the table, so that they really overlap
        with psycopg.connect(conninfo, autocommit=True) as loading, locks.raw_write(loading, "wms_task"):
            runs = [pool.submit(extract_wms, conninfo, landing) for _ in range(2)]
            eventually(lambda: sessions_waiting_for(conninfo, locks.table_lock("wms_task")) == 2)
        results = [result for run in runs for result in run.result(timeout=60)]
    finally:
        pool.shutdown()

    assert sorted(r.status for r in results) == ["loaded", "skipped_duplicate"]
    loaded = next(r for r in results if r.status == "loaded")
    assert query(conninfo, "select task_id, count(*) from raw.wms_task group by 1 order by 1") == [
        ("T1", 1), ("T2", 1), ("T3", 1),
    ]
    assert ledger_of(conninfo, "wms_task_20260412.csv") == [
        (loaded.load_id, "loaded", "decoded as utf-8-sig"),
        (loaded.load_id + 1, "skipped_duplicate",
         f"already loaded by load {loaded.load_id} of a concurrent run, since this run began"),
    ]
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []


@pytest.fixture
def transform_env(warehouse: PgTarget, conninfo: str, monkeypatch, tmp_path: Path) -> str:
    """The warehouse as the transform DAG's tasks reach it: its Airflow connection."""
    monkeypatch.setenv("AIRFLOW_CONN_SHRINKWATCH_WAREHOUSE", json.dumps({
        "conn_type": "postgres", "host": warehouse.host, "port": warehouse.port, "login": warehouse.user,
        "password": warehouse.password, "schema": warehouse.dbname,
    }))
    monkeypatch.setenv("SHRINKWATCH_HOME", str(tmp_path / "home"))
    return conninfo


def published_tasks(conninfo: str) -> int:
    return query(
        conninfo, "select sum(row_count) from marts.fct_daily_source_activity where source_table = 'wms_task'"
    )[0][0]


def build_and_publish(warehouse: PgTarget, run_id: str, dbt_dir: Path, *models: str) -> None:
    """The transform DAG's tasks from its builds to its publish, once its
    staging build's pre_execute took raw; dbt builds `models` (staging and one
    mart: what matters here is which raw rows they see)."""
    tasks.reset_shadow_task({"run_id": run_id})  # the marts build's pre_execute
    built = run_dbt(warehouse, dbt_dir, "run", "--select", *models, "--vars", json.dumps(publish.SHADOW_DBT_VARS))
    assert built.returncode == 0, built.stdout[-3000:]
    tasks.publish_marts_task(run_id)


def report(run_id: str, started_at: datetime) -> None:
    tasks.report_task(run_id, started_at, dict.fromkeys(CRITICAL_TRANSFORM_TASKS, "success"))


def test_a_load_waits_while_a_transform_holds_raw_and_reaches_the_next_marts(warehouse, transform_env, landing,
                                                                            tmp_path):
    conninfo = transform_env
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T2")])
    extract_wms(conninfo, landing)
    started_at = datetime.now(UTC)
    tasks.take_transform_lease_task({"run_id": "run-1"})  # the staging build's pre_execute

    # the WMS delivers while run-1 transforms: its load waits for raw
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T3")])
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(extract_wms, conninfo, landing, lock_timeout=timedelta(minutes=2))
        eventually(lambda: query(conninfo, "select count(*) from pg_stat_activity where application_name = %s",
                                 (LOAD_OF_TASKS,))[0][0] == 1)
        build_and_publish(warehouse, "run-1", tmp_path / "dbt", "+fct_daily_source_activity")
        assert not late.done(), "the load must wait for run-1's report"
        assert ledger_of(conninfo, "wms_task_20260413.csv") == []
        assert published_tasks(conninfo) == 2, "run-1 publishes the rows its staging checkpoint saw"
        report("run-1", started_at)  # releases raw
        (loaded,) = late.result(timeout=30)
    assert (loaded.file_name, loaded.status, loaded.rows_loaded) == ("wms_task_20260413.csv", "loaded", 1)
    assert published_tasks(conninfo) == 2, "published marts change only by a publish"

    tasks.take_transform_lease_task({"run_id": "run-2"})
    build_and_publish(warehouse, "run-2", tmp_path / "dbt", "fct_daily_source_activity")
    report("run-2", datetime.now(UTC))
    assert published_tasks(conninfo) == 3, "the next run publishes the load that waited"
    assert query(conninfo, "select run_id, status from ops.publish_runs order by run_id") == [
        ("run-1", "published"), ("run-2", "published"),
    ]
    assert query(conninfo, "select run_id, release from ops.transform_leases order by run_id") == [
        ("run-1", "released by its report"), ("run-2", "released by its report"),
    ]


def test_every_wait_gives_up_after_its_bound_naming_who_holds_on(conninfo, landing, monkeypatch):
    monkeypatch.setenv("SHRINKWATCH_LOCK_TIMEOUT_SECONDS", "0.5")
    bound = Settings.from_env().lock_timeout
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1")])

    # a load behind a transform holding raw
    locks.take_transform_lease(conninfo, "run-1")
    started = time.monotonic()
    # the extract goes on past a failed load, then names it (LoadsFailed)
    with pytest.raises(LoadsFailed, match=(
        r"wms_task_20260412\.csv: LockTimeout: the load of raw\.wms_task gave up after 0\.5 s: transform run "
        r"run-1 \(holding raw since .+, lease until .+\) holds raw; nothing was written"
    )):
        extract_wms(conninfo, landing, lock_timeout=bound)
    assert time.monotonic() - started < 5
    ((_, status, message),) = ledger_of(conninfo, "wms_task_20260412.csv")
    assert status == "failed" and message.startswith("LockTimeout: the load of raw.wms_task gave up after 0.5 s")
    # a second transform behind the first
    with pytest.raises(locks.LockTimeout, match=r"^transform run run-2 gave up after 0\.5 s: transform run run-1 "):
        locks.take_transform_lease(conninfo, "run-2", timeout=bound)
    assert locks.release_transform_lease(conninfo, "run-1")

    with psycopg.connect(conninfo, autocommit=True, application_name=LOAD_OF_TASKS) as loading:
        with locks.raw_write(loading, "wms_task"):
            pid = loading.info.backend_pid
            # a load behind another load of its table
            with pytest.raises(LoadsFailed, match=(
                rf"LockTimeout: the load of raw\.wms_task gave up after 0\.5 s waiting for the lock "
                rf"load\.raw\.wms_task, "
                rf"held by pid {pid} \({LOAD_OF_TASKS}, idle in transaction, in transaction for .+\); "
                r"nothing was written"
            )):
                extract_wms(conninfo, landing, lock_timeout=bound)
            # a transform behind a load in flight
            with pytest.raises(locks.LockTimeout, match=(
                rf"^transform run run-2 gave up after 0\.5 s waiting for the lock raw, held by pid {pid} "
            )):
                locks.take_transform_lease(conninfo, "run-2", timeout=bound)

    # nothing waits any more: the file that failed is tried again and loads
    (result,) = extract_wms(conninfo, landing, lock_timeout=bound)
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    assert query(conninfo, "select count(*) from ops.transform_leases where released_at is null") == [(0,)]


def test_an_expired_lease_frees_raw_and_its_transform_does_not_publish(transform_env, landing):
    conninfo = transform_env
    with psycopg.connect(conninfo) as conn:  # what run-1's marts build left in the shadow
        conn.execute(f"create schema {publish.SHADOW_SCHEMAS['marts']}")
    # run-1 died without its report, or a task of it ran longer than its lease
    locks.take_transform_lease(conninfo, "run-1", duration=timedelta(milliseconds=200))
    time.sleep(0.3)
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1")])
    (result,) = extract_wms(conninfo, landing, lock_timeout=timedelta(seconds=5))
    assert result.status == "loaded", "an expired lease holds nothing"
    assert query(conninfo, "select release from ops.transform_leases") == [
        ("expired; broken by the load of raw.wms_task",),
    ]
    with pytest.raises(locks.LeaseLost, match=(
        r"^transform run run-1 no longer holds raw: its lease \(until .+\) was expired; broken by the load of "
        r"raw\.wms_task, so raw may have changed since its staging checkpoint and this run must not publish"
    )):
        tasks.publish_marts_task("run-1")
    assert query(conninfo, "select nspname from pg_namespace where nspname like 'marts%%'") == [("marts__shadow",)]
