"""ERP extraction against a small SQLite ERP and the real embedded PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from helpers.erp import doc, insert
from shrinkwatch import report
from shrinkwatch.contracts import ERP_TABLES
from shrinkwatch.extract.erp import extract_erp
from shrinkwatch.extract.ledger import unconserved_loads


@pytest.fixture
def erp_db(erp_source: Path) -> Path:
    db = erp_source
    insert(db, "erp_material", [
        {"matnr": "000000000010001234", "maktx": "不锈钢螺栓", "meins": "KG", "std_price": "3.25",
         "changed_at": "2026-04-01 08:00:00"},
        {"matnr": "000000000010001235", "maktx": "垫圈", "meins": "EA", "std_price": 0.5,
         "changed_at": "2026-04-02 09:30:00"},
    ])
    insert(db, "erp_material_doc", [
        doc("4900000001", "2026-04-10", "08:00:00"),
        doc("4900000001", "2026-04-10", "08:00:00", zeile=2),
        doc("4900000002", "2026-04-12", "14:00:00", menge="7.5"),
    ])
    insert(db, "erp_user", [{"usnam": "LI.WEI", "name": "李伟"}, {"usnam": "ZHANG.M"}])
    return db


def raw_snapshot(conninfo: str) -> dict[str, list[tuple]]:
    with psycopg.connect(conninfo) as conn:
        return {
            t.name: conn.execute(f"select * from raw.{t.name} order by 1, 2, 3").fetchall()
            for t in ERP_TABLES
        }


def assert_conserved(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []


def test_first_load_then_rerun_leaves_raw_unchanged(warehouse, erp_db):
    conninfo = warehouse.conninfo()
    first = {r.table_name: r for r in extract_erp(conninfo, f"sqlite:///{erp_db}")}
    assert {r.status for r in first.values()} == {"loaded"}
    assert first["erp_material_doc"].rows_inserted == 3
    assert first["erp_material_doc"].watermark_to == "2026-04-12T14:00:00"
    assert first["erp_material"].rows_inserted == 2
    assert first["erp_user"].rows_inserted == 2
    before = raw_snapshot(conninfo)
    assert before["erp_material"][0][7] == pytest.approx(3.25)

    second = {r.table_name: r for r in extract_erp(conninfo, f"sqlite:///{erp_db}")}
    assert raw_snapshot(conninfo) == before  # _load_id included: untouched rows
    for result in second.values():
        assert result.rows_unchanged == result.rows_read
        assert result.rows_inserted == result.rows_updated == result.rows_deleted == 0
    assert second["erp_material_doc"].watermark_from == "2026-04-10T14:00:00"
    assert second["erp_material_doc"].rows_read == 1  # only the doc inside the lookback
    assert_conserved(conninfo)


def test_late_document_inside_lookback_is_picked_up(warehouse, erp_db):
    conninfo = warehouse.conninfo()
    extract_erp(conninfo, f"sqlite:///{erp_db}", tables=["erp_material_doc"])
    # committed after the first run, but entered before its watermark
    insert(erp_db, "erp_material_doc", [
        doc("4900000003", "2026-04-12", "09:15:00"),  # 5 h before the watermark
        doc("4900000004", "2026-04-01", "09:15:00"),  # far outside the 48 h lookback
    ])
    (result,) = extract_erp(conninfo, f"sqlite:///{erp_db}", tables=["erp_material_doc"])
    assert (result.rows_read, result.rows_inserted, result.rows_unchanged) == (2, 1, 1)
    with psycopg.connect(conninfo) as conn:
        docs = conn.execute("select mblnr from raw.erp_material_doc order by 1").fetchall()
    assert [d for (d,) in docs] == ["4900000001", "4900000001", "4900000002", "4900000003"]
    assert_conserved(conninfo)


def test_bad_rows_quarantined_and_full_table_deletes_absent_keys(warehouse, erp_db):
    conninfo = warehouse.conninfo()
    insert(erp_db, "erp_material_doc", [
        doc("4900000005", "2026-04-11", "10:00:00", menge="ten"),
        doc("4900000002", "2026-04-12", "14:00:00"),  # same key as an earlier row
    ])
    results = {r.table_name: r for r in extract_erp(conninfo, f"sqlite:///{erp_db}")}
    docs = results["erp_material_doc"]
    assert (docs.rows_read, docs.rows_loaded, docs.rows_quarantined) == (5, 3, 2)
    with psycopg.connect(conninfo) as conn:
        rules = conn.execute(
            "select rule, reason, source_ref from quarantine.erp_material_doc order by rule"
        ).fetchall()
    assert rules[0][0] == "duplicate_key_in_batch"
    assert "mblnr=4900000002" in rules[0][2]
    assert rules[1][0] == "type:numeric" and "menge = 'ten'" in rules[1][1]

    with sqlite3.connect(erp_db) as conn:
        conn.execute("delete from erp_user where usnam = 'ZHANG.M'")
    (users,) = extract_erp(conninfo, f"sqlite:///{erp_db}", tables=["erp_user"])
    assert (users.rows_deleted, users.rows_unchanged) == (1, 1)
    assert_conserved(conninfo)


def test_an_empty_read_of_a_full_table_keeps_the_previous_snapshot(warehouse, erp_db):
    conninfo = warehouse.conninfo()
    extract_erp(conninfo, f"sqlite:///{erp_db}", tables=["erp_user"])
    with sqlite3.connect(erp_db) as conn:  # a replica caught mid-refresh
        conn.execute("delete from erp_user")
    (users,) = extract_erp(conninfo, f"sqlite:///{erp_db}", tables=["erp_user"])
    assert (users.status, users.rows_read, users.rows_deleted) == ("refused_empty", 0, 0)
    assert "raw.erp_user holds 2 rows" in users.message
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("select usnam from raw.erp_user order by 1").fetchall() == [("LI.WEI",), ("ZHANG.M",)]
    summary = report.collect(conninfo)
    assert [(r["table_name"], r["loads"]) for r in summary["refused_loads"]] == [("erp_user", 1)]
    assert "erp_user" in report.format_text(summary).split("Refused")[1]
    assert_conserved(conninfo)
