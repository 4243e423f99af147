"""Great Expectations: the data-quality contracts on staging and marts.

The GX file context in `expectations/gx/` is committed: the `warehouse`
Postgres data source (its connection string is `${SHRINKWATCH_GX_DSN}`,
substituted at run time, so no credential is ever written), one table asset
and suite per validated model, their validation definitions and the
checkpoints `staging`, `staging_warnings` and `marts`, which also rebuild the
Data Docs.

`SUITES` below is where the contracts are authored; `build_context` writes
them into the committed context (`shrinkwatch gx build`, against a warehouse
whose models exist, since GX checks every asset's table when it is added).
At run time nothing is built: a checkpoint is loaded and run, its results
flattened (`outcomes`), stored in `ops.dq_results` (`record_results`) and,
on failure, described (`failure_message`).
Each expectation carries `meta.severity` (`critical` or `warning`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

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
from shrinkwatch.extract.warehouse import DQ_RESULTS
from shrinkwatch.publish import SHADOW_SCHEMAS
from shrinkwatch.runtime import EXPECTATIONS_DIR

DSN_VARIABLE = "SHRINKWATCH_GX_DSN"
DATASOURCE = "warehouse"
SEVERITIES = ("critical", "warning")
# Per validated schema, its critical checkpoint and (if it has warnings) its
# warning one. `staging` runs after dbt staging and blocks the marts; `marts`
# runs after the marts and blocks their publication; `*_warnings` never block.
CHECKPOINTS = {"critical": "staging", "warning": "staging_warnings"}
MARTS_CHECKPOINT = "marts"
RESULT_FORMAT = {"result_format": "SUMMARY"}
RESULTS_TABLE = DQ_RESULTS
SAMPLE_SIZE = 10

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
# Sane time window: nothing before the plant's systems went live, nothing in the
# future (a posting "tomorrow" is a clock or keying error, not an event).
EARLIEST = "2000-01-01"
QUARANTINE_GATE = "no open critical quarantined row (re-deliver it from the source or release it)"
# fct_daily_data_quality counts a SQL expectation whose description starts so
# under timeliness, every other one under consistency.
TIMELINESS_PREFIX = "time window: "


@dataclass(frozen=True)
class Check:
    expectation: str  # GX expectation class name
    kwargs: dict
    severity: str = "critical"


@dataclass(frozen=True)
class Suite:
    table: str
    schema: str
    # The model's columns in order, `name:TYPE` with TYPE the PostgreSQL type
    # (TIMESTAMPTZ for timestamp with time zone): the schema expectations are
    # generated from it. Empty
    # for marts, whose schema dbt's enforced contracts already guarantee.
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
        columns = [item.split(":") for item in self.columns.split()]
        if not columns:
            return self.checks
        schema = (
            Check("ExpectTableColumnsToMatchOrderedList", {"column_list": [name for name, _ in columns]}),
            _column_types(self.schema, self.table, columns),
        )
        return schema + self.checks


# `name:TYPE` items cannot hold a space
PG_TYPE_NAMES = {"TIMESTAMPTZ": "timestamp with time zone"}


def _column_types(schema: str, table: str, columns: list[list[str]]) -> Check:
    """One SQL expectation per table for the column types, not one
    ExpectColumnValuesToBeOfType per column: GX's per-expectation overhead
    made those ~200 expectations most of a staging checkpoint's time. An
    offending row names the column, its contract type and its actual type."""
    expected = " union all ".join(
        f"select '{name}' as column_name, '{PG_TYPE_NAMES.get(type_, type_.lower())}' as contract_type"
        for name, type_ in columns
    )
    # GX wants every query to name its batch: the last branch does, and never returns a row
    return _rows(
        f"schema: column types of {schema}.{table}",
        f"""select contract.column_name, contract.contract_type, actual.data_type as actual_type
            from ({expected}) as contract
            left join information_schema.columns as actual
                on actual.table_schema = '{schema}' and actual.table_name = '{table}'
                and actual.column_name = contract.column_name
            where actual.data_type is distinct from contract.contract_type
            union all select null, null, null from {{batch}} where false""",
    )


def _not_null(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(Check("ExpectColumnValuesToNotBeNull", {"column": c}, severity) for c in columns)


def _unique(*columns: str, severity: str = "critical") -> Check:
    if len(columns) == 1:
        return Check("ExpectColumnValuesToBeUnique", {"column": columns[0]}, severity)
    return Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}, severity)


def _in_set(column: str, values: Sequence[str], severity: str = "critical") -> Check:
    return Check("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)}, severity)


def _regex(column: str, regex: str, severity: str = "critical") -> Check:
    return Check("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex}, severity)


def _at_least_zero(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(Check("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0}, severity) for c in columns)


def _rows(description: str, query: str, severity: str = "critical") -> Check:
    """A SQL expectation: the query returns the offending rows. GX Core 1.x
    has no cross-table expectation. GX substitutes `{batch}` with an aliased
    subquery of the validated table: never alias it again."""
    return Check("UnexpectedRowsExpectation",
                 {"description": description, "unexpected_rows_query": " ".join(query.split())}, severity)


def _in_time_window(*columns: str, severity: str = "critical") -> Check:
    """No timestamp before EARLIEST or in the future (one day of clock skew allowed)."""
    outside = " or ".join(
        f"{c} < timestamp '{EARLIEST}' or {c} > now() + interval '1 day'" for c in columns
    )
    return _rows(f"{TIMELINESS_PREFIX}{', '.join(columns)} between {EARLIEST} and now",
                 f"select * from {{batch}} where {outside}",
                 severity)


def _material_in_master(column: str = "material_number", severity: str = "critical") -> Check:
    return _rows(
        f"every {column} exists in the ERP material master",
        f"""select * from {{batch}} where {column} not in
            (select material_number from staging.stg_erp__materials where material_number is not null)""",
        severity,
    )


def _same_count(description: str, query: str) -> Check:
    """Row conservation: `query` returns one row per count that differs."""
    return _rows(description, query)


MES_EVENT_COLUMNS = {
    "consumptions": (
        "consumption_id:TEXT production_order_number:TEXT operation_number:TEXT line_code:TEXT "
        "work_center_code:TEXT barcode:TEXT batch_number:TEXT operator_id:TEXT quantity:NUMERIC "
        "unit:TEXT consumed_at:TIMESTAMPTZ updated_at:TIMESTAMPTZ load_id:INTEGER"
    ),
    "scrap": (
        "scrap_id:TEXT production_order_number:TEXT work_center_code:TEXT barcode:TEXT "
        "batch_number:TEXT operator_id:TEXT disposal_reference:TEXT reason_code:TEXT quantity:NUMERIC "
        "unit:TEXT recorded_at:TIMESTAMPTZ updated_at:TIMESTAMPTZ load_id:INTEGER"
    ),
    "line_returns": (
        "line_return_id:TEXT production_order_number:TEXT barcode:TEXT batch_number:TEXT "
        "operator_id:TEXT wms_task_reference:TEXT quantity:NUMERIC unit:TEXT returned_at:TIMESTAMPTZ "
        "updated_at:TIMESTAMPTZ load_id:INTEGER"
    ),
    "outsourcing": (
        "outsourcing_event_id:TEXT vendor_number:TEXT barcode:TEXT batch_number:TEXT "
        "reference_doc:TEXT direction:TEXT quantity:NUMERIC unit:TEXT moved_at:TIMESTAMPTZ "
        "updated_at:TIMESTAMPTZ load_id:INTEGER"
    ),
}


SUITES: tuple[Suite, ...] = (
    # --- ERP ------------------------------------------------------------------
    Suite("stg_erp__materials", "staging", (
        "material_number:TEXT material_description:TEXT base_unit:TEXT material_group:TEXT "
        "material_spec:TEXT gtin:TEXT is_critical:BOOLEAN standard_price_cny:NUMERIC changed_at:TIMESTAMPTZ "
        "load_id:INTEGER"
    ), (
        *_not_null("material_number", "base_unit", "is_critical"),
        _unique("material_number"),
        _regex("material_number", MATERIAL_NUMBER),
        _in_set("base_unit", ERP_UNITS, "warning"),
        _regex("gtin", GTIN, "warning"),
        *_at_least_zero("standard_price_cny", severity="warning"),
        _in_time_window("changed_at", severity="warning"),
    )),
    Suite("stg_erp__batches", "staging", (
        "material_number:TEXT batch_number:TEXT vendor_batch_number:TEXT produced_on:DATE expires_on:DATE "
        "created_at:TIMESTAMPTZ load_id:INTEGER"
    ), (
        *_not_null("material_number", "batch_number"),
        _unique("material_number", "batch_number"),
        _regex("material_number", MATERIAL_NUMBER),
        _regex("batch_number", ERP_BATCH),
        _material_in_master(severity="warning"),
        _in_time_window("created_at", severity="warning"),
    )),
    Suite("stg_erp__material_docs", "staging", (
        "material_doc_number:TEXT material_doc_year:INTEGER material_doc_line:INTEGER "
        "material_number:TEXT batch_number:TEXT plant_code:TEXT storage_location_code:TEXT "
        "entered_by_user_id:TEXT production_order_number:TEXT purchase_order_number:TEXT "
        "delivery_number:TEXT vendor_number:TEXT reversed_material_doc_number:TEXT "
        "reversed_material_doc_line:INTEGER movement_type:TEXT debit_credit_indicator:TEXT "
        "reason_code:TEXT line_text:TEXT quantity:NUMERIC base_unit:TEXT entry_quantity:NUMERIC "
        "entry_unit:TEXT amount_cny:NUMERIC posted_on:DATE entered_at:TIMESTAMPTZ load_id:INTEGER"
    ), (
        *_not_null("material_doc_number", "material_doc_year", "material_doc_line", "material_number",
                   "movement_type", "debit_credit_indicator", "quantity", "entered_at"),
        _unique("material_doc_number", "material_doc_year", "material_doc_line"),
        _in_set("movement_type", MOVEMENT_TYPES),
        _in_set("debit_credit_indicator", DEBIT_CREDIT),
        *_at_least_zero("quantity"),
        _regex("material_number", MATERIAL_NUMBER),
        # a material the extract has no master record of yet is a unification
        # hole (fct_unattached_movements), not a broken interface
        _material_in_master(severity="warning"),
        _in_time_window("entered_at", "posted_on"),
        _regex("production_order_number", ERP_PRODUCTION_ORDER),
        _regex("batch_number", ERP_BATCH),
    )),
    Suite("stg_erp__phys_inv_items", "staging", (
        "phys_inv_doc_number:TEXT phys_inv_doc_line:INTEGER material_number:TEXT batch_number:TEXT "
        "plant_code:TEXT storage_location_code:TEXT counted_by_user_id:TEXT posted_by_user_id:TEXT "
        "difference_material_doc_number:TEXT book_quantity:NUMERIC counted_quantity:NUMERIC "
        "base_unit:TEXT counted_on:DATE load_id:INTEGER"
    ), (
        *_not_null("phys_inv_doc_number", "phys_inv_doc_line", "material_number"),
        _unique("phys_inv_doc_number", "phys_inv_doc_line"),
        *_at_least_zero("book_quantity", "counted_quantity"),
        _material_in_master(severity="warning"),
        _in_time_window("counted_on", severity="warning"),
    )),
    Suite("stg_erp__releases", "staging", (
        "release_id:TEXT material_number:TEXT batch_number:TEXT requested_by_user_id:TEXT "
        "approved_by_user_id:TEXT material_doc_number:TEXT release_status:TEXT quantity:NUMERIC "
        "base_unit:TEXT requested_at:TIMESTAMPTZ approved_at:TIMESTAMPTZ load_id:INTEGER"
    ), (
        *_not_null("release_id", "material_number"),
        _unique("release_id"),
        *_at_least_zero("quantity"),
        _material_in_master(severity="warning"),
        _in_time_window("requested_at", "approved_at", severity="warning"),
    )),
    Suite("stg_erp__users", "staging", (
        "user_id:TEXT wms_user_id:TEXT mes_operator_id:TEXT plant_code:TEXT user_name:TEXT "
        "department:TEXT load_id:INTEGER"
    ), (
        *_not_null("user_id"),
        _unique("user_id"),
    )),
    # --- WMS ------------------------------------------------------------------
    Suite("stg_wms__items", "staging", (
        "sku:TEXT erp_material_number:TEXT gtin:TEXT item_description:TEXT item_spec:TEXT "
        "handling_unit:TEXT units_per_handling_unit:NUMERIC base_unit:TEXT source_file:TEXT "
        "file_date:DATE file_seq:INTEGER file_line_number:INTEGER load_id:INTEGER"
    ), (
        *_not_null("sku"),
        _unique("sku"),
        _regex("gtin", GTIN, "warning"),
        *_at_least_zero("units_per_handling_unit", severity="warning"),
    )),
    Suite("stg_wms__bin_stock", "staging", (
        "warehouse_code:TEXT zone_code:TEXT bin_code:TEXT sku:TEXT lot_code:TEXT stock_status:TEXT "
        "quantity:NUMERIC handling_unit:TEXT snapshot_at:TIMESTAMPTZ source_file:TEXT file_date:DATE "
        "file_seq:INTEGER file_line_number:INTEGER load_id:INTEGER"
    ), (
        *_not_null("warehouse_code", "bin_code", "sku", "quantity", "snapshot_at"),
        _in_set("stock_status", STOCK_STATUSES),
        *_at_least_zero("quantity"),
        _in_time_window("snapshot_at"),
    )),
    Suite("stg_wms__tasks", "staging", (
        "task_id:TEXT sku:TEXT lot_code:TEXT from_bin_code:TEXT to_bin_code:TEXT reference_doc:TEXT "
        "confirmed_by_user_id:TEXT device_id:TEXT scanned_barcode:TEXT task_type:TEXT quantity:NUMERIC "
        "handling_unit:TEXT created_at:TIMESTAMPTZ confirmed_at:TIMESTAMPTZ source_file:TEXT file_date:DATE "
        "file_seq:INTEGER file_line_number:INTEGER load_id:INTEGER"
    ), (
        *_not_null("task_id", "task_type"),
        _unique("task_id"),
        _in_set("task_type", TASK_TYPES),
        *_at_least_zero("quantity"),
        _in_time_window("created_at", "confirmed_at"),
        # a task the WMS wrote without item, quantity or unit cannot be
        # attached (fct_unattached_movements); the others still count
        *_not_null("sku", "quantity", "handling_unit", "confirmed_at", severity="warning"),
    )),
    Suite("stg_wms__cycle_counts", "staging", (
        "count_id:TEXT warehouse_code:TEXT bin_code:TEXT sku:TEXT lot_code:TEXT counted_by_user_id:TEXT "
        "approved_by_user_id:TEXT is_recount:BOOLEAN system_quantity:NUMERIC counted_quantity:NUMERIC "
        "handling_unit:TEXT counted_at:TIMESTAMPTZ source_file:TEXT file_date:DATE file_seq:INTEGER "
        "file_line_number:INTEGER load_id:INTEGER"
    ), (
        *_not_null("count_id", "bin_code", "sku"),
        _unique("count_id"),
        *_at_least_zero("system_quantity", "counted_quantity"),
        _in_time_window("counted_at", severity="warning"),
    )),
    # --- MES ------------------------------------------------------------------
    Suite("stg_mes__work_orders", "staging", (
        "production_order_number:TEXT material_gtin:TEXT line_code:TEXT work_center_code:TEXT "
        "order_status:TEXT planned_quantity:NUMERIC unit:TEXT released_at:TIMESTAMPTZ closed_at:TIMESTAMPTZ "
        "updated_at:TIMESTAMPTZ load_id:INTEGER"
    ), (
        *_not_null("production_order_number", "order_status"),
        *_not_null("material_gtin", severity="warning"),
        _unique("production_order_number"),
        _in_set("order_status", ORDER_STATUSES),
        _regex("material_gtin", GTIN, "warning"),
        _regex("production_order_number", PRODUCTION_ORDER, "warning"),
        *_at_least_zero("planned_quantity", severity="warning"),
        _in_time_window("released_at", "closed_at", "updated_at"),
    )),
    *(
        Suite(f"stg_mes__{entity}", "staging", MES_EVENT_COLUMNS[entity], (
            *_not_null(key, "quantity", "unit", at),
            # an event without a barcode has no material: unattached, not broken
            *_not_null("barcode", severity="warning"),
            _unique(key),
            _in_set("unit", MES_UNITS),
            *_at_least_zero("quantity"),
            _in_time_window(at, "updated_at"),
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
        "barcode:TEXT gtin:TEXT batch_as_printed:TEXT is_valid:BOOLEAN parse_error:TEXT quantity:NUMERIC load_id:BIGINT"
    ), (
        *_not_null("barcode", "is_valid"),
        _unique("barcode"),
        # a valid barcode passed its GTIN check digit when it was parsed
        _rows("a valid barcode has a 14-digit GTIN",
              r"select * from {batch} where is_valid and (gtin is null or gtin !~ '^[0-9]{{14}}$')"),
        Check("ExpectColumnValuesToBeInSet", {"column": "is_valid", "value_set": [True]}, "warning"),
    )),
    Suite("stg_derived__location_map", "staging", (
        "plant_code:TEXT storage_location_code:TEXT warehouse_code:TEXT zone_code:TEXT line_code:TEXT "
        "work_center_code:TEXT location_description:TEXT load_id:BIGINT"
    ), (
        *_not_null("plant_code", "storage_location_code"),
    )),
    # --- quarantine: the publish gate of extraction ----------------------------
    # A critical quarantined row means a source interface broke (missing
    # column, unreadable file, unknown movement type): the day's picture is
    # incomplete, so nothing is published until the source re-delivers the
    # row or a reviewer releases it (`shrinkwatch quarantine release`).
    Suite("stg_ops__quarantine", "staging", (
        "system:TEXT table_name:TEXT load_id:BIGINT source_ref:TEXT rule:TEXT severity:TEXT reason:TEXT "
        "raw_record:JSONB is_open:BOOLEAN resolution:TEXT quarantined_at:TIMESTAMPTZ resolved_at:TIMESTAMPTZ"
    ), (
        _rows(QUARANTINE_GATE,
              """select table_name, load_id, rule, source_ref, reason from {batch}
                 where is_open and severity = 'critical'"""),
    )),
    # --- marts ----------------------------------------------------------------
    Suite("fct_movement", "marts", "", (
        _same_count(
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
        *_not_null("case_id", "case_type", "score"),
        _unique("case_id"),
        Check("ExpectColumnValuesToBeBetween", {"column": "score", "min_value": 0, "max_value": 100}),
        *_at_least_zero("value_at_risk"),
        # a case's material, user and location are whatever its evidence
        # names (a count of a material the master lacks, a requester the user
        # master lacks, a partner, a line): a case the dims cannot place is
        # still a case, so the publish gate does not hold it back for that
    )),
)


def gx_dsn(warehouse) -> str:
    """GX's Postgres DSN check wants a host in the netloc: `sqlalchemy_url`
    puts `localhost` there and the socket directory in `?host=`."""
    return warehouse.sqlalchemy_url("psycopg2")


def open_context(dsn: str, project_root: Path = EXPECTATIONS_DIR):
    import great_expectations as gx

    os.environ[DSN_VARIABLE] = dsn
    return gx.get_context(mode="file", project_root_dir=str(project_root))


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, flattened for the failure message and `ops.dq_results`."""

    suite: str
    table_name: str
    system: str
    expectation: str
    description: str | None  # what a SQL expectation checks
    column_name: str | None
    severity: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    element_count: int | None
    sample: list
    query: str | None  # an UnexpectedRowsExpectation's SQL

    def describe(self) -> str:
        column = f" column {self.column_name}" if self.column_name else ""
        counts = f" ({self.unexpected_count} of {self.element_count} rows)" if self.unexpected_count else ""
        observed = f" observed {self.observed_value}" if self.observed_value is not None else ""
        description = f" ({self.description})" if self.description else ""
        return (f"{self.table_name} [{self.suite}]: {self.expectation}{description}{column}{counts}{observed}; "
                f"sample {self.sample}")


