"""Great Expectations: the data-quality contracts on staging.

The GX file context in `expectations/gx/` is committed: the `warehouse`
Postgres data source (its connection string is `${SHRINKWATCH_GX_DSN}`,
substituted at run time, so no credential is ever written), one table asset
and suite per validated staging model, their validation definitions and the
`staging` checkpoint, which also rebuilds the Data Docs.

`SUITES` below is where the contracts are authored; `build_context` writes
them into the committed context (`shrinkwatch gx build`, against a warehouse
whose staging models exist, since GX checks every asset's table when it is
added). At run time nothing is built: the checkpoint is loaded and run.
Each expectation carries `meta.severity` (`critical` or `warning`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from shrinkwatch.runtime import EXPECTATIONS_DIR

DSN_VARIABLE = "SHRINKWATCH_GX_DSN"
DATASOURCE = "warehouse"
# The blocking checkpoint holds the critical expectations; a failure fails the
# transform run before any mart is built. Warnings are validated and reported
# by a second checkpoint that never blocks.
CHECKPOINTS = {"critical": "staging", "warning": "staging_warnings"}

MOVEMENT_TYPES = ["101", "102", "122", "201", "261", "262", "311", "541", "543", "551", "601", "651",
                  "701", "702"]
TASK_TYPES = ["PUTAWAY", "PICK", "MOVE", "REPLENISH", "LINE_FEED", "SHIP", "RETURN_RECEIPT",
              "COUNT_ADJUST"]
MES_UNITS = ["g", "kg", "pcs", "m"]


@dataclass(frozen=True)
class Check:
    expectation: str  # GX expectation class name
    kwargs: dict
    severity: str = "critical"


@dataclass(frozen=True)
class Suite:
    table: str
    schema: str
    checks: tuple[Check, ...]

    @property
    def name(self) -> str:
        return self.table


def _not_null(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(Check("ExpectColumnValuesToNotBeNull", {"column": c}, severity) for c in columns)


SUITES: tuple[Suite, ...] = (
    Suite("stg_erp__material_docs", "staging", (
        *_not_null("material_doc_number", "material_doc_year", "material_doc_line", "material_number",
                   "movement_type", "debit_credit_indicator", "quantity", "entered_at"),
        Check("ExpectCompoundColumnsToBeUnique",
              {"column_list": ["material_doc_number", "material_doc_year", "material_doc_line"]}),
        Check("ExpectColumnValuesToBeInSet", {"column": "movement_type", "value_set": MOVEMENT_TYPES}),
        Check("ExpectColumnValuesToBeInSet", {"column": "debit_credit_indicator", "value_set": ["S", "H"]}),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0}),
        Check("ExpectColumnValuesToMatchRegex",
              {"column": "production_order_number", "regex": r"^\d{12}$"}, "warning"),
    )),
    Suite("stg_erp__materials", "staging", (
        *_not_null("material_number", "base_unit"),
        Check("ExpectColumnValuesToBeUnique", {"column": "material_number"}),
        Check("ExpectColumnValuesToMatchRegex", {"column": "material_number", "regex": r"^\d{18}$"}),
        Check("ExpectColumnValuesToBeInSet",
              {"column": "base_unit", "value_set": ["KG", "G", "M", "EA", "L"]}, "warning"),
    )),
    Suite("stg_wms__tasks", "staging", (
        *_not_null("task_id", "task_type", "sku", "quantity", "handling_unit"),
        Check("ExpectColumnValuesToBeUnique", {"column": "task_id"}),
        Check("ExpectColumnValuesToBeInSet", {"column": "task_type", "value_set": TASK_TYPES}),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0}),
        *_not_null("confirmed_at", severity="warning"),
    )),
    Suite("stg_wms__bin_stock", "staging", (
        *_not_null("warehouse_code", "bin_code", "sku", "quantity", "snapshot_at"),
        Check("ExpectColumnValuesToBeInSet",
              {"column": "stock_status", "value_set": ["AVAILABLE", "HOLD", "QA", "DAMAGED"]}),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0}),
    )),
    Suite("stg_mes__consumptions", "staging", (
        *_not_null("consumption_id", "production_order_number", "barcode", "quantity", "unit",
                   "consumed_at"),
        Check("ExpectColumnValuesToBeUnique", {"column": "consumption_id"}),
        Check("ExpectColumnValuesToBeInSet", {"column": "unit", "value_set": MES_UNITS}),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0}),
    )),
    Suite("stg_mes__work_orders", "staging", (
        *_not_null("production_order_number", "material_gtin", "order_status"),
        Check("ExpectColumnValuesToBeUnique", {"column": "production_order_number"}),
        Check("ExpectColumnValuesToBeInSet",
              {"column": "order_status", "value_set": ["RELEASED", "RUNNING", "CLOSED"]}),
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


def staging_checkpoint(context):
    return context.checkpoints.get(CHECKPOINTS["critical"])


def staging_warnings_checkpoint(context):
    return context.checkpoints.get(CHECKPOINTS["warning"])


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
    definitions: dict[str, list] = {severity: [] for severity in CHECKPOINTS}
    for spec in SUITES:
        asset = datasource.add_table_asset(spec.table, table_name=spec.table, schema_name=spec.schema)
        batch = asset.add_batch_definition_whole_table("whole_table")
        for severity in CHECKPOINTS:
            checks = [c for c in spec.checks if c.severity == severity]
            if not checks:
                continue
            name = spec.name if severity == "critical" else f"{spec.name}__{severity}"
            suite = context.suites.add(
                gx.ExpectationSuite(name=name, meta={"schema": spec.schema, "severity": severity})
            )
            for check in checks:
                expectation = getattr(gxe, check.expectation)
                suite.add_expectation(expectation(**check.kwargs, meta={"severity": severity}))
            definitions[severity].append(
                context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            )
    for severity, checkpoint in CHECKPOINTS.items():
        context.checkpoints.add(
            gx.Checkpoint(
                name=checkpoint,
                validation_definitions=definitions[severity],
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format={"result_format": "SUMMARY"},
            )
        )
    return context


def data_docs_index(project_root: Path = EXPECTATIONS_DIR) -> Path:
    return project_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
