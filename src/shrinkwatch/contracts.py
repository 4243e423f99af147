"""The source contracts of ../shared/contracts/README.md, as data.

One declaration per source table serves everyone who needs its shape: the demo
plant writes it, the extractors validate and load it, the raw DDL is generated
from it and the dbt sources describe it. Change a table here, nowhere else.

Row rules (`SourceTable.rules`) are the row-level contracts the extractors
enforce: a row that breaks one goes to `quarantine.<table>` under the rule's
name instead of into raw. Only rules whose breach would corrupt the canonical
model quarantine, because a quarantined row is missing from every model:

- value sets that decide what a row *means*: ERP movement type and debit/credit
  indicator (the sign and the flow), the unit of an ERP or MES quantity (no
  conversion exists for an unknown one), WMS task type, stock and order status,
  outsourcing direction;
- key formats that joins across systems depend on: `matnr` 18 digits, `charg`
  upper case, `aufnr` 12 digits when present;
- quantities the contract says are positive, never negative (a sign flipped
  twice would turn a loss into a gain);
- no future event: an ERP posting or entry date, or a WMS/MES timestamp later
  than the load time plus `SHRINKWATCH_CLOCK_SKEW_MINUTES` (for ERP plant-local
  values, plus the largest UTC offset, 14 h). A future watermark would also
  make every later incremental read skip real rows;
- a MES barcode whose GTIN check digit is wrong (`gs1_check_digit`): its
  material cannot be trusted.

Everything else stays in raw and is only reported, by the GX warning suites
(`quality/suites.py`): master-data units and GTINs, WMS handling units and lot
spellings, barcodes that are not GS1 at all (`raw.gs1_barcodes.is_valid`, a
`data_quality` finding), cross-table references. Those rows are evidence for
detection; dropping them would hide the very defect a case should show.

Every quarantined row carries a severity (`rule_severity`), because the
transform refuses to publish marts while an *open critical* row exists:

- `critical`: the interface itself broke, so the day's picture is wrong and a
  human must act before marts are published. A header missing a contract
  column (`missing_column`) or a file no encoding decodes (`encoding`) loses a
  whole file; a value not of its contract type (`type:<type>`, e.g. a
  non-numeric quantity, or one PostgreSQL cannot store: a number in other
  than ASCII digits or beyond numeric's range, text with a NUL), an empty key
  (`not_null_key`), a record whose field count is not the header's
  (`column_count`), a WMS line whose quoted field is not closed on it
  (`unbalanced_quote`: the contract has one record per line, so the lines
  after it are records of their own) or with a field longer than 131,072
  characters (`field_size`), or a MES item that is not a JSON
  object (`not_an_object`) means the source no longer writes what the contract
  says; and for every `value_set:<column>` rule (movement type, debit/credit,
  unit, task type, status, direction) what the row *means* is unknown, so no
  figure that would include it can be trusted.
- `warning`: one record is wrong but the interface works; the row is excluded
  and reported, and the rest of the picture stands. `format:<column>` and
  `non_negative:<column>` are single bad records, `gs1_check_digit` a single
  bad scan, `duplicate_key_in_batch` a repeat whose first occurrence is loaded,
  and `not_future:<column>` an event ERP and MES re-read within their lookback
  and load once it is no longer in the future.
- Any rule not named here is `critical`: an unknown failure is treated as the
  interface breaking (fail safe), until someone decides otherwise here.

A quarantined row stays open until it is resolved: automatically by the load
that brings its corrected version (`resolved_at`, `resolution`), or by hand
with `shrinkwatch quarantine release` (extract/quarantine.py).
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


RuleKind = Literal["value_set", "format", "non_negative", "not_future", "gs1_check_digit"]


@dataclass(frozen=True)
class RowRule:
    """A row-level contract on one column; null values are not judged (keys
    are checked as keys, other nullability is for GX)."""

    kind: RuleKind
    column: str
    allowed: tuple[str, ...] = ()  # value_set: the values; format: one regular expression

    @property
    def name(self) -> str:
        """The rule as written into `quarantine.<table>.rule`."""
        return self.kind if self.kind == "gs1_check_digit" else f"{self.kind}:{self.column}"


def one_of(column: str, *values: str) -> RowRule:
    return RowRule("value_set", column, values)


def matches(column: str, pattern: str) -> RowRule:
    return RowRule("format", column, (pattern,))


def non_negative(*columns: str) -> tuple[RowRule, ...]:
    return tuple(RowRule("non_negative", c) for c in columns)


def not_future(*columns: str) -> tuple[RowRule, ...]:
    return tuple(RowRule("not_future", c) for c in columns)


def gs1_check_digit(column: str) -> RowRule:
    return RowRule("gs1_check_digit", column)


MOVEMENT_TYPES = ("101", "102", "122", "201", "261", "262", "311", "541", "543", "551", "601", "651",
                  "701", "702")
DEBIT_CREDIT = ("S", "H")
ERP_UNITS = ("KG", "G", "M", "EA", "L")
TASK_TYPES = ("PUTAWAY", "PICK", "MOVE", "REPLENISH", "LINE_FEED", "SHIP", "RETURN_RECEIPT", "COUNT_ADJUST")
STOCK_STATUSES = ("AVAILABLE", "HOLD", "QA", "DAMAGED")
RELEASE_STATUSES = ("REQUESTED", "APPROVED", "REJECTED", "POSTED")
ORDER_STATUSES = ("RELEASED", "RUNNING", "CLOSED")
MES_UNITS = ("g", "kg", "pcs", "m")
OUTSOURCING_DIRECTIONS = ("OUT", "IN")
MATNR_FORMAT = matches("matnr", r"\d{18}")
CHARG_FORMAT = matches("charg", r"[A-Z0-9]{1,10}")
AUFNR_FORMAT = matches("aufnr", r"\d{12}")


def _mes_movement_rules(*timestamps: str) -> tuple[RowRule, ...]:
    # every MES movement: a quantity in a known unit, a GS1 barcode, past events
    return (*non_negative("qty"), one_of("uom", *MES_UNITS), gs1_check_digit("barcode"),
            *not_future(*timestamps, "updated_at"))


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
    rules: tuple[RowRule, ...] = ()
    # key columns the contract lets be empty (a bin_stock row of a material
    # not managed in batches has no lot): not quarantined as not_null_key
    nullable_key: tuple[str, ...] = ()

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
        rules=(MATNR_FORMAT, *not_future("changed_at")),
        description="Material master (MARA/MAKT): one row per material.",
    ),
    SourceTable(
        "erp", "erp_batch", "erp_batch",
        _cols("matnr charg licha hsdat:date vfdat:date created_at:timestamp"),
        key=("matnr", "charg"), strategy="incremental", watermark=("created_at",),
        rules=(MATNR_FORMAT, CHARG_FORMAT, *not_future("created_at")),
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
        rules=(
            one_of("bwart", *MOVEMENT_TYPES), one_of("shkzg", *DEBIT_CREDIT), MATNR_FORMAT, CHARG_FORMAT,
            AUFNR_FORMAT, one_of("meins", *ERP_UNITS), *non_negative("menge", "erfmg"),
            *not_future("budat", "cpudt"),
        ),
        description="Material document lines (MATDOC/MSEG): every goods movement.",
    ),
    SourceTable(
        "erp", "erp_phys_inv", "erp_phys_inv",
        _cols(
            "iblnr zeili:int werks lgort matnr charg buchm:numeric menge:numeric meins zldat:date "
            "counted_by posted_by mblnr"
        ),
        key=("iblnr", "zeili"), strategy="full",
        rules=(MATNR_FORMAT, CHARG_FORMAT, *non_negative("buchm", "menge"), *not_future("zldat")),
        description="Physical inventory document lines (IKPF/ISEG): book vs counted quantity.",
    ),
    SourceTable(
        "erp", "erp_release", "erp_release",
        _cols(
            "release_id matnr charg menge:numeric meins requested_by requested_at:timestamp "
            "approved_by approved_at:timestamp mblnr status"
        ),
        key=("release_id",), strategy="full",
        rules=(
            MATNR_FORMAT, CHARG_FORMAT, *non_negative("menge"), one_of("status", *RELEASE_STATUSES),
            *not_future("requested_at", "approved_at"),
        ),
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
        key=("snapshot_at", "warehouse", "bin", "sku", "lot", "status"), nullable_key=("lot",), strategy="file",
        rules=(*non_negative("qty"), one_of("status", *STOCK_STATUSES), *not_future("snapshot_at")),
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
        rules=(one_of("task_type", *TASK_TYPES), *non_negative("qty"), *not_future("created_at", "confirmed_at")),
        description="Warehouse tasks: putaway, pick, move, line feed, ship, returns, count adjustments.",
    ),
    SourceTable(
        "wms", "wms_cycle_count", "cycle_count",
        _cols(
            "count_id counted_at:timestamptz warehouse bin sku lot system_qty:numeric "
            "counted_qty:numeric uom counter_id recount approved_by"
        ),
        key=("count_id",), strategy="file", extra_raw_columns=WMS_FILE_COLUMNS,
        rules=(*non_negative("system_qty", "counted_qty"), *not_future("counted_at")),
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
        rules=(
            one_of("status", *ORDER_STATUSES), *non_negative("planned_qty"),
            *not_future("released_at", "closed_at", "updated_at"),
        ),
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
        rules=_mes_movement_rules("consumed_at"),
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
        rules=_mes_movement_rules("recorded_at"),
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
        rules=_mes_movement_rules("returned_at"),
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
        rules=(one_of("direction", *OUTSOURCING_DIRECTIONS), *_mes_movement_rules("event_at")),
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

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")
# Rule names (or, before the colon, rule kinds) whose breach is a warning; see
# the module docstring for why. Everything else is critical.
WARNING_RULES: frozenset[str] = frozenset(
    {"format", "non_negative", "not_future", "gs1_check_digit", "duplicate_key_in_batch"}
)
# Named here so the policy is explicit, although unknown rules are critical anyway.
CRITICAL_RULES: frozenset[str] = frozenset(
    {"missing_column", "encoding", "type", "not_null_key", "value_set", "column_count", "unbalanced_quote",
     "field_size", "not_an_object"}
)


def rule_severity(rule: str) -> Severity:
    """`critical` or `warning` for a quarantine rule name such as
    `value_set:bwart` or `gs1_check_digit`; an unknown rule is `critical`."""
    kind = rule.partition(":")[0]
    return "warning" if kind in WARNING_RULES else "critical"


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