def outcomes(checkpoint_result) -> list[Outcome]:
    """Every expectation result of a checkpoint run (SUMMARY result format)."""
    rows = []
    for run in checkpoint_result.run_results.values():
        suite_meta = run.meta or {}
        for result in run.results:
            config = result.expectation_config
            details = result.result or {}
            # UnexpectedRowsExpectation reports its rows under details, the others a value sample
            sample = details.get("partial_unexpected_list") or (details.get("details") or {}).get("unexpected_rows")
            observed = details.get("observed_value")
            if observed is None:
                observed = _exception_message(result.exception_info)
            rows.append(Outcome(
                suite=run.suite_name,
                table_name=_table_of(run.suite_name),
                system=_system_of(run.suite_name),
                expectation=config.type,
                description=config.description,
                column_name=config.kwargs.get("column"),
                severity=(config.meta or {}).get("severity") or suite_meta.get("severity", "critical"),
                success=bool(result.success),
                observed_value=None if observed is None else str(observed),
                unexpected_count=details.get("unexpected_count"),
                element_count=details.get("element_count"),
                sample=list(sample or [])[:SAMPLE_SIZE],
                query=config.kwargs.get("unexpected_rows_query"),
            ))
    return rows


def _exception_message(exception_info: dict) -> str | None:
    """An expectation that could not be evaluated (a broken query) fails: say why."""
    infos = [exception_info, *exception_info.values()] if exception_info else []
    messages = [i["exception_message"] for i in infos if isinstance(i, dict) and i.get("exception_message")]
    return messages[0].splitlines()[0] if messages else None


