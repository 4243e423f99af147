"""Quarantined rows are resolved by the load that makes them good, or released
by hand, and `ops.quarantine` shows them all (real PostgreSQL)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from click.testing import CliRunner

from helpers.erp import doc
from helpers.erp import insert as insert_erp
from helpers.location_map import LINE_ROW, ZONE_ROW
from helpers.location_map import write as write_map
from helpers.wms import TASK_HEADER, task, write
from shrinkwatch.cli import main
from shrinkwatch.extract import quarantine
from shrinkwatch.extract.erp import extract_erp
from shrinkwatch.extract.ledger import unconserved_loads
from shrinkwatch.extract.location_map import load_location_map
from shrinkwatch.extract.warehouse import QUARANTINE_VIEW_COLUMNS, ensure_schemas
from shrinkwatch.extract.wms import extract_wms


def query(conninfo: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []
        return conn.execute(sql, params).fetchall()


def states(conninfo: str, table: str) -> list[tuple]:
    """(load_id, source_ref, rule, severity, resolution) of every quarantined row."""
    return query(
        conninfo,
        f"""select load_id, source_ref, rule, severity, resolution,
                   (resolved_at is null) = (resolution is null)
            from quarantine.{table} order by load_id, source_ref""",
    )


def test_erp_row_is_resolved_when_its_corrected_version_loads(warehouse, erp_source):
    conninfo = warehouse.conninfo()
    insert_erp(erp_source, "erp_material_doc", [
        doc("4900000001", "2026-04-10", "08:00:00"),
        doc("4900000002", "2026-04-10", "09:00:00") | {"bwart": "999"},
        doc("4900000003", "2026-04-10", "10:00:00") | {"shkzg": "X"},
    ])
    (first,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    assert first.rows_quarantined == 2
    with sqlite3.connect(erp_source) as conn:  # the source corrects one document, not the other
        conn.execute("update erp_material_doc set bwart = '261' where mblnr = '4900000002'")

    (second,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    assert (second.rows_read, second.rows_loaded, second.rows_quarantined) == (3, 2, 1)
    assert "1 quarantined rows of earlier loads resolved" in second.message
    ref2, ref3 = "mblnr=4900000002/mjahr=2026/zeile=1", "mblnr=4900000003/mjahr=2026/zeile=1"
    assert states(conninfo, "erp_material_doc") == [
        (first.load_id, ref2, "value_set:bwart", "critical", f"loaded by load {second.load_id}", True),
        (first.load_id, ref3, "value_set:shkzg", "critical", None, True),
        # still wrong: read again, it repeats the open row instead of opening another
        (second.load_id, ref3, "value_set:shkzg", "critical", f"repeat of load {first.load_id}", True),
    ]
    assert "1 quarantined rows repeat earlier quarantined ones" in second.message
    assert query(conninfo, "select bwart from raw.erp_material_doc where mblnr = '4900000002'") == [("261",)]

    # a later load that merges the key again does not touch an already resolved row
    (third,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    assert third.message is None or "resolved" not in third.message
    assert states(conninfo, "erp_material_doc")[0][4] == f"loaded by load {second.load_id}"


def test_a_released_erp_row_stays_released_when_the_lookback_reads_it_again(warehouse, erp_source):
    conninfo = warehouse.conninfo()
    insert_erp(erp_source, "erp_material_doc", [doc("4900000002", "2026-04-10", "09:00:00") | {"bwart": "999"}])
    (first,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    with psycopg.connect(conninfo) as conn:
        assert quarantine.release(conn, "erp_material_doc", first.load_id, released_by="qa.lead",
                                  note="cancelled in ERP, never re-posted") == 1
    (second,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    assert second.rows_quarantined == 1  # still read, still counted
    assert [s[4] for s in states(conninfo, "erp_material_doc")] == [
        "released by qa.lead: cancelled in ERP, never re-posted",
    ] * 2
    with psycopg.connect(conninfo) as conn:
        assert quarantine.open_rows(conn) == []


def test_wms_file_is_resolved_by_a_corrected_export_of_the_same_day(warehouse, landing):
    conninfo = warehouse.conninfo()
    no_qty = TASK_HEADER.replace(",qty,", ",")
    write(landing, "wms_task_20260412.csv", no_qty, [task("T1").replace(",2,", ","), task("T2").replace(",2,", ",")])
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T3", qty="three")])  # another day
    first = {r.file_name: r for r in extract_wms(conninfo, landing)}
    bad_load = first["wms_task_20260412.csv"].load_id
    other_day = first["wms_task_20260413.csv"].load_id
    assert [(s[2], s[3], s[4]) for s in states(conninfo, "wms_task")] == [
        ("missing_column", "critical", None), ("missing_column", "critical", None),
        ("type:numeric", "critical", None),
    ]

    write(landing, "wms_task_20260412_2.csv", TASK_HEADER, [task("T1"), task("T2")])
    (fixed,) = extract_wms(conninfo, landing)
    assert (fixed.file_name, fixed.rows_loaded, fixed.rows_quarantined) == ("wms_task_20260412_2.csv", 2, 0)
    assert "2 quarantined rows of earlier loads resolved" in fixed.message
    resolution = f"superseded by load {fixed.load_id} (wms_task_20260412_2.csv)"
    assert states(conninfo, "wms_task") == [
        (bad_load, "wms_task_20260412.csv:2", "missing_column", "critical", resolution, True),
        (bad_load, "wms_task_20260412.csv:3", "missing_column", "critical", resolution, True),
        (other_day, "wms_task_20260413.csv:2", "type:numeric", "critical", None, True),
    ]

    # the same name re-delivered with new content replaces (and resolves) that day's load too
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T3")])
    (redelivered,) = extract_wms(conninfo, landing)
    assert redelivered.rows_loaded == 1
    assert states(conninfo, "wms_task")[-1][4] == (
        f"superseded by load {redelivered.load_id} (wms_task_20260413.csv)"
    )



def test_a_re_export_without_a_valid_row_keeps_the_days_earlier_export(warehouse, landing):
    conninfo = warehouse.conninfo()
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T2")])
    extract_wms(conninfo, landing)
    no_qty = TASK_HEADER.replace(",qty,", ",")
    write(landing, "wms_task_20260412_2.csv", no_qty, [task("T1").replace(",2,", ",")])

    (broken,) = extract_wms(conninfo, landing)
    assert (broken.rows_read, broken.rows_loaded, broken.rows_quarantined, broken.rows_deleted) == (1, 0, 1, 0)
    assert "earlier exports were kept" in broken.message
    assert query(conninfo, "select task_id, _source_file from raw.wms_task order by 1") == [
        ("T1", "wms_task_20260412.csv"), ("T2", "wms_task_20260412.csv"),
    ]
    assert [(s[2], s[3], s[4]) for s in states(conninfo, "wms_task")] == [("missing_column", "critical", None)]


def test_a_replaced_location_map_resolves_the_earlier_rows(warehouse, tmp_path):
    conninfo = warehouse.conninfo()
    path = write_map(tmp_path / "location_map.csv", [ZONE_ROW, ",0002,WH01,B,,,no plant"])
    first = load_location_map(conninfo, path)
    write_map(path, [ZONE_ROW, "1000,0002,WH01,B,,,plant given", LINE_ROW])
    second = load_location_map(conninfo, path)
    assert states(conninfo, "location_map") == [
        (first.load_id, "location_map.csv:3", "not_null_key", "critical",
         f"superseded by load {second.load_id} (location_map.csv)", True),
    ]


def test_ops_quarantine_lists_every_table_with_system_and_severity(warehouse, erp_source, landing, tmp_path):
    conninfo = warehouse.conninfo()
    insert_erp(erp_source, "erp_material_doc", [doc("4900000001", "2026-04-10", "08:00:00") | {"matnr": "1"}])
    extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T1")])
    extract_wms(conninfo, landing)
    load_location_map(conninfo, write_map(tmp_path / "location_map.csv", [ZONE_ROW, "1000,0003,WH01"]))

    with psycopg.connect(conninfo) as conn:
        cursor = conn.execute("select * from ops.quarantine order by system, table_name")
        assert tuple(c.name for c in cursor.description) == QUARANTINE_VIEW_COLUMNS
        rows = cursor.fetchall()
        assert [(r[0], r[1], r[4], r[5]) for r in rows] == [
            ("erp", "erp_material_doc", "format:matnr", "warning"),
            ("wms", "location_map", "column_count", "critical"),
            ("wms", "wms_task", "duplicate_key_in_batch", "warning"),
        ]
        assert [(r.table_name, r.rule) for r in quarantine.open_rows(conn, critical_only=True)] == [
            ("location_map", "column_count"),
        ]
        assert len(quarantine.open_rows(conn)) == 3


def test_release_by_hand(warehouse, landing, monkeypatch):
    conninfo = warehouse.conninfo()
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T2", qty="x"), task("T1")])
    (load,) = extract_wms(conninfo, landing)
    with psycopg.connect(conninfo) as conn:
        with pytest.raises(ValueError, match="unknown quarantine table 'wms_tasks'"):
            quarantine.release(conn, "wms_tasks", load.load_id, released_by="li.wei", note="ok")
        with pytest.raises(ValueError, match="who releases it"):
            quarantine.release(conn, "wms_task", load.load_id, released_by="li.wei", note="  ")
        released = quarantine.release(
            conn, "quarantine.wms_task", load.load_id, "type:numeric",
            released_by="li.wei", note="qty re-keyed in the ERP by hand",
        )
        assert released == 1
        assert quarantine.release(
            conn, "wms_task", load.load_id, "type:numeric", released_by="li.wei", note="again",
        ) == 0
    assert [(s[2], s[4]) for s in states(conninfo, "wms_task")] == [
        ("type:numeric", "released by li.wei: qty re-keyed in the ERP by hand"),
        ("duplicate_key_in_batch", None),
    ]

    # the same through the command line, pointed at this warehouse by the environment
    monkeypatch.setenv("SHRINKWATCH_DATABASE_URL", warehouse.sqlalchemy_url())
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "unused")  # no airflow database for this
    runner = CliRunner()
    listed = runner.invoke(main, ["quarantine", "list", "--open"])
    assert listed.exit_code == 0, listed.output
    assert f"wms    wms_task           {load.load_id:>6} duplicate_key_in_batch       warning       1      1" in (
        listed.output
    )
    assert "type:numeric" not in listed.output
    assert "no quarantined rows match" in runner.invoke(main, ["quarantine", "list", "--critical", "--open"]).output
    args = ["quarantine", "release", "wms_task", "--load-id", str(load.load_id), "--by", "li.wei"]
    refused = runner.invoke(main, [*args, "--note", ""])
    assert refused.exit_code != 0 and "who releases it" in refused.output
    done = runner.invoke(main, [*args, "--note", "first occurrence is right"])
    assert done.exit_code == 0 and f"released 1 rows of wms_task from load {load.load_id}" in done.output
    nothing = runner.invoke(main, [*args, "--note", "again"])
    assert nothing.exit_code != 0 and "no open quarantined row" in nothing.output


def test_ensure_schemas_upgrades_quarantine_tables_of_an_older_warehouse(warehouse):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # the shape before severity and resolution existed, with rows in it
        conn.execute("create schema quarantine; create schema ops")
        conn.execute(
            """create table quarantine.wms_task (load_id bigint not null, source_ref text, rule text not null,
                   reason text not null, raw_record jsonb, quarantined_at timestamptz not null default now())"""
        )
        conn.execute(
            """insert into quarantine.wms_task (load_id, source_ref, rule, reason) values
                   (1, 'f.csv:2', 'missing_column', 'r'), (1, 'f.csv:3', 'non_negative:qty', 'r'),
                   (1, 'f.csv:4', 'duplicate_key_in_batch', 'r'), (1, 'f.csv:5', 'brand_new_rule', 'r')"""
        )
        conn.execute("create view ops.quarantine as select 1 as some_old_column")  # a view of another shape
        ensure_schemas(conn)
        ensure_schemas(conn)  # idempotent
        assert conn.execute(
            "select source_ref, severity from ops.quarantine where table_name = 'wms_task' order by 1"
        ).fetchall() == [
            ("f.csv:2", "critical"), ("f.csv:3", "warning"), ("f.csv:4", "warning"), ("f.csv:5", "critical"),
        ]
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("insert into quarantine.wms_task (load_id, rule, reason) values (2, 'encoding', 'r')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "insert into quarantine.wms_task (load_id, rule, severity, reason) values (2, 'encoding', 'x', 'r')"
            )
