"""The committed GX file context: opened at run time, (re)built from SUITES.

The context in `expectations/gx/` holds the `warehouse` Postgres data source
(its connection string is `${SHRINKWATCH_GX_DSN}`, substituted at run time, so
no credential is ever written), its stores of validation results and Data Docs
under `${SHRINKWATCH_GX_RESULTS_DIR}` (the home's `gx/`, so every home, and
compose's volume, has its own and the checkout holds none), one table asset and suite per validated
model, their validation definitions and the checkpoints `staging`,
`staging_warnings` and `marts`. After each checkpoint run `update_data_docs`
renders its results into the Data Docs and removes the stored results (and
so their pages) older than `SHRINKWATCH_GX_RESULTS_KEEP_DAYS`: at a 15-minute
cadence the store would otherwise grow by ~40 results per transform for good.
`build_context` writes it (`shrinkwatch gx build`, against a warehouse whose
models exist, since GX checks every asset's table when it is added); at run
time nothing is built, a checkpoint is loaded and run.
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shrinkwatch.quality.suites import SEVERITIES, SUITES
from shrinkwatch.settings import EXPECTATIONS_DIR

DSN_VARIABLE = "SHRINKWATCH_GX_DSN"
RESULTS_DIR_VARIABLE = "SHRINKWATCH_GX_RESULTS_DIR"
DATASOURCE = "warehouse"
# Per validated schema, its critical checkpoint and (if it has warnings) its
# warning one. `staging` runs after dbt staging and blocks the marts; `marts`
# runs after the marts and blocks their publication; `*_warnings` never block.
CHECKPOINTS = {"critical": "staging", "warning": "staging_warnings"}
MARTS_CHECKPOINT = "marts"
RESULT_FORMAT = {"result_format": "SUMMARY"}
# The Data Docs index reads each result it lists: it lists the newest ones
# only (about a dozen transforms), so its build time does not grow with the store.
INDEX_VALIDATION_RESULTS = 500
SITE = "data_docs/local_site"  # in the results directory


def gx_dsn(warehouse) -> str:
    """GX's Postgres DSN check wants a host in the netloc: `sqlalchemy_url`
    puts `localhost` there and the socket directory in `?host=`."""
    return warehouse.sqlalchemy_url("psycopg2")


def results_dir(home: Path) -> Path:
    """Where a shrinkwatch home keeps GX's validation results and Data Docs."""
    return Path(home) / "gx"


def open_context(dsn: str, results: Path, project_root: Path = EXPECTATIONS_DIR):
    """The committed context, on the warehouse `dsn`, storing results and Data Docs in `results`."""
    import great_expectations as gx

    os.environ[DSN_VARIABLE] = dsn
    os.environ[RESULTS_DIR_VARIABLE] = str(results)
    return gx.get_context(mode="file", project_root_dir=str(project_root))


def build_context(dsn: str, results: Path, project_root: Path = EXPECTATIONS_DIR):
    """(Re)write the committed context from `SUITES`."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for stale in ("expectations", "validation_definitions", "checkpoints", "great_expectations.yml"):
        path = project_root / "gx" / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    context = open_context(dsn, results, project_root)
    # progress bars would flood the Airflow task logs
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    stores = context.variables.stores
    stores["validation_results_store"]["store_backend"]["base_directory"] = f"${{{RESULTS_DIR_VARIABLE}}}/validations/"
    context.variables.stores = stores
    sites = context.variables.data_docs_sites
    sites["local_site"]["store_backend"]["base_directory"] = f"${{{RESULTS_DIR_VARIABLE}}}/{SITE}/"
    sites["local_site"]["site_index_builder"]["validation_results_limit"] = INDEX_VALIDATION_RESULTS
    context.variables.data_docs_sites = sites
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
            suite = context.suites.add(gx.ExpectationSuite(name=name, meta={**spec.meta, "severity": severity}))
            for check in checks:
                expectation = getattr(gxe, check.expectation)
                suite.add_expectation(
                    expectation(**check.kwargs, meta={"severity": severity, "dimension": check.dimension})
                )
            definitions.setdefault(spec.checkpoint(severity), []).append(
                context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            )
    for checkpoint, validation_definitions in definitions.items():
        context.checkpoints.add(
            gx.Checkpoint(
                name=checkpoint,
                validation_definitions=validation_definitions,
                # no UpdateDataDocsAction: it rebuilds the site index once per
                # validation definition, each time reading every result ever
                # stored (22 of a 30 s checkpoint run); update_data_docs builds once
                actions=[],
                result_format=RESULT_FORMAT,
            )
        )
    return context


def update_data_docs(context, checkpoint_result, keep_days: float) -> int:
    """Remove the stored results older than `keep_days`, then render this
    checkpoint run's results and their suites, and the index, once; the index
    build drops the pages of removed results. Returns how many were removed."""
    store = context.validation_results_store
    cutoff = datetime.now(UTC) - timedelta(days=keep_days)
    stale = [key for key in store.list_keys() if key.run_id.run_time < cutoff]
    for key in stale:
        store.remove_key(key)
    validations = list(checkpoint_result.run_results)
    suites = {key.expectation_suite_identifier for key in validations}
    context.build_data_docs(resource_identifiers=[*validations, *suites], build_index=True)
    results = Path(os.environ[RESULTS_DIR_VARIABLE])
    _remove_run_directories(
        {Path(*key.to_tuple()[:3]) for key in stale}, (results / "validations", results / SITE / "validations")
    )
    return len(stale)


def _remove_run_directories(run_directories: set[Path], roots: tuple[Path, ...]) -> None:
    """GX leaves a removed result's directories behind (its `rrmdir` tests a
    generator for emptiness, which never holds): remove each run's directory
    (suite/run name/run time) and its run-name parent once they are empty."""
    for root in roots:
        for run_directory in run_directories:
            for directory in (root / run_directory, root / run_directory.parent):
                with suppress(OSError):  # not empty (another result), or gone
                    directory.rmdir()


def data_docs_index(results: Path) -> Path:
    return results / SITE / "index.html"