def _table_of(suite_name: str) -> str:
    return suite_name.split("__warning")[0]


def _system_of(suite_name: str) -> str:
    table = _table_of(suite_name)
    return next((s.system for s in SUITES if s.table == table), "unknown")


def failure_message(checkpoint_name: str, checkpoint_result, conninfo: str | None = None) -> str:
    """Names, per failed expectation, the table, the expectation, its column
    and a sample of the offending values: what an on-call engineer needs.
    With a conninfo, a failed SQL expectation's sample rows are fetched too."""
    failed = [o for o in outcomes(checkpoint_result) if not o.success]
    if conninfo:
        failed = [replace(o, sample=_sample_rows(o, conninfo)) if o.query and not o.sample else o for o in failed]
    lines = [f"GX checkpoint {checkpoint_name}: {len(failed)} expectation(s) failed"]
    lines += [f"  - {o.describe()}" for o in failed]
    return "\n".join(lines)


def _sample_rows(outcome: Outcome, conninfo: str) -> list:
    """GX's SUMMARY format keeps no rows of an UnexpectedRowsExpectation (and
    COMPLETE would keep every unexpected value of every expectation): rerun
    its query for a few rows, substituting `{batch}` the way GX does."""
    import psycopg

    schema = next(s.validated_schema for s in SUITES if s.table == outcome.table_name)
    query = outcome.query.format(batch=f"(select * from {schema}.{outcome.table_name}) as subselect")
    try:
        with psycopg.connect(conninfo) as conn:
            return [tuple(row) for row in conn.execute(f"select * from ({query}) as unexpected limit {SAMPLE_SIZE}")]
    except psycopg.Error as error:  # the failure itself may be the broken query
        return [f"query failed: {error}".splitlines()[0]]


