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
from shrinkwatch.extract.ledger import LoadsFailed, unconserved_loads


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


def test_values_postgresql_cannot_store_are_quarantined_and_the_read_goes_on(warehouse, erp_source):
    conninfo = warehouse.conninfo()
    insert(erp_source, "erp_material_doc", [
        doc("4900000001", "2026-04-10", "08:00:00"),
        doc("4900000002", "2026-04-10", "09:00:00", menge="١٢"),
        doc("4900000003", "2026-04-10", "10:00:00") | {"dmbtr": "1e999999"},
        doc("4900000004", "2026-04-10", "11:00:00") | {"dmbtr": "NaN"},
        doc("49000\x0000005", "2026-04-10", "12:00:00"),  # NUL in a key
        doc("4900000006", "2026-04-10", "13:00:00") | {"sgtxt": "broken\x00text"},  # NUL in a value
        doc("4900000007", "2026-04-11", "08:00:00"),
    ])
    (docs,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    assert (docs.status, docs.rows_read, docs.rows_loaded, docs.rows_quarantined) == ("loaded", 7, 2, 5)
    assert docs.watermark_to == "2026-04-11T08:00:00"  # the watermark moves past the bad rows
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("select mblnr from raw.erp_material_doc order by 1").fetchall() == [
            ("4900000001",), ("4900000007",),
        ]
        quarantined = conn.execute(
            'select source_ref, rule, reason from quarantine.erp_material_doc order by reason collate "C"'
        ).fetchall()
    assert [(ref, rule) for ref, rule, _ in quarantined] == [
        ("mblnr=4900000003/mjahr=2026/zeile=1", "type:numeric"),
        ("mblnr=4900000004/mjahr=2026/zeile=1", "type:numeric"),
        ("mblnr=49000\\x0000005/mjahr=2026/zeile=1", "type:text"),
        ("mblnr=4900000002/mjahr=2026/zeile=1", "type:numeric"),
        ("mblnr=4900000006/mjahr=2026/zeile=1", "type:text"),
    ]
    assert "PostgreSQL numeric" in quarantined[0][2] and "ASCII digits" in quarantined[3][2]
    assert "NUL" in quarantined[2][2] and "NUL" in quarantined[4][2]

    # the next run goes on: a new document loads, the bad ones re-read in the lookback open nothing new
    insert(erp_source, "erp_material_doc", [doc("4900000008", "2026-04-11", "09:00:00")])
    (rerun,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_material_doc"])
    assert (rerun.status, rerun.rows_inserted, rerun.rows_quarantined) == ("loaded", 1, 5)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("select count(*) from ops.quarantine where resolved_at is null").fetchone() == (5,)
    assert_conserved(conninfo)


def test_a_table_that_fails_to_load_does_not_stop_the_others(warehouse, erp_db):
    conninfo = warehouse.conninfo()
    with sqlite3.connect(erp_db) as conn:  # the ERP dropped a table the contract names
        conn.execute("drop table erp_batch")
    with pytest.raises(LoadsFailed, match=r"erp_batch.*no such table") as failed:
        extract_erp(conninfo, f"sqlite:///{erp_db}")
    loaded = {r.table_name: r for r in failed.value.results}
    assert set(loaded) == {t.name for t in ERP_TABLES} - {"erp_batch"}
    assert loaded["erp_material_doc"].watermark_to == "2026-04-12T14:00:00"
    with psycopg.connect(conninfo) as conn:
        assert conn.execute(
            "select table_name, status from ops.load_ledger where status <> 'loaded'"
        ).fetchall() == [("erp_batch", "failed")]
        assert conn.execute("select count(*) from raw.erp_material_doc").fetchone() == (3,)
    assert_conserved(conninfo)
