"""The plant's location map into raw.location_map, on the real embedded PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from helpers.location_map import HEADER, LINE_ROW, LINE_ZONE_ROW, ZONE_ROW, write
from shrinkwatch.extract.ledger import unconserved_loads
from shrinkwatch.extract.location_map import load_location_map


def query(conninfo: str, sql: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql).fetchall()


def assert_conserved(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []


def test_load_skip_unchanged_and_replace_on_change(warehouse, tmp_path):
    conninfo = warehouse.conninfo()
    path = write(tmp_path / "location_map.csv", [ZONE_ROW, LINE_ZONE_ROW, LINE_ROW])
    first = load_location_map(conninfo, path)
    assert (first.system, first.table_name, first.file_name, first.status) == (
        "wms", "location_map", "location_map.csv", "loaded",
    )
    assert (first.rows_read, first.rows_loaded, first.rows_inserted, first.rows_quarantined) == (3, 3, 3, 0)
    assert first.message == "decoded as utf-8-sig"
    everything = "select werks, lgort, warehouse, zone, mes_line, mes_work_center, description, _load_id " \
                 "from raw.location_map order by lgort, zone nulls last"
    assert query(conninfo, everything) == [
        ("1000", "0001", "WH01", "A", None, None, "原材料库 A区", first.load_id),
        ("1000", "0100", "WH01", "LINE", None, None, "线边库 L1", first.load_id),
        ("1000", "0100", None, None, "L1", "WC10", "产线 L1 工作中心 WC10", first.load_id),
    ]

    # unchanged: passed over without a ledger row, as every run reads the map
    assert load_location_map(conninfo, path) is None
    assert query(conninfo, "select count(*) from ops.load_ledger where table_name = 'location_map'") == [(1,)]
    assert {row[-1] for row in query(conninfo, everything)} == {first.load_id}

    write(path, [ZONE_ROW, LINE_ROW.replace("WC10", "WC20")], bom=False)  # edited: one row less
    changed = load_location_map(conninfo, path)
    assert (changed.status, changed.rows_inserted, changed.rows_deleted) == ("loaded", 2, 3)
    assert changed.message == "decoded as utf-8-sig"  # a BOM is optional
    assert [(row[5], row[-1]) for row in query(conninfo, everything)] == [
        (None, changed.load_id), ("WC20", changed.load_id),
    ]

    write(path, [ZONE_ROW, LINE_ZONE_ROW, LINE_ROW])  # reverted to the first content: reloaded
    assert load_location_map(conninfo, path).rows_inserted == 3
    assert_conserved(conninfo)


def test_bad_rows_are_quarantined_and_a_map_without_valid_rows_keeps_the_previous(warehouse, tmp_path):
    conninfo = warehouse.conninfo()
    path = write(tmp_path / "location_map.csv", [
        ZONE_ROW, ",0002,WH01,B,,,no plant", "1000,0003,WH01", LINE_ROW,
    ])
    result = load_location_map(conninfo, path)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    assert query(conninfo, "select source_ref, rule, reason from quarantine.location_map order by 1") == [
        ("location_map.csv:3", "not_null_key", "key column werks is empty"),
        ("location_map.csv:4", "column_count", "expected 7 fields as in the header, got 3"),
    ]
    assert query(conninfo, "select count(*) from raw.location_map") == [(2,)]

    write(path, [ZONE_ROW, LINE_ROW], header=HEADER.replace(",description", ""))
    broken = load_location_map(conninfo, path)
    assert (broken.rows_read, broken.rows_loaded, broken.rows_quarantined) == (2, 0, 2)
    assert "no valid row, so the previous rows were kept" in broken.message
    assert query(conninfo, f"select rule, reason from quarantine.location_map where load_id = {broken.load_id}") == [
        ("missing_column", "header lacks contract column(s) description"),
    ] * 2
    assert query(conninfo, "select distinct _load_id from raw.location_map") == [(result.load_id,)]
    assert_conserved(conninfo)


def test_a_missing_map_is_a_clear_error(warehouse, tmp_path):
    with pytest.raises(FileNotFoundError, match="SHRINKWATCH_LOCATION_MAP"):
        load_location_map(warehouse.conninfo(), tmp_path / "location_map.csv")