def record_results(checkpoint_name: str, checkpoint_result, conninfo: str) -> int:
    """Append one `ops.dq_results` row per expectation of the run (the BI
    history of data quality); returns the number of rows written."""
    import psycopg

    run_at = checkpoint_result.run_id.run_time
    run_id = str(checkpoint_result.run_id.run_name or run_at.isoformat())
    rows = [
        (run_id, run_at, checkpoint_name, o.suite, o.table_name, o.system, o.expectation, o.description,
         o.column_name, o.severity, o.success, o.observed_value, o.unexpected_count, o.element_count)
        for o in outcomes(checkpoint_result)
    ]
    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        cursor.executemany(
            f"""insert into {RESULTS_TABLE} (run_id, run_at, checkpoint, suite, table_name, system, expectation,
                description, column_name, severity, success, observed_value, unexpected_count, element_count)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )
    return len(rows)


def build_context(dsn: str, project_root: Path = EXPECTATIONS_DIR):
    """(Re)write the committed context from `SUITES`."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for stale in ("expectations", "validation_definitions", "checkpoints", "great_expectations.yml"):
        path = project_root / "gx" / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    context = open_context(dsn, project_root)
    # progress bars would flood the Airflow task logs
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    datasource = context.data_sources.add_postgres(DATASOURCE, connection_string="${" + DSN_VARIABLE + "}")
    definitions: dict[str, list] = {}
    for spec in SUITES:
        asset = datasource.add_table_asset(spec.table, table_name=spec.table, schema_name=spec.validated_schema)
        batch = asset.add_batch_definition_whole_table("whole_table")
        for severity in SEVERITIES:
            checks = [c for c in spec.all_checks() if c.severity == severity]
            if not checks:
                continue
            name = spec.name if severity == "critical" else f"{spec.name}__{severity}"
            suite = context.suites.add(gx.ExpectationSuite(
                name=name, meta={"schema": spec.schema, "table": spec.table, "system": spec.system,
                                 "severity": severity},
            ))
            for check in checks:
                expectation = getattr(gxe, check.expectation)
                suite.add_expectation(expectation(**check.kwargs, meta={"severity": severity}))
            definitions.setdefault(spec.checkpoint(severity), []).append(
                context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            )
    for checkpoint, validation_definitions in definitions.items():
        context.checkpoints.add(
            gx.Checkpoint(
                name=checkpoint,
                validation_definitions=validation_definitions,
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format=RESULT_FORMAT,
            )
        )
    return context


def data_docs_index(project_root: Path = EXPECTATIONS_DIR) -> Path:
    return project_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
