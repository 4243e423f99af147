"""The data-quality contracts as data: one `Suite` per validated model.

Each suite names its table and schema and lists its checks (checks.py);
context.py writes them into the committed GX context. The value sets and key
formats are the ones contracts.py declares, by which the extractors
quarantine rows.
"""

from __future__ import annotations

from dataclasses import dataclass

# one declaration of each value set and key format: the extractors quarantine by the same ones
from shrinkwatch.contracts import (
    AUFNR_FORMAT,
    CHARG_FORMAT,
    DEBIT_CREDIT,
    ERP_UNITS,
    MATNR_FORMAT,
    MES_UNITS,
    MOVEMENT_TYPES,
    ORDER_STATUSES,
    STOCK_STATUSES,
    TASK_TYPES,
)
from shrinkwatch.publish import SHADOW_SCHEMAS
from shrinkwatch.quality.checks import (
    Check,
    at_least_zero,
    between,
    in_set,
    in_time_window,
    material_in_master,
    not_null,
    ordered_columns,
    regex,
    rows,
    same_count,
    unique,
)

SEVERITIES = ("critical", "warning")

# A GTIN as the masters and MES keep it: GTIN-13 or GTIN-14. The check digit
# itself is verified where the barcode is parsed (raw.gs1_barcodes.is_valid).
GTIN = r"^\d{13,14}$"


def _anchored(rule) -> str:
    """The regex of a contract format rule (matched whole at extraction) for
    GX's `~` match, which finds a pattern anywhere."""
    (pattern,) = rule.allowed
    return f"^(?:{pattern})$"


# The ERP key formats, as contracts.py declares them for the extractors
MATERIAL_NUMBER = _anchored(MATNR_FORMAT)
ERP_BATCH = _anchored(CHARG_FORMAT)
ERP_PRODUCTION_ORDER = _anchored(AUFNR_FORMAT)
# MES keeps production orders without the ERP's leading zeros
PRODUCTION_ORDER = r"^\d{7,12}$"
QUARANTINE_GATE = "no open critical quarantined row (re-deliver it from the source or release it)"


@dataclass(frozen=True)
class Suite:
    table: str
    schema: str
    # The model's column names in order, space-separated: the ordered-columns
    # expectation is generated from it (their types are the staging models'
    # enforced dbt contracts). Empty for marts, whose enforced contracts hold
    # their schema.
    columns: str
    checks: tuple[Check, ...]

    @property
    def name(self) -> str:
        return self.table

    @property
    def validated_schema(self) -> str:
        """Where the suite's table is read: marts are checked in their shadow
        schema, before the publish gate swaps them in."""
        return SHADOW_SCHEMAS.get(self.schema, self.schema)

    @property
    def system(self) -> str:
        """erp, wms, mes, derived, ops for staging models; the schema otherwise."""
        if self.table.startswith("stg_"):
            return self.table.removeprefix("stg_").split("__")[0]
        return self.schema

    def checkpoint(self, severity: str) -> str:
        return self.schema if severity == "critical" else f"{self.schema}_warnings"

    def all_checks(self) -> tuple[Check, ...]:
        columns = self.columns.split()
        return (ordered_columns(*columns), *self.checks) if columns else self.checks

    @property
    def meta(self) -> dict:
        """What the context writes into each of the table's suites, and result handling reads back."""
        return {"schema": self.schema, "validated_schema": self.validated_schema, "table": self.table,
                "system": self.system}


MES_EVENT_COLUMNS = {
    "consumptions": (
        "consumption_id production_order_number operation_number line_code "
        "work_center_code barcode batch_number operator_id quantity "
        "unit consumed_at updated_at load_id"
    ),
    "scrap": (
        "scrap_id production_order_number work_center_code barcode "
        "batch_number operator_id disposal_reference reason_code quantity "
        "unit recorded_at updated_at load_id"
    ),
    "line_returns": (
        "line_return_id production_order_number barcode batch_number "
        "operator_id wms_task_reference quantity unit returned_at "
        "updated_at load_id"
    ),
    "outsourcing": (
        "outsourcing_event_id vendor_number barcode batch_number "
        "reference_doc direction quantity unit moved_at "
        "updated_at load_id"
    ),
}


