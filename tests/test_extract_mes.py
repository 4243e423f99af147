"""MES extraction against the demo MES server, serving a tiny SQLite MES."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from helpers.mes import T0, TOKEN, consumption, write_rows
from shrinkwatch.contracts import MES_TABLES
from shrinkwatch.demo.mes_server import MesServer
from shrinkwatch.extract.ledger import LoadsFailed, unconserved_loads
from shrinkwatch.extract.mes import MesUnavailable, extract_mes
from shrinkwatch.extract.warehouse import ensure_schemas


@pytest.fixture
def mes_db(tmp_path: Path) -> Path:
    db = tmp_path / "mes.sqlite"
    with sqlite3.connect(db) as conn:
        for table in MES_TABLES:
            columns = [f"{c} primary key" if c == table.key[0] else c for c in table.column_names]
            conn.execute(f"create table {table.name} ({', '.join(columns)})")
    # several items share an updated_at, so pages split inside one timestamp
    write_rows(db, "mes_consumptions", [consumption(n, T0 + 1000 * (n // 3)) for n in range(23)])
    write_rows(db, "mes_work_orders", [{
        "order_no": "1000123", "material": "06901234567892", "planned_qty": 500, "uom": "kg",
        "line": "L1", "work_center": "WC01", "status": "RUNNING", "released_at": T0,
        "closed_at": None, "updated_at": T0,
    }])
    return db


@pytest.fixture
def serve(mes_db: Path):
    servers = []

    def start(fault_every: int = 0):
        server = MesServer(mes_db, TOKEN, fault_every=fault_every)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def query(conninfo: str, sql: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql).fetchall()


def assert_conserved(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []


def test_pages_and_faults_are_retried_to_a_complete_load(warehouse, serve):
    conninfo = warehouse.conninfo()
    server = serve(fault_every=4)
    results = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN, page_size=4)}
    consumptions = results["mes_consumptions"]
    assert (consumptions.status, consumptions.rows_read, consumptions.rows_inserted) == (
        "loaded", 23, 23,
    )
    assert consumptions.watermark_to == str(T0 + 7000)
    assert results["mes_work_orders"].rows_inserted == 1
    assert server.faults_served > 0  # both 429 (Retry-After) and 503 at fault_every=4
    assert sum(r.retries for r in results.values()) == server.faults_served
    assert query(conninfo, "select count(distinct event_id), sum(qty) from raw.mes_consumptions"
                 ) == [(23, pytest.approx(34.5))]
    assert query(conninfo, "select sum(retries) from ops.load_ledger") == [(server.faults_served,)]
    assert_conserved(conninfo)


def test_rerun_is_idempotent_and_a_correction_replaces(warehouse, serve, mes_db):
    conninfo = warehouse.conninfo()
    server = serve()
    extract_mes(conninfo, server.base_url, TOKEN, page_size=10)
    before = query(conninfo, "select * from raw.mes_consumptions order by event_id")

    rerun = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN)}
    lookback = rerun["mes_consumptions"]  # the 24 h lookback re-reads every item
    assert lookback.watermark_from == str(T0 + 7000 - 24 * 3_600_000)
    assert (lookback.rows_read, lookback.rows_unchanged, lookback.rows_inserted) == (23, 23, 0)
    assert query(conninfo, "select * from raw.mes_consumptions order by event_id") == before

    write_rows(mes_db, "mes_consumptions", [consumption(4, T0 + 60_000, qty="0.5")])
    corrected = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN)}
    assert corrected["mes_consumptions"].rows_updated == 1
    assert query(conninfo, "select qty, updated_at from raw.mes_consumptions "
                           "where event_id = 'C0004'") == [(pytest.approx(0.5), T0 + 60_000)]
    assert query(conninfo, "select count(*) from raw.mes_consumptions") == [(23,)]
    assert_conserved(conninfo)


def test_exhausted_retries_fail_the_load_with_a_clear_error(warehouse, serve):
    conninfo = warehouse.conninfo()
    server = serve(fault_every=1)  # every request faults
    with pytest.raises(LoadsFailed, match=r"MES work-orders: HTTP (429|503) still after 2 retries") as failed:
        extract_mes(conninfo, server.base_url, TOKEN, max_retries=2)
    # an MES that is unavailable as a whole ends the run: the other resources would wait out the same retries
    assert isinstance(failed.value.failures[0][1], MesUnavailable)
    assert "not tried after it: mes_consumptions, mes_scrap" in str(failed.value)
    assert query(conninfo, "select table_name, status, retries, rows_read from ops.load_ledger"
                 ) == [("mes_work_orders", "failed", 2, 0)]
    assert query(conninfo, "select count(*) from raw.mes_work_orders") == [(0,)]


def test_an_item_committed_late_with_an_older_updated_at_arrives_on_the_next_run(warehouse, serve, mes_db):
    conninfo = warehouse.conninfo()
    server = serve()
    extract_mes(conninfo, server.base_url, TOKEN)
    # a lagging MES node commits an item stamped before the watermark (T0 + 7000)
    write_rows(mes_db, "mes_consumptions", [consumption(99, T0 + 3000)])
    rerun = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN)}
    consumptions = rerun["mes_consumptions"]
    assert (consumptions.rows_read, consumptions.rows_inserted, consumptions.rows_updated,
            consumptions.rows_unchanged) == (24, 1, 0, 23)
    assert query(conninfo, "select updated_at from raw.mes_consumptions where event_id = 'C0099'"
                 ) == [(T0 + 3000,)]
    assert_conserved(conninfo)


def test_values_postgresql_cannot_store_are_quarantined_and_the_next_items_load(warehouse, serve, mes_db):
    conninfo = warehouse.conninfo()
    write_rows(mes_db, "mes_consumptions", [
        consumption(101, T0 + 9000, qty="١٢"),
        consumption(102, T0 + 9000, qty="1e999999"),
        consumption(103, T0 + 9000) | {"event_id": "C\x00103"},  # NUL in the key
        consumption(104, T0 + 9000) | {"operator_id": "op\x007"},  # NUL in a value
        consumption(105, T0 + 9500),
    ])
    server = serve()
    results = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN)}
    consumptions = results["mes_consumptions"]
    assert (consumptions.status, consumptions.rows_read, consumptions.rows_loaded,
            consumptions.rows_quarantined) == ("loaded", 28, 24, 4)
    assert consumptions.watermark_to == str(T0 + 9500)
    assert query(conninfo, "select count(*) from raw.mes_consumptions where event_id = 'C0105'") == [(1,)]
    quarantined = query(conninfo, 'select source_ref, rule, reason from quarantine.mes_consumptions '
                                  'order by source_ref collate "C"')
    assert [(ref, rule) for ref, rule, _ in quarantined] == [
        ("event_id=C0101", "type:numeric"),
        ("event_id=C0102", "type:numeric"),
        ("event_id=C0104", "type:text"),
        ("event_id=C\\x00103", "type:text"),
    ]
    assert "ASCII digits" in quarantined[0][2] and "PostgreSQL numeric" in quarantined[1][2]
    assert "NUL" in quarantined[2][2] and "NUL" in quarantined[3][2]
    assert {r.status for r in results.values()} == {"loaded"}
    # the next run goes on from the new watermark
    write_rows(mes_db, "mes_consumptions", [consumption(106, T0 + 10_000)])
    rerun = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN)}
    assert (rerun["mes_consumptions"].rows_inserted, rerun["mes_consumptions"].watermark_to) == (1, str(T0 + 10_000))
    assert query(conninfo, "select count(*) from ops.quarantine where resolved_at is null") == [(4,)]
    assert_conserved(conninfo)


def test_a_resource_that_fails_to_load_does_not_stop_the_others(warehouse, serve):
    conninfo = warehouse.conninfo()
    server = serve()
    with psycopg.connect(conninfo, autocommit=True) as conn:  # an unexpected refusal by the warehouse
        ensure_schemas(conn)
        conn.execute("alter table raw.mes_work_orders add constraint no_order check (order_no <> '1000123')")
    with pytest.raises(LoadsFailed, match=r"mes_work_orders.*no_order") as failed:
        extract_mes(conninfo, server.base_url, TOKEN)
    assert [r.table_name for r in failed.value.results] == [t.name for t in MES_TABLES[1:]]
    assert query(conninfo, "select count(*) from raw.mes_consumptions") == [(23,)]
    assert query(conninfo, "select table_name, status from ops.load_ledger where status <> 'loaded'"
                 ) == [("mes_work_orders", "failed")]
    assert_conserved(conninfo)
