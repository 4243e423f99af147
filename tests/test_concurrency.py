"""Runs that overlap, on a real PostgreSQL: two runs loading one WMS file,
and every wait bounded (shrinkwatch.locks). Each run is a thread with its own
connections, as two processes would be."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from helpers.wms import TASK_HEADER, task, write
from shrinkwatch import locks
from shrinkwatch.extract.ledger import unconserved_loads
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


def test_every_wait_gives_up_after_its_bound_naming_who_holds_on(conninfo, landing, monkeypatch):
    monkeypatch.setenv("SHRINKWATCH_LOCK_TIMEOUT_SECONDS", "0.5")
    bound = Settings.from_env().lock_timeout
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1")])

    # a load behind a transform holding raw
    locks.take_transform_lease(conninfo, "run-1")
    started = time.monotonic()
    with pytest.raises(locks.LockTimeout, match=(
        r"^the load of raw\.wms_task gave up after 0\.5 s: transform run run-1 \(holding raw since .+, "
        r"lease until .+\) holds raw; nothing was written"
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
            with pytest.raises(locks.LockTimeout, match=(
                rf"^the load of raw\.wms_task gave up after 0\.5 s waiting for the lock load\.raw\.wms_task, "
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