SUITES: tuple[Suite, ...] = (
    # --- ERP ------------------------------------------------------------------
    Suite("stg_erp__materials", "staging", (
        "material_number material_description base_unit material_group "
        "material_spec gtin is_critical standard_price_cny changed_at "
        "load_id"
    ), (
        *not_null("material_number", "base_unit", "is_critical"),
        unique("material_number"),
        regex("material_number", MATERIAL_NUMBER),
        in_set("base_unit", ERP_UNITS, "warning"),
        regex("gtin", GTIN, "warning"),
        *at_least_zero("standard_price_cny", severity="warning"),
        in_time_window("changed_at", severity="warning"),
    )),
    Suite("stg_erp__batches", "staging", (
        "material_number batch_number vendor_batch_number produced_on expires_on "
        "created_at load_id"
    ), (
        *not_null("material_number", "batch_number"),
        unique("material_number", "batch_number"),
        regex("material_number", MATERIAL_NUMBER),
        regex("batch_number", ERP_BATCH),
        material_in_master(severity="warning"),
        in_time_window("created_at", severity="warning"),
    )),
    Suite("stg_erp__material_docs", "staging", (
        "material_doc_number material_doc_year material_doc_line "
        "material_number batch_number werks storage_location_code "
        "entered_by_user_id production_order_number purchase_order_number "
        "delivery_number vendor_number reversed_material_doc_number "
        "reversed_material_doc_line movement_type debit_credit_indicator "
        "reason_code line_text quantity base_unit entry_quantity "
        "entry_unit amount_cny posted_on entered_at load_id"
    ), (
        *not_null("material_doc_number", "material_doc_year", "material_doc_line", "material_number",
                   "movement_type", "debit_credit_indicator", "quantity", "entered_at"),
        unique("material_doc_number", "material_doc_year", "material_doc_line"),
        in_set("movement_type", MOVEMENT_TYPES),
        in_set("debit_credit_indicator", DEBIT_CREDIT),
        *at_least_zero("quantity"),
        regex("material_number", MATERIAL_NUMBER),
        # a material the extract has no master record of yet is a unification
        # hole (fct_unattached_movements), not a broken interface
        material_in_master(severity="warning"),
        in_time_window("entered_at", "posted_on"),
        regex("production_order_number", ERP_PRODUCTION_ORDER),
        regex("batch_number", ERP_BATCH),
    )),
    Suite("stg_erp__phys_inv_items", "staging", (
        "phys_inv_doc_number phys_inv_doc_line material_number batch_number "
        "werks storage_location_code counted_by_user_id posted_by_user_id "
        "difference_material_doc_number book_quantity counted_quantity "
        "base_unit counted_on load_id"
    ), (
        *not_null("phys_inv_doc_number", "phys_inv_doc_line", "material_number"),
        unique("phys_inv_doc_number", "phys_inv_doc_line"),
        *at_least_zero("book_quantity", "counted_quantity"),
        material_in_master(severity="warning"),
        in_time_window("counted_on", severity="warning"),
    )),
    Suite("stg_erp__releases", "staging", (
        "release_id material_number batch_number requested_by_user_id "
        "approved_by_user_id material_doc_number release_status quantity "
        "base_unit requested_at approved_at load_id"
    ), (
        *not_null("release_id", "material_number"),
        unique("release_id"),
        *at_least_zero("quantity"),
        material_in_master(severity="warning"),
        in_time_window("requested_at", "approved_at", severity="warning"),
    )),
    Suite("stg_erp__users", "staging", (
        "user_id wms_user_id mes_operator_id werks user_name "
        "department load_id"
    ), (
        *not_null("user_id"),
        unique("user_id"),
    )),
    # --- WMS ------------------------------------------------------------------
    Suite("stg_wms__items", "staging", (
        "sku erp_material_number gtin item_description item_spec "
        "handling_unit units_per_handling_unit base_unit source_file "
        "file_date file_seq file_line_number load_id"
    ), (
        *not_null("sku"),
        unique("sku"),
        regex("gtin", GTIN, "warning"),
        *at_least_zero("units_per_handling_unit", severity="warning"),
    )),
    Suite("stg_wms__bin_stock", "staging", (
        "warehouse_code zone_code bin_code sku lot_code stock_status "
        "quantity handling_unit snapshot_at source_file file_date "
        "file_seq file_line_number load_id"
    ), (
        *not_null("warehouse_code", "bin_code", "sku", "quantity", "snapshot_at"),
        in_set("stock_status", STOCK_STATUSES),
        *at_least_zero("quantity"),
        in_time_window("snapshot_at"),
    )),
    Suite("stg_wms__tasks", "staging", (
        "task_id sku lot_code from_bin_code to_bin_code reference_doc "
        "confirmed_by_user_id device_id scanned_barcode task_type quantity "
        "handling_unit created_at confirmed_at source_file file_date "
        "file_seq file_line_number load_id"
    ), (
        *not_null("task_id", "task_type"),
        unique("task_id"),
        in_set("task_type", TASK_TYPES),
        *at_least_zero("quantity"),
        in_time_window("created_at", "confirmed_at"),
        # a task the WMS wrote without item, quantity or unit cannot be
        # attached (fct_unattached_movements); the others still count
        *not_null("sku", "quantity", "handling_unit", "confirmed_at", severity="warning"),
    )),
    Suite("stg_wms__cycle_counts", "staging", (
        "count_id warehouse_code bin_code sku lot_code counted_by_user_id "
        "approved_by_user_id is_recount system_quantity counted_quantity "
        "handling_unit counted_at source_file file_date file_seq "
        "file_line_number load_id"
    ), (
        *not_null("count_id", "bin_code", "sku"),
        unique("count_id"),
        *at_least_zero("system_quantity", "counted_quantity"),
        in_time_window("counted_at", severity="warning"),
    )),
    # --- MES ------------------------------------------------------------------
    Suite("stg_mes__work_orders", "staging", (
        "production_order_number material_gtin line_code work_center_code "
        "order_status planned_quantity unit released_at closed_at "
        "updated_at load_id"
    ), (
        *not_null("production_order_number", "order_status"),
        *not_null("material_gtin", severity="warning"),
        unique("production_order_number"),
        in_set("order_status", ORDER_STATUSES),
        regex("material_gtin", GTIN, "warning"),
        regex("production_order_number", PRODUCTION_ORDER, "warning"),
        *at_least_zero("planned_quantity", severity="warning"),
        in_time_window("released_at", "closed_at", "updated_at"),
    )),
    *(
        Suite(f"stg_mes__{entity}", "staging", MES_EVENT_COLUMNS[entity], (
            *not_null(key, "quantity", "unit", at),
            # an event without a barcode has no material: unattached, not broken
            *not_null("barcode", severity="warning"),
            unique(key),
            in_set("unit", MES_UNITS),
            *at_least_zero("quantity"),
            in_time_window(at, "updated_at"),
        ))
        for entity, key, at in (
            ("consumptions", "consumption_id", "consumed_at"),
            ("scrap", "scrap_id", "recorded_at"),
            ("line_returns", "line_return_id", "returned_at"),
            ("outsourcing", "outsourcing_event_id", "moved_at"),
        )
    ),
    # --- derived --------------------------------------------------------------
    Suite("stg_derived__gs1_barcodes", "staging", (
        "barcode gtin batch_as_printed is_valid parse_error quantity load_id"
    ), (
        *not_null("barcode", "is_valid"),
        unique("barcode"),
        # a valid barcode passed its GTIN check digit when it was parsed
        rows("a valid barcode has a 14-digit GTIN",
              r"select * from {batch} where is_valid and (gtin is null or gtin !~ '^[0-9]{{14}}$')"),
        in_set("is_valid", [True], "warning"),
    )),
    Suite("stg_derived__location_map", "staging", (
        "werks storage_location_code warehouse_code zone_code line_code "
        "work_center_code location_description load_id"
    ), (
        *not_null("werks", "storage_location_code"),
    )),
    # --- quarantine: the publish gate of extraction ----------------------------
    # A critical quarantined row means a source interface broke (missing
    # column, unreadable file, unknown movement type): the day's picture is
    # incomplete, so nothing is published until the source re-delivers the
    # row or a reviewer releases it (`shrinkwatch quarantine release`).
    Suite("stg_ops__quarantine", "staging", (
        "system table_name load_id source_ref rule severity reason "
        "raw_record is_open resolution quarantined_at resolved_at"
    ), (
        rows(QUARANTINE_GATE,
              """select table_name, load_id, rule, source_ref, reason from {batch}
                 where is_open and severity = 'critical'"""),
    )),
    # --- marts ----------------------------------------------------------------
    Suite("fct_movement", "marts", "", (
        same_count(
            "fct_movement holds every staged movement once",
            """select 'erp' as source_system, staged, published from
                 (select count(*) as staged from staging.stg_erp__material_docs) as s,
                 (select count(*) as published from {batch} where source_system = 'erp') as p
               where staged <> published
               union all
               select 'wms', staged, published from
                 (select count(*) as staged from staging.stg_wms__tasks) as s,
                 (select count(*) as published from {batch} where source_system = 'wms') as p
               where staged <> published
               union all
               select 'mes', staged, published from
                 (select (select count(*) from staging.stg_mes__consumptions)
                       + (select count(*) from staging.stg_mes__scrap)
                       + (select count(*) from staging.stg_mes__line_returns)
                       + (select count(*) from staging.stg_mes__outsourcing) as staged) as s,
                 (select count(*) as published from {batch} where source_system = 'mes') as p
               where staged <> published""",
        ),
    )),
    Suite("fct_case", "marts", "", (
        *not_null("case_id", "case_type", "score"),
        unique("case_id"),
        between("score", 0, 100),
        *at_least_zero("value_at_risk"),
        # a case's material, user and location are whatever its evidence
        # names (a count of a material the master lacks, a requester the user
        # master lacks, a partner, a line): a case the dims cannot place is
        # still a case, so the publish gate does not hold it back for that
    )),
)


def suite_of(table: str) -> Suite:
    return next(s for s in SUITES if s.table == table)
