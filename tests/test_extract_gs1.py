"""GS1 barcodes of MES events and WMS tasks, parsed into raw.gs1_barcodes on the
real embedded PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from shrinkwatch.demo import gs1
from shrinkwatch.extract.barcodes import parse_new_barcodes
from shrinkwatch.extract.ledger import unconserved_loads
from shrinkwatch.extract.warehouse import ensure_schemas

GTIN = gs1.gtin13("690123", 4567).zfill(14)
PCS = gs1.pack_elements(GTIN, "B2604120A7", 25, "pcs")
KG = gs1.pack_elements(gs1.gtin13("690123", 42), "B2604139C1", 25, "kg")
WRONG_CHECK_DIGIT = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)


def insert(conn: psycopg.Connection, table: str, column: str, barcodes: list[str | None]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into raw.{table} (event_id, {column}) values (%s, %s)"
            if table.startswith("mes_") else
            f"insert into raw.{table} (task_id, {column}) values (%s, %s)",
            [(f"{table}-{i}", barcode) for i, barcode in enumerate(barcodes)],
        )


def rows(conninfo: str) -> dict[str, tuple]:
    with psycopg.connect(conninfo) as conn:
        found = conn.execute(
            "select barcode, is_valid, gtin, batch, quantity, error, _load_id from raw.gs1_barcodes"
        ).fetchall()
    return {barcode: tuple(rest) for barcode, *rest in found}


def ledger(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []
        return conn.execute(
            "select load_id, system, table_name, status, rows_read, rows_loaded, rows_quarantined "
            "from ops.load_ledger order by load_id"
        ).fetchall()


@pytest.fixture
def conninfo(warehouse) -> str:
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    return conninfo


def test_bracketed_and_raw_barcodes_parse_and_defects_are_kept(conninfo):
    bracketed, raw = gs1.bracketed(PCS), gs1.raw_scan(PCS)
    assert gs1.FNC1 in raw
    wrong = gs1.bracketed([("01", WRONG_CHECK_DIGIT), ("10", "B2604120A7"), ("30", "25")])
    with psycopg.connect(conninfo) as conn:
        insert(conn, "mes_consumptions", "barcode", [bracketed, raw, wrong, None, ""])
        insert(conn, "mes_scrap", "barcode", [bracketed, gs1.raw_scan(KG)])
        insert(conn, "mes_line_returns", "barcode", ["(37)12"])
        insert(conn, "mes_outsourcing", "barcode", ["not-a-barcode"])
        insert(conn, "wms_task", "scanned_barcode", [raw, "  ", None])

    result = parse_new_barcodes(conninfo, chunk_rows=2)  # several chunks
    assert (result.system, result.table_name, result.status) == ("mes", "gs1_barcodes", "loaded")
    assert (result.rows_read, result.rows_loaded, result.rows_inserted) == (6, 6, 6)
    assert result.message == "2 not valid GS1 (is_valid false, see error)"

    parsed = rows(conninfo)
    assert set(parsed) == {bracketed, raw, wrong, gs1.raw_scan(KG), "(37)12", "not-a-barcode"}
    assert parsed[bracketed] == (True, GTIN, "B2604120A7", Decimal(25), None, result.load_id)
    assert parsed[raw] == parsed[bracketed]
    # a net weight (3103) is not a count: no quantity
    assert parsed[gs1.raw_scan(KG)][:5] == (True, KG[0][1], "B2604139C1", None, None)
    assert parsed["(37)12"][:5] == (True, None, None, Decimal(12), None)

    is_valid, gtin, batch, _, error, _ = parsed[wrong]
    assert (is_valid, gtin, batch) == (False, WRONG_CHECK_DIGIT, "B2604120A7")
    assert "check digit" in error and WRONG_CHECK_DIGIT in error
    is_valid, gtin, _, _, error, _ = parsed["not-a-barcode"]
    assert (is_valid, gtin) == (False, None) and error.startswith("not a GS1 element string")
    assert [row[1:] for row in ledger(conninfo)] == [("mes", "gs1_barcodes", "loaded", 6, 6, 0)]


def test_rerun_writes_nothing_and_only_new_barcodes_are_parsed_later(conninfo):
    with psycopg.connect(conninfo) as conn:
        insert(conn, "mes_consumptions", "barcode", [gs1.bracketed(PCS)])
    first = parse_new_barcodes(conninfo)
    assert first.rows_read == 1

    assert parse_new_barcodes(conninfo) is None  # nothing new: no row, no ledger row
    assert len(ledger(conninfo)) == 1

    with psycopg.connect(conninfo) as conn:
        insert(conn, "wms_task", "scanned_barcode", [gs1.raw_scan(PCS), gs1.bracketed(PCS)])
    second = parse_new_barcodes(conninfo)
    assert (second.rows_read, second.rows_loaded) == (1, 1)
    loads = {barcode: row[-1] for barcode, row in rows(conninfo).items()}
    assert loads == {gs1.bracketed(PCS): first.load_id, gs1.raw_scan(PCS): second.load_id}
    assert len(ledger(conninfo)) == 2
