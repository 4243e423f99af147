"""The source contracts of ../shared/contracts/README.md, as data.

One declaration per source table serves everyone who needs its shape: the demo
plant writes it, the extractors validate and load it, the raw DDL is generated
from it and the dbt sources describe it. Change a table here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Logical column types. Each maps to one PostgreSQL type in `raw` and one parser
# in the extractors; the source's own representation is kept (ERP local
# timestamps stay local, MES epoch milliseconds stay integers) so that raw is an
# honest copy and staging does all the interpretation.
ColumnType = Literal["text", "int", "numeric", "date", "time", "timestamp", "timestamptz", "epoch_ms"]

PG_TYPES: dict[str, str] = {
    "text": "text",
    "int": "integer",
    "numeric": "numeric",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "epoch_ms": "bigint",
}

System = Literal["erp", "wms", "mes"]

# How a table is re-read:
#   incremental - rows whose watermark columns are at or after the last watermark
#                 minus a lookback are re-read and upserted by key;
#   full        - the whole table is re-read and replaces raw (small masters);
#   file        - WMS: one file per entity and export day; a later _seq replaces
#                 the earlier file's rows, a file seen before is skipped;
#   replace     - a configuration file (the location map): a changed file replaces
#                 the whole table; `key` names the columns every row needs, which
#                 need not be unique (the map's consistency is judged downstream).
Strategy = Literal["incremental", "full", "file", "replace"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "text"
    description: str = ""


@dataclass(frozen=True)
class SourceTable:
    system: System
    name: str  # the raw table name, e.g. erp_material_doc
    source_name: str  # what the source calls it: ERP table, WMS entity, MES resource
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    strategy: Strategy
    watermark: tuple[str, ...] = ()
    description: str = ""
    # newest version of a key wins inside one extract (MES corrections)
    version_column: str | None = None
    extra_raw_columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def raw_columns(self) -> tuple[Column, ...]:
        return self.columns + self.extra_raw_columns + LOAD_COLUMNS


def _cols(spec: str) -> tuple[Column, ...]:
    """`name:type` pairs separated by spaces; the type defaults to text."""
    columns = []
    for item in spec.split():
        name, _, type_ = item.partition(":")
        columns.append(Column(name, type_ or "text"))  # type: ignore[arg-type]
    return tuple(columns)


LOAD_COLUMNS = (Column("_load_id", "int", "ops.load_ledger.load_id of the load that wrote the row"),)

WMS_FILE_COLUMNS = (
    Column("_source_file", "text", "landing file the row came from"),
    Column("_file_date", "date", "export day from the file name"),
    Column("_file_seq", "int", "export sequence from the file name (0 when absent)"),
    Column("_line_no", "int", "physical line of the row in its file, header = 1"),
)

ERP_TABLES = (
    SourceTable(
        "erp", "erp_material", "erp_material",
        _cols("matnr maktx meins matkl spec gtin critical std_price:numeric changed_at:timestamp"),
        key=("matnr",), strategy="incremental", watermark=("changed_at",),
        description="Material master (MARA/MAKT): one row per material.",
    ),
    SourceTable(
        "erp", "erp_batch", "erp_batch",
        _cols("matnr charg licha hsdat:date vfdat:date created_at:timestamp"),
        key=("matnr", "charg"), strategy="incremental", watermark=("created_at",),
        description="Batch master (MCH1): one row per material and batch.",
    ),
    SourceTable(
        "erp", "erp_material_doc", "erp_material_doc",
        _cols(
            "mblnr mjahr:int zeile:int bwart shkzg matnr werks lgort charg menge:numeric meins "
            "erfmg:numeric erfme budat:date cpudt:date cputm:time usnam aufnr ebeln vbeln lifnr "
            "grund sgtxt smbln smblp:int dmbtr:numeric"
        ),
        key=("mblnr", "mjahr", "zeile"), strategy="incremental", watermark=("cpudt", "cputm"),
        description="Material document lines (MATDOC/MSEG): every goods movement.",
    ),
    SourceTable(
        "erp", "erp_phys_inv", "erp_phys_inv",
        _cols(
            "iblnr zeili:int werks lgort matnr charg buchm:numeric menge:numeric meins zldat:date "
            "counted_by posted_by mblnr"
        ),
        key=("iblnr", "zeili"), strategy="full",
        description="Physical inventory document lines (IKPF/ISEG): book vs counted quantity.",
    ),
    SourceTable(
        "erp", "erp_release", "erp_release",
        _cols(
            "release_id matnr charg menge:numeric meins requested_by requested_at:timestamp "
            "approved_by approved_at:timestamp mblnr status"
        ),
        key=("release_id",), strategy="full",
        description="Release requests for critical material, with their approver.",
    ),
    SourceTable(
        "erp", "erp_user", "erp_user",
        _cols("usnam name department werks wms_user mes_operator"),
        key=("usnam",), strategy="full",
        description="ERP users with their WMS and MES identities.",
    ),
)

WMS_TABLES = (
    SourceTable(
        "wms", "wms_item", "item",
        _cols("sku erp_material gtin description uom units_per_uom:numeric base_uom spec"),
        key=("sku",), strategy="file", extra_raw_columns=WMS_FILE_COLUMNS,
        description="WMS item master: SKU, handling unit and pack size.",
    ),
    SourceTable(
        "wms", "wms_bin_stock", "bin_stock",
        _cols("snapshot_at:timestamptz warehouse zone bin sku lot qty:numeric uom status"),
        key=("snapshot_at", "warehouse", "bin", "sku", "lot", "status"), strategy="file",
        extra_raw_columns=WMS_FILE_COLUMNS,
        description="End-of-day bin stock snapshot.",
    ),
    SourceTable(
        "wms", "wms_task", "task",
        _cols(
            "task_id task_type sku lot from_bin to_bin qty:numeric uom ref_doc "
            "created_at:timestamptz confirmed_at:timestamptz confirmed_by device_id scanned_barcode"
        ),
        key=("task_id",), strategy="file", extra_raw_columns=WMS_FILE_COLUMNS,
        description="Warehouse tasks: putaway, pick, move, line feed, ship, returns, count adjustments.",
    ),
    SourceTable(
        "wms", "wms_cycle_count", "cycle_count",
        _cols(
            "count_id counted_at:timestamptz warehouse bin sku lot system_qty:numeric "
            "counted_qty:numeric uom counter_id recount approved_by"
        ),
        key=("count_id",), strategy="file", extra_raw_columns=WMS_FILE_COLUMNS,
        description="Cycle counts per bin: system against counted quantity.",
    ),
)

MES_TABLES = (
    SourceTable(
        "mes", "mes_work_orders", "work-orders",
        _cols(
            "order_no material planned_qty:numeric uom line work_center status "
            "released_at:epoch_ms closed_at:epoch_ms updated_at:epoch_ms"
        ),
        key=("order_no",), strategy="incremental", watermark=("updated_at",),
        version_column="updated_at",
        description="Production orders as the MES runs them.",
    ),
    SourceTable(
        "mes", "mes_consumptions", "consumptions",
        _cols(
            "event_id order_no operation work_center line barcode batch qty:numeric uom "
            "consumed_at:epoch_ms operator_id updated_at:epoch_ms"
        ),
        key=("event_id",), strategy="incremental", watermark=("updated_at",),
        version_column="updated_at",
        description="Material consumed on the line, scanned by GS1 barcode.",
    ),
    SourceTable(
        "mes", "mes_scrap", "scrap",
        _cols(
            "event_id order_no work_center barcode batch qty:numeric uom reason_code disposal_ref "
            "recorded_at:epoch_ms operator_id updated_at:epoch_ms"
        ),
        key=("event_id",), strategy="incremental", watermark=("updated_at",),
        version_column="updated_at",
        description="Scrap recorded on the line, with its disposal reference once disposed.",
    ),
    SourceTable(
        "mes", "mes_line_returns", "line-returns",
        _cols(
            "event_id order_no barcode batch qty:numeric uom returned_at:epoch_ms operator_id "
            "wms_task_ref updated_at:epoch_ms"
        ),
        key=("event_id",), strategy="incremental", watermark=("updated_at",),
        version_column="updated_at",
        description="Material returned from the line to the warehouse.",
    ),
    SourceTable(
        "mes", "mes_outsourcing", "outsourcing",
        _cols(
            "event_id partner_id direction barcode batch qty:numeric uom event_at:epoch_ms ref "
            "updated_at:epoch_ms"
        ),
        key=("event_id",), strategy="incremental", watermark=("updated_at",),
        version_column="updated_at",
        description="Material sent to and received back from subcontractors.",
    ),
)

TABLES: tuple[SourceTable, ...] = ERP_TABLES + WMS_TABLES + MES_TABLES

# Configuration, not a source table: contract section 2 describes it beside the
# WMS files and the WMS extract task loads it, so its loads are ledgered under
# system "wms". It is not in TABLES (the contract source tables the dbt sources
# declare); its raw DDL is fixed in extract/warehouse.py.
LOCATION_MAP = SourceTable(
    "wms", "location_map", "location_map.csv",
    _cols("werks lgort warehouse zone mes_line mes_work_center description"),
    key=("werks", "lgort"), strategy="replace",
    description="The plant's location map: storage locations to WMS warehouse and zone, "
    "MES lines and work centres to line-side storage locations.",
)
BY_NAME: dict[str, SourceTable] = {t.name: t for t in TABLES}

RAW_SCHEMA = "raw"
QUARANTINE_SCHEMA = "quarantine"
OPS_SCHEMA = "ops"


def tables_of(system: System) -> tuple[SourceTable, ...]:
    return tuple(t for t in TABLES if t.system == system)


def wms_table_for_entity(entity: str) -> SourceTable:
    for table in WMS_TABLES:
        if table.source_name == entity:
            return table
    raise KeyError(f"unknown WMS entity {entity!r}; known: {[t.source_name for t in WMS_TABLES]}")


def raw_table_ddl(table: SourceTable) -> str:
    columns = ",\n    ".join(f"{c.name} {PG_TYPES[c.type]}" for c in table.raw_columns)
    statements = [f"create table if not exists {RAW_SCHEMA}.{table.name} (\n    {columns}\n)"]
    if table.strategy == "file":
        # A later export of the same entity and day replaces the earlier one.
        statements.append(
            f"create index if not exists {table.name}__file_date "
            f"on {RAW_SCHEMA}.{table.name} (_file_date)"
        )
    else:
        statements.append(
            f"create unique index if not exists {table.name}__key "
            f"on {RAW_SCHEMA}.{table.name} ({', '.join(table.key)})"
        )
    return ";\n".join(statements)
