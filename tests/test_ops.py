"""The ops tables: created with the other schemas, upgraded in place."""

from __future__ import annotations

import re

import psycopg

from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.postgres import PgTarget
from shrinkwatch.quality.suites import SUITES


def _gx_type(expectation_class: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", expectation_class).lower()


def _made_by_an_older_shrinkwatch(conn: psycopg.Connection) -> None:
    """The tables altered back to an older shape are what older code left:
    the warehouse's schema version says so too."""
    conn.execute("update ops.schema_version set fingerprint = 'older'")


def test_a_dq_results_from_before_dimensions_gets_the_dimension_its_checks_now_record(warehouse: PgTarget):
    """History written before `dimension` existed is classified as the mart
    classified it then, and that is the dimension each check records now: the
    daily KPIs of old and new runs agree."""
    checks = [c for suite in SUITES for c in suite.all_checks()]
    with psycopg.connect(warehouse.conninfo()) as conn:
        ensure_schemas(conn)
        conn.execute("alter table ops.dq_results drop column dimension")
        conn.cursor().executemany(
            """insert into ops.dq_results (run_id, run_at, checkpoint, suite, table_name, system, expectation,
                                           description, severity, success)
               values (%s, now(), 'staging', 's', 't', 'erp', %s, %s, 'critical', true)""",
            [(str(i), _gx_type(c.expectation), c.kwargs.get("description")) for i, c in enumerate(checks)],
        )
        _made_by_an_older_shrinkwatch(conn)
        conn.commit()
        ensure_schemas(conn)
        upgraded = dict(conn.execute("select run_id, dimension from ops.dq_results").fetchall())
        nullable = conn.execute(
            "select is_nullable from information_schema.columns"
            " where table_schema = 'ops' and table_name = 'dq_results' and column_name = 'dimension'"
        ).fetchone()[0]
    assert upgraded == {str(i): c.dimension for i, c in enumerate(checks)}
    assert nullable == "NO"


def test_a_ledger_from_before_refused_empty_accepts_it_after_the_upgrade(warehouse: PgTarget):
    with psycopg.connect(warehouse.conninfo()) as conn:
        ensure_schemas(conn)
        conn.execute(
            "alter table ops.load_ledger drop constraint load_ledger_status_check, add constraint "
            "load_ledger_status_check check (status in ('loaded', 'skipped_duplicate', 'skipped_superseded', 'failed'))"
        )
        _made_by_an_older_shrinkwatch(conn)
        conn.commit()
        ensure_schemas(conn)
        conn.execute("insert into ops.load_ledger (system, status, started_at) values ('erp', 'refused_empty', now())")


def test_ensure_schemas_on_a_current_warehouse_waits_for_no_load_in_flight(warehouse: PgTarget):
    """The scheduler starts the three extract DAGs together every 15 minutes;
    each calls ensure_schemas while another's load holds its tables. Its DDL
    locked those tables (`create index if not exists` takes a share lock even
    when the index exists), so it queued behind the load or deadlocked with
    it. On a warehouse already at this version it takes no table lock."""
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo) as conn:
        ensure_schemas(conn)
    with psycopg.connect(conninfo) as load, psycopg.connect(conninfo, autocommit=True) as other:
        # a WMS file's load in flight: its ledger row and its day's rows replaced
        load.execute("insert into ops.load_ledger (system, status, started_at) values ('wms', 'loaded', now())")
        load.execute("delete from raw.wms_task")
        load.execute("delete from quarantine.wms_task")
        other.execute("set lock_timeout = '2s'")
        ensure_schemas(other)
        load.rollback()


def test_ensure_schemas_makes_again_a_table_dropped_by_hand(warehouse: PgTarget):
    with psycopg.connect(conninfo := warehouse.conninfo()) as conn:
        ensure_schemas(conn)
        conn.execute("drop table raw.gs1_barcodes")
        conn.commit()
    with psycopg.connect(conninfo) as conn:
        ensure_schemas(conn)
        assert conn.execute("select count(*) from raw.gs1_barcodes").fetchone() == (0,)


def test_a_ledger_from_before_replays_records_one_after_the_upgrade(warehouse: PgTarget):
    with psycopg.connect(warehouse.conninfo()) as conn:
        ensure_schemas(conn)
        conn.execute("drop view ops.load_conservation")
        conn.execute(
            "alter table ops.load_ledger drop column replay_of, drop constraint load_ledger_status_check, "
            "add constraint load_ledger_status_check check (status in ('loaded', 'skipped_duplicate', "
            "'skipped_superseded', 'refused_empty', 'failed'))"
        )
        conn.execute("create view ops.load_conservation as select * from ops.load_ledger "
                     "where rows_read <> rows_loaded + rows_quarantined")
        _made_by_an_older_shrinkwatch(conn)
        conn.commit()
        ensure_schemas(conn)
        conn.execute(
            "insert into ops.load_ledger (system, status, replay_of, rows_read, started_at) "
            "values ('erp', 'replayed', 1, 1, now())"
        )
        assert conn.execute("select status, replay_of from ops.load_conservation").fetchall() == [("replayed", 1)]
