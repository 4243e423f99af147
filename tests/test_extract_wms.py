"""WMS extraction from a landing directory into the real embedded PostgreSQL."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from helpers.wms import ITEM_HEADER, STOCK_HEADER, TASK_HEADER, stock, task, write
from shrinkwatch import report
from shrinkwatch.extract.ledger import LoadsFailed, unconserved_loads
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.extract.wms import extract_wms


def query(conninfo: str, sql: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql).fetchall()


def assert_conserved(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []


def test_duplicate_file_is_skipped_and_recorded(warehouse, landing):
    conninfo = warehouse.conninfo()
    original = write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T2")])
    (first,) = extract_wms(conninfo, landing)
    assert (first.status, first.rows_read, first.rows_loaded, first.rows_inserted) == (
        "loaded", 2, 2, 2,
    )
    shutil.copy(original, landing / "wms_task_20260412_1.csv")  # the day's export, resent
    results = extract_wms(conninfo, landing)
    assert [(r.file_name, r.status, r.rows_read) for r in results] == [
        ("wms_task_20260412_1.csv", "skipped_duplicate", 0),
    ]
    assert query(conninfo, "select count(*) from raw.wms_task") == [(2,)]
    # files already decided on are passed over quietly: the ledger does not grow per run
    assert extract_wms(conninfo, landing) == []
    ledger = query(conninfo, "select status, file_checksum from ops.load_ledger order by load_id")
    assert [s for s, _ in ledger] == ["loaded", "skipped_duplicate"]
    assert len({c for _, c in ledger}) == 1 and len(ledger[0][1]) == 64
    assert_conserved(conninfo)


def test_later_seq_replaces_and_earlier_seq_is_superseded(warehouse, landing):
    conninfo = warehouse.conninfo()
    lines = [stock("A-01-01-01", "5"), stock("A-01-01-02", "6"), stock("A-01-01-03", "7")]
    write(landing, "wms_bin_stock_20260412.csv", STOCK_HEADER, lines)
    write(landing, "wms_bin_stock_20260411.csv", STOCK_HEADER, lines[:1])  # another day stays
    extract_wms(conninfo, landing)
    write(landing, "wms_bin_stock_20260412_2.csv", STOCK_HEADER, [stock("A-01-01-01", "4")])
    results = {r.file_name: r for r in extract_wms(conninfo, landing)}
    replacing = results["wms_bin_stock_20260412_2.csv"]
    assert (replacing.status, replacing.rows_inserted, replacing.rows_deleted) == ("loaded", 1, 3)
    assert query(
        conninfo, "select _file_date::text, _file_seq, bin, qty from raw.wms_bin_stock order by 1"
    ) == [("2026-04-11", 0, "A-01-01-01", 5), ("2026-04-12", 2, "A-01-01-01", 4)]

    # seq 1 arrives late, after seq 2 was loaded: it must not bring old rows back
    write(landing, "wms_bin_stock_20260412_1.csv", STOCK_HEADER, lines[1:])
    results = {r.file_name: r for r in extract_wms(conninfo, landing)}
    assert results["wms_bin_stock_20260412_1.csv"].status == "skipped_superseded"
    assert query(conninfo, "select count(*) from raw.wms_bin_stock") == [(2,)]
    assert_conserved(conninfo)


def test_gb18030_and_bom_files_decode(warehouse, landing):
    conninfo = warehouse.conninfo()
    write(landing, "wms_item_20260412.csv", ITEM_HEADER,
          ["SKU-10001234,10001234,06901234567892,不锈钢螺栓 Φ12,BAG,25,KG,12x100mm SS304"],
          encoding="gb18030")
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1")], encoding="utf-8-sig")
    results = {r.table_name: r for r in extract_wms(conninfo, landing)}
    assert results["wms_item"].message == "decoded as gb18030"
    assert results["wms_task"].message == "decoded as utf-8-sig"
    assert query(conninfo, "select description, units_per_uom from raw.wms_item") == [
        ("不锈钢螺栓 Φ12", 25)
    ]
    assert query(conninfo, "select task_id, _line_no from raw.wms_task") == [("T1", 2)]
    assert_conserved(conninfo)


def test_undecodable_file_is_quarantined_while_others_load(warehouse, landing):
    conninfo = warehouse.conninfo()
    broken = TASK_HEADER.encode() + b"\nT9,PICK,SKU-1,\xff\xfe,,,1,EA\n\nT10,PICK\n"
    (landing / "wms_task_20260412.csv").write_bytes(broken)
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T1")])
    results = {r.file_name: r for r in extract_wms(conninfo, landing)}
    bad = results["wms_task_20260412.csv"]
    assert (bad.rows_read, bad.rows_loaded, bad.rows_quarantined) == (2, 0, 2)
    assert results["wms_task_20260413.csv"].rows_loaded == 1
    rows = query(conninfo, "select source_ref, rule, reason, raw_record->>'line' "
                           "from quarantine.wms_task order by 1")
    assert [(ref, rule) for ref, rule, _, _ in rows] == [
        ("wms_task_20260412.csv:2", "encoding"), ("wms_task_20260412.csv:4", "encoding"),
    ]
    assert "utf-8-sig" in rows[0][2] and "gb18030" in rows[0][2] and "line 2" in rows[0][2]
    assert rows[0][3] == "T9,PICK,SKU-1,\\xff\\xfe,,,1,EA"
    assert_conserved(conninfo)


def test_bad_rows_are_quarantined_while_the_rest_of_the_file_loads(warehouse, landing):
    conninfo = warehouse.conninfo()
    write(landing, "wms_task_20260412.csv", TASK_HEADER + ",extra_col", [
        task("T1") + ",x", task("T2", qty="abc") + ",x", task("T3") + ",x",
        "T4,PICK,too,few", task("T1") + ",x", task("") + ",x",
    ])
    count_lines = ["C1,2026-04-12T02:00:00Z"]
    write(landing, "wms_cycle_count_20260412.csv", "count_id,counted_at", count_lines)
    (landing / "wms_task_export.csv").write_text("task_id\nT1\n")
    results = {r.file_name: r for r in extract_wms(conninfo, landing)}

    tasks = results["wms_task_20260412.csv"]
    assert (tasks.rows_read, tasks.rows_loaded, tasks.rows_quarantined) == (6, 2, 4)
    assert "ignored extra columns: extra_col" in tasks.message
    assert query(conninfo, "select rule, reason from quarantine.wms_task order by source_ref") == [
        ("type:numeric", "qty = 'abc' is not a number"),
        ("column_count", "expected 15 fields as in the header, got 4"),
        ("duplicate_key_in_batch", "key (task_id) already read at wms_task_20260412.csv:2"),
        ("not_null_key", "key column task_id is empty"),
    ]
    assert query(conninfo, "select task_id, qty from raw.wms_task order by 1") == [
        ("T1", 2), ("T3", 2),
    ]
    counts = results["wms_cycle_count_20260412.csv"]
    assert (counts.rows_read, counts.rows_quarantined) == (1, 1)
    assert query(conninfo, "select rule, reason from quarantine.wms_cycle_count")[0][0] == (
        "missing_column"
    )
    misnamed = results["wms_task_export.csv"]
    assert misnamed.status == "failed" and "wms_<entity>_<YYYYMMDD>" in misnamed.message
    # a misnamed file is reported once, not on every run
    assert "wms_task_export.csv" not in {r.file_name for r in extract_wms(conninfo, landing)}
    assert_conserved(conninfo)


def test_a_snapshot_row_without_lot_loads_and_a_repeat_of_it_is_quarantined(warehouse, landing):
    # a material not managed in batches has no lot: the contract's key column may be empty
    conninfo = warehouse.conninfo()
    no_lot = "2026-04-12T16:00:00Z,WH01,A,A-01-01-09,SKU-10005678,,12,PCS,AVAILABLE"
    write(landing, "wms_bin_stock_20260412.csv", STOCK_HEADER, [stock("A-01-01-01", "3"), no_lot, no_lot])
    (result,) = extract_wms(conninfo, landing)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    assert query(conninfo, "select bin, lot, qty from raw.wms_bin_stock where lot is null") == [
        ("A-01-01-09", None, 12),
    ]
    assert query(conninfo, "select rule, reason from quarantine.wms_bin_stock") == [
        ("duplicate_key_in_batch", "key (snapshot_at, warehouse, bin, sku, lot, status) already read at "
                                   "wms_bin_stock_20260412.csv:3"),
    ]
    assert_conserved(conninfo)


def test_an_empty_re_export_keeps_the_day_and_says_why(warehouse, landing):
    conninfo = warehouse.conninfo()
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), task("T2")])
    extract_wms(conninfo, landing)
    write(landing, "wms_task_20260412_2.csv", TASK_HEADER, [])  # header only
    (landing / "wms_task_20260412_3.csv").write_bytes(b"")
    (landing / "wms_task_20260412_4.csv").write_text(f"{task('T1')}\n{task('T2')}\n")  # header lost
    results = extract_wms(conninfo, landing)
    assert [(r.file_name, r.status, r.rows_read, r.rows_deleted) for r in results] == [
        ("wms_task_20260412_2.csv", "refused_empty", 0, 0),
        ("wms_task_20260412_3.csv", "refused_empty", 0, 0),
        # its first record is taken for the header, so the second is quarantined for missing columns
        ("wms_task_20260412_4.csv", "loaded", 1, 0),
    ]
    assert query(conninfo, "select source_ref, rule from quarantine.wms_task") == [
        ("wms_task_20260412_4.csv:2", "missing_column"),
    ]
    assert "2 rows of the day's earlier exports were kept" in results[0].message
    assert query(conninfo, "select task_id, _file_seq from raw.wms_task order by 1") == [("T1", 0), ("T2", 0)]
    refused = {(r["table_name"], r["file_name"]) for r in report.collect(conninfo)["refused_loads"]}
    assert refused == {("wms_task", "wms_task_20260412_2.csv"), ("wms_task", "wms_task_20260412_3.csv")}
    assert "wms_task_20260412_2.csv" in report.format_text(report.collect(conninfo))
    assert_conserved(conninfo)


def test_an_item_master_equal_to_an_earlier_days_is_that_days_export(warehouse, landing):
    conninfo = warehouse.conninfo()
    item = "SKU-10001234,10001234,06901234567892,螺栓,BAG,{},KG,12x100mm SS304"
    monday = write(landing, "wms_item_20260412.csv", ITEM_HEADER, [item.format(25)])
    write(landing, "wms_item_20260413.csv", ITEM_HEADER, [item.format(20)])
    shutil.copy(monday, landing / "wms_item_20260414.csv")  # the pack size went back to 25
    results = extract_wms(conninfo, landing)
    assert [(r.file_name, r.status) for r in results] == [
        ("wms_item_20260412.csv", "loaded"), ("wms_item_20260413.csv", "loaded"),
        ("wms_item_20260414.csv", "loaded"),
    ]
    assert query(conninfo, "select _file_date::text, units_per_uom from raw.wms_item order by 1") == [
        ("2026-04-12", 25), ("2026-04-13", 20), ("2026-04-14", 25),
    ]
    assert_conserved(conninfo)


def test_a_re_export_equal_to_a_superseded_one_replaces_the_day_again(warehouse, landing):
    conninfo = warehouse.conninfo()
    first = write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1", qty="2")])
    extract_wms(conninfo, landing)
    write(landing, "wms_task_20260412_1.csv", TASK_HEADER, [task("T1", qty="3")])
    extract_wms(conninfo, landing)
    shutil.copy(first, landing / "wms_task_20260412_2.csv")  # the WMS took the correction back
    (again,) = extract_wms(conninfo, landing)
    assert (again.file_name, again.status, again.rows_inserted, again.rows_deleted) == (
        "wms_task_20260412_2.csv", "loaded", 1, 1,
    )
    assert query(conninfo, "select task_id, qty, _file_seq from raw.wms_task") == [("T1", 2, 2)]
    assert_conserved(conninfo)


def test_values_postgresql_cannot_store_are_quarantined_and_the_rest_loads(warehouse, landing):
    conninfo = warehouse.conninfo()
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [
        task("T1"),
        task("T2", qty="١٢"),  # Arabic-Indic digits: Python's Decimal reads them, PostgreSQL does not
        task("T3", qty="1e999999"),  # a finite Decimal beyond PostgreSQL numeric's range
        task("T4", qty="Infinity"),
        task("T5") + "x" * 140_000,  # a field longer than the csv module's field size limit
        task("T6").replace("RF-07", "RF\x0007"),  # PostgreSQL text cannot hold NUL
        task("T7").replace("2026-04-12T01:23:45Z", "2026-04-12T01:23:45+20:00"),  # offset beyond ±15:59
        task("T8"),
    ])
    (result,) = extract_wms(conninfo, landing)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 8, 2, 6)
    assert query(conninfo, "select task_id from raw.wms_task order by 1") == [("T1",), ("T8",)]
    quarantined = query(conninfo, "select source_ref, rule, severity, reason from quarantine.wms_task order by 1")
    assert [(ref, rule, severity) for ref, rule, severity, _ in quarantined] == [
        ("wms_task_20260412.csv:3", "type:numeric", "critical"),
        ("wms_task_20260412.csv:4", "type:numeric", "critical"),
        ("wms_task_20260412.csv:5", "type:numeric", "critical"),
        ("wms_task_20260412.csv:6", "field_size", "critical"),
        ("wms_task_20260412.csv:7", "type:text", "critical"),
        ("wms_task_20260412.csv:8", "type:timestamptz", "critical"),
    ]
    reasons = [reason for _, _, _, reason in quarantined]
    assert "qty = '١٢'" in reasons[0] and "ASCII digits" in reasons[0]
    assert "qty = '1e999999'" in reasons[1] and "PostgreSQL numeric" in reasons[1]
    assert "not a finite number" in reasons[2]
    assert "longer than 131,072 characters" in reasons[3]
    assert "NUL" in reasons[4]
    assert "created_at" in reasons[5] and "offset" in reasons[5]
    # the next file of the same entity loads as usual
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T9")])
    assert [(r.file_name, r.status) for r in extract_wms(conninfo, landing)] == [("wms_task_20260413.csv", "loaded")]
    assert_conserved(conninfo)


def test_a_file_name_raw_cannot_store_is_rejected_and_the_files_after_it_load(warehouse, landing):
    conninfo = warehouse.conninfo()
    write(landing, "wms_task_20260412_2147483648.csv", TASK_HEADER, [task("T1")])  # seq above 2^31 - 1
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T2")])
    results = {r.file_name: r for r in extract_wms(conninfo, landing)}
    rejected = results["wms_task_20260412_2147483648.csv"]
    assert rejected.status == "failed"
    assert "sequence 2147483648" in rejected.message and "2147483647" in rejected.message
    assert results["wms_task_20260413.csv"].status == "loaded"
    assert query(conninfo, "select task_id from raw.wms_task") == [("T2",)]
    # decided for good: the next run neither retries it nor stops at it
    write(landing, "wms_task_20260414.csv", TASK_HEADER, [task("T3")])
    assert [(r.file_name, r.status) for r in extract_wms(conninfo, landing)] == [("wms_task_20260414.csv", "loaded")]
    assert_conserved(conninfo)


def test_an_unmatched_quote_quarantines_its_line_and_every_later_line_loads(warehouse, landing):
    conninfo = warehouse.conninfo()
    lines = [task(f"T{n}") for n in range(1, 13)]
    lines[5] = lines[5].replace("RF-07", '"RF-07')  # the quote never closes on its line
    path = write(landing, "wms_task_20260412.csv", TASK_HEADER, lines)
    (result,) = extract_wms(conninfo, landing)

    # every physical data line of the file, counted here from its bytes
    data_lines = [n for n, line in enumerate(path.read_bytes().split(b"\n"), start=1) if n > 1 and line.strip()]
    staged = [n for (n,) in query(conninfo, "select _line_no from raw.wms_task")]
    quarantined = query(conninfo, "select source_ref, rule, severity, reason, raw_record->>'line' "
                                  "from quarantine.wms_task")
    assert len(data_lines) == 12
    assert sorted(staged + [int(ref.rsplit(":", 1)[1]) for ref, *_ in quarantined]) == data_lines
    assert [(ref, rule, severity) for ref, rule, severity, _, _ in quarantined] == [
        ("wms_task_20260412.csv:7", "unbalanced_quote", "critical"),
    ]
    assert "not closed on its line" in quarantined[0][3]
    assert quarantined[0][4] == lines[5]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (12, 11, 1)
    assert_conserved(conninfo)


def test_a_file_that_fails_to_load_does_not_stop_the_files_after_it(warehouse, landing):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:  # an unexpected refusal by the warehouse
        ensure_schemas(conn)
        conn.execute("alter table raw.wms_task add constraint no_t9 check (task_id <> 'T9')")
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T8"), task("T9")])
    write(landing, "wms_task_20260413.csv", TASK_HEADER, [task("T10")])
    with pytest.raises(LoadsFailed, match=r"wms_task_20260412\.csv.*no_t9") as failed:
        extract_wms(conninfo, landing)
    assert [(r.file_name, r.status) for r in failed.value.results] == [("wms_task_20260413.csv", "loaded")]
    assert query(conninfo, "select file_name, status from ops.load_ledger order by load_id") == [
        ("wms_task_20260412.csv", "failed"), ("wms_task_20260413.csv", "loaded"),
    ]
    # the failed file is tried again on the next run, and a later file still loads beside it
    write(landing, "wms_task_20260414.csv", TASK_HEADER, [task("T11")])
    with pytest.raises(LoadsFailed) as failed:
        extract_wms(conninfo, landing)
    assert [r.file_name for r in failed.value.results] == ["wms_task_20260414.csv"]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("alter table raw.wms_task drop constraint no_t9")
    assert [(r.file_name, r.status) for r in extract_wms(conninfo, landing)] == [("wms_task_20260412.csv", "loaded")]
    assert query(conninfo, "select task_id from raw.wms_task order by 1") == [
        ("T10",), ("T11",), ("T8",), ("T9",),
    ]
    assert_conserved(conninfo)
