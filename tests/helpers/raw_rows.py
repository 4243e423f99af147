"""The small hand-written raw data set the dbt project and GX tests build on,
and the means to write raw rows the way the extractors leave them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

from shrinkwatch import contracts
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.postgres import PgTarget

# Tables the pipeline derives itself (parsed barcodes, the location map), written
# into raw beside the contract tables by another step, with exactly this DDL.
DERIVED_DDL = """
create table raw.gs1_barcodes (
    barcode text primary key, is_valid boolean not null, gtin text, batch text,
    quantity numeric, error text, _load_id bigint
);
create table raw.location_map (
    werks text, lgort text, warehouse text, zone text, mes_line text,
    mes_work_center text, description text, _load_id bigint
);
"""

LOAD_ID = 7


def epoch_ms(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1000)


def insert_raw(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
    for row in rows:
        row = {"_load_id": LOAD_ID, **row}
        conn.execute(
            sql.SQL("insert into {}.{} ({}) values ({})").format(
                sql.Identifier(contracts.RAW_SCHEMA),
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            list(row.values()),
        )


def wms_file(entity: str, day: str, seq: int, line: int) -> dict:
    suffix = f"_{seq}" if seq else ""
    return {
        "_source_file": f"wms_{entity}_{day.replace('-', '')}{suffix}.csv",
        "_file_date": date.fromisoformat(day),
        "_file_seq": seq,
        "_line_no": line,
    }


M1, M2 = "000000000010001234", "000000000010005678"


def create_raw_tables(conn: psycopg.Connection) -> None:
    """The empty raw, derived and ops tables the extractors would create."""
    conn.execute(f"create schema {contracts.RAW_SCHEMA}")
    for table in contracts.TABLES:
        conn.execute(contracts.raw_table_ddl(table))
    conn.execute(DERIVED_DDL)
    ensure_schemas(conn)  # ops: the ledger and GX results the data-quality mart reads


def load_raw(target: PgTarget) -> None:
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        create_raw_tables(conn)

        insert_raw(
            conn,
            "erp_material",
            [
                {
                    "matnr": M1,
                    "maktx": "不锈钢螺栓",
                    "meins": "EA",
                    "critical": "X",
                    "std_price": 1.25,
                    "changed_at": datetime(2026, 4, 1, 10, 0),
                },
                {
                    "matnr": M2,
                    "maktx": "树脂",
                    "meins": "KG",
                    "critical": "",
                    "std_price": 30,
                    "changed_at": datetime(2026, 4, 1, 11, 0),
                },
            ],
        )
        insert_raw(conn, "erp_user", [{"usnam": "ZHANGW", "name": "Zhang Wei", "werks": "1000"}])
        doc = {
            "mjahr": 2026,
            "zeile": 1,
            "shkzg": "H",
            "bwart": "261",
            "usnam": "ZHANGW",
            "lgort": "0001",
            "menge": 10,
            "meins": "EA",
            "cpudt": date(2026, 4, 12),
        }
        insert_raw(
            conn,
            "erp_material_doc",
            [
                {**doc, "mblnr": "4900000001", "matnr": M1, "werks": "1000", "cputm": "09:00:00"},
                # 07:00 in Shanghai is the previous UTC day
                {**doc, "mblnr": "4900000002", "matnr": M2, "werks": "1000", "cputm": "07:00:00"},
                {**doc, "mblnr": "4900000003", "matnr": M1, "werks": "2000", "cputm": "10:00:00"},
                {**doc, "mblnr": "4900000004", "matnr": M1, "werks": "1000", "cputm": "12:00:00"},
            ],
        )

        insert_raw(
            conn,
            "wms_item",
            [
                {
                    "sku": "SKU-10001234",
                    "description": "old",
                    "uom": "EA",
                    **wms_file("item", "2026-04-11", 0, 2),
                },
                {
                    "sku": "SKU-10005678",
                    "description": "resin",
                    "uom": "BAG",
                    **wms_file("item", "2026-04-11", 0, 3),
                },
                {
                    "sku": "SKU-10001234",
                    "description": "new",
                    "uom": "EA",
                    **wms_file("item", "2026-04-12", 0, 2),
                },
            ],
        )
        insert_raw(
            conn,
            "wms_bin_stock",
            [
                {
                    "snapshot_at": datetime(2026, 4, 12, 15, 59, 59, tzinfo=UTC),
                    "warehouse": "WH01",
                    "zone": "A",
                    "bin": bin_,
                    "sku": sku,
                    "lot": "lot-b2604120a7",
                    "qty": 3,
                    "uom": "EA",
                    "status": "AVAILABLE",
                    **wms_file("bin_stock", "2026-04-12", 0, line),
                }
                for line, (bin_, sku) in enumerate(
                    [("A-01-01-01", "SKU-10001234"), ("A-01-01-02", "SKU-10005678")], 2
                )
            ],
        )
        task = {"task_type": "LINE_FEED", "sku": "SKU-10001234", "qty": 1, "uom": "EA"}
        insert_raw(
            conn,
            "wms_task",
            [
                {
                    **task,
                    "task_id": "T3",
                    "to_bin": "X-99",
                    "created_at": datetime(2026, 4, 11, 3, tzinfo=UTC),
                    **wms_file("task", "2026-04-11", 0, 2),
                },
                # the 04-12 export came twice: _1 replaces _0, whose T2 is therefore gone
                {
                    **task,
                    "task_id": "T1",
                    "from_bin": "A-01-01-01",
                    "to_bin": "LINE-9",
                    "qty": 9,
                    "created_at": datetime(2026, 4, 12, 2, tzinfo=UTC),
                    **wms_file("task", "2026-04-12", 0, 2),
                },
                {
                    **task,
                    "task_id": "T2",
                    "from_bin": "A-01-01-01",
                    "created_at": datetime(2026, 4, 12, 3, tzinfo=UTC),
                    **wms_file("task", "2026-04-12", 0, 3),
                },
                {
                    **task,
                    "task_id": "T1",
                    "from_bin": "A-01-01-01",
                    "to_bin": "LINE-9",
                    "qty": 2,
                    "created_at": datetime(2026, 4, 12, 2, tzinfo=UTC),
                    **wms_file("task", "2026-04-12", 1, 2),
                },
            ],
        )

        insert_raw(
            conn,
            "mes_work_orders",
            [
                {
                    "order_no": "1000123",
                    "material": "06901234567892",
                    "status": "RUNNING",
                    "released_at": epoch_ms("2026-04-12T00:00:00+00:00"),
                    "updated_at": epoch_ms("2026-04-12T00:00:00+00:00"),
                },
            ],
        )
        insert_raw(
            conn,
            "mes_consumptions",
            [
                {
                    "event_id": f"C-{i}",
                    "order_no": "1000123",
                    "barcode": "(01)06901234567892(10)B2604120A7",
                    "qty": 1,
                    "uom": "pcs",
                    "consumed_at": epoch_ms(at),
                    "updated_at": epoch_ms(at),
                }
                for i, at in enumerate(
                    ["2026-04-12T01:23:45.123+00:00", "2026-04-12T23:59:59+00:00"]
                )
            ],
        )


def table_content(conninfo: str, schema: str, tables: list[str]) -> dict[str, Counter]:
    """Tables as multisets of rows (JSON text), without `_load_id`: which load
    wrote a row is not its content, so two warehouses that loaded the same
    source compare equal however many loads it took, and a row loaded twice
    shows as twice."""
    with psycopg.connect(conninfo) as conn:
        return {
            table: Counter(
                row for (row,) in conn.execute(
                    sql.SQL("select (to_jsonb(t) - '_load_id')::text from {}.{} as t").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
            )
            for table in tables
        }


def raw_content(conninfo: str, system: str) -> dict[str, Counter]:
    """The raw tables of a system's contract, as `table_content` compares them."""
    return table_content(conninfo, contracts.RAW_SCHEMA, [t.name for t in contracts.tables_of(system)])
