"""Great Expectations contracts on a real warehouse: hand-inserted raw rows,
`dbt build` of staging, then the committed checkpoints run through the
Airflow operator the transform DAG uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from helpers.dbt import run_dbt
from helpers.raw_rows import M1, load_raw
from shrinkwatch.postgres import PgTarget, drop_database, ensure_database
from shrinkwatch.quality import context, suites
from shrinkwatch.settings import EXPECTATIONS_DIR

CONTRACT_STAGING_MODELS = 15
CHROMIUM = Path("/usr/bin/chromium")
# Headless, offline and quiet: no sandbox (tests run as root), no background
# traffic, a throwaway profile.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
UNKNOWN_MATERIAL = "000000000099999999"


# --- static: the committed context is what SUITES says ------------------------


def test_every_staging_model_has_a_suite_and_every_expectation_a_severity_and_a_dimension():
    staging = [s for s in suites.SUITES if s.schema == "staging"]
    assert len([s for s in staging if s.system in ("erp", "wms", "mes")]) == CONTRACT_STAGING_MODELS
    committed = EXPECTATIONS_DIR / "gx" / "expectations"
    for spec in suites.SUITES:
        for severity in suites.SEVERITIES:
            expected = [c for c in spec.all_checks() if c.severity == severity]
            name = spec.name if severity == "critical" else f"{spec.name}__{severity}"
            path = committed / f"{name}.json"
            assert path.exists() == bool(expected), name
            if expected:
                suite = json.loads(path.read_text())
                assert len(suite["expectations"]) == len(expected), f"{name}: rebuild with `shrinkwatch gx build`"
                assert {e["meta"]["severity"] for e in suite["expectations"]} == {severity}
                assert [e["meta"]["dimension"] for e in suite["expectations"]] == [c.dimension for c in expected]
    checkpoints = {p.stem for p in (EXPECTATIONS_DIR / "gx" / "checkpoints").glob("*.json")}
    assert checkpoints == {"staging", "staging_warnings", "marts"}


# --- on a real warehouse --------------------------------------------------------


@pytest.fixture(scope="module")
def dbt_dir(tmp_path_factory) -> Path:
    """One target dir for the module's dbt runs: the second parses partially."""
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def staged(pg_server: PgTarget, dbt_dir: Path) -> PgTarget:
    """Staging built by dbt from the raw rows of test_dbt_project (views: a
    change to raw shows in staging at once)."""
    target = pg_server.with_db(f"q_{uuid.uuid4().hex[:10]}")
    ensure_database(pg_server, target.dbname)
    load_raw(target)
    built = run_dbt(target, dbt_dir, "build", "--select", "path:models/staging")
    assert built.returncode == 0, built.stdout[-4000:]
    yield target
    drop_database(pg_server, target.dbname)


@pytest.fixture(scope="module")
def gx_root(staged: PgTarget, tmp_path_factory) -> Path:
    """A copy of the committed context; a run writes its results and Data Docs
    into its `results` directory (a home's `gx/`)."""
    root = tmp_path_factory.mktemp("gx")
    shutil.copytree(EXPECTATIONS_DIR / "gx", root / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    return root


@pytest.fixture(scope="module")
def airflow_connection(staged: PgTarget):
    """The warehouse as the DAG's Airflow connection (from the environment)."""
    variable = "AIRFLOW_CONN_SHRINKWATCH_WAREHOUSE"
    os.environ[variable] = json.dumps({
        "conn_type": "postgres", "host": staged.host, "port": staged.port, "login": staged.user,
        "password": staged.password, "schema": staged.dbname,
    })
    yield
    os.environ.pop(variable, None)


class TaskInstance:
    def __init__(self):
        self.xcom = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


def _run(checkpoint: str, staged: PgTarget, gx_root: Path, blocking: bool = True) -> TaskInstance:
    from shrinkwatch.airflow.gx_operator import RecordedCheckpointOperator

    operator = RecordedCheckpointOperator(
        task_id=f"validate_{checkpoint}",
        checkpoint_name=checkpoint,
        blocking=blocking,
        configure_file_data_context=lambda: context.open_context(context.gx_dsn(staged), gx_root / "results", gx_root),
    )
    ti = TaskInstance()
    operator.execute({"ti": ti})
    return ti


def _results(staged: PgTarget, checkpoint: str) -> list[tuple]:
    with psycopg.connect(staged.conninfo()) as conn:
        return conn.execute(
            "select table_name, expectation, column_name, severity, success from ops.dq_results"
            " where checkpoint = %s and run_id = (select max(run_id) from ops.dq_results where checkpoint = %s)",
            (checkpoint, checkpoint),
        ).fetchall()


def _execute(staged: PgTarget, statement: str) -> None:
    with psycopg.connect(staged.conninfo(), autocommit=True) as conn:
        conn.execute(statement)


def test_passing_staging_succeeds_and_records_every_result(staged, gx_root, airflow_connection):
    ti = _run("staging", staged, gx_root)

    assert ti.xcom["return_value"]["success"] is True
    rows = _results(staged, "staging")
    expected = sum(1 for s in suites.SUITES if s.schema == "staging" for c in s.all_checks()
                   if c.severity == "critical")
    assert len(rows) == expected
    assert all(success for *_, success in rows)
    assert {severity for *_, severity, _ in rows} == {"critical"}
    assert ("stg_erp__material_docs", "expect_column_values_to_be_in_set", "movement_type", "critical", True) in rows


def test_the_data_docs_show_every_staging_suite_in_a_browser(staged, gx_root, airflow_connection, tmp_path):
    """Each checkpoint run renders its results into the Data Docs once; headless
    Chromium (`make test` installs Debian's `chromium`) renders the index."""
    assert CHROMIUM.exists(), "chromium is installed by `make test` (Debian package chromium)"
    _run("staging", staged, gx_root)
    index = context.data_docs_index(gx_root / "results")
    assert index.exists()
    rendered = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", index.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    dom = rendered.stdout
    assert "<html" in dom.lower()
    staging_suites = [s.name for s in suites.SUITES if s.schema == "staging"]
    missing = [name for name in staging_suites if name not in dom]
    assert not missing, f"suites not on the Data Docs index: {missing}"


def test_stored_results_older_than_the_retention_leave_the_store_and_the_data_docs(
        staged, gx_root, airflow_connection):
    """At a 15-minute cadence GX's store would grow for good: the next
    checkpoint run removes a result older than SHRINKWATCH_GX_RESULTS_KEEP_DAYS
    (3) and its Data Docs page, and keeps the recent ones."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

    gx = context.open_context(context.gx_dsn(staged), gx_root / "results", gx_root)
    store = gx.validation_results_store
    recent = set(store.list_keys())
    assert recent, "the tests above ran the staging checkpoint"
    template = next(iter(recent))
    month_old = ValidationResultIdentifier(
        template.expectation_suite_identifier,
        RunIdentifier(run_name="thirty-days-ago", run_time=datetime.now(UTC) - timedelta(days=30)),
        template.batch_identifier,
    )
    store.set(month_old, store.get(template))
    gx.build_data_docs(resource_identifiers=[month_old], build_index=True)
    index = context.data_docs_index(gx_root / "results")
    assert "thirty-days-ago" in index.read_text()
    assert len(list(gx_root.rglob("thirty-days-ago"))) == 2, "the stored result and its page"

    _run("staging", staged, gx_root)

    assert not list(gx_root.rglob("thirty-days-ago"))
    assert "thirty-days-ago" not in index.read_text()
    assert recent < set(store.list_keys()), "the recent results stay, and this run's are added"


def test_a_warning_is_recorded_and_does_not_block(staged, gx_root, airflow_connection):
    _execute(staged, "update raw.erp_material set meins = 'BOX' where matnr = '000000000010005678'")
    try:
        ti = _run("staging_warnings", staged, gx_root, blocking=False)
    finally:
        _execute(staged, "update raw.erp_material set meins = 'KG' where matnr = '000000000010005678'")

    assert ti.xcom["return_value"]["success"] is False
    failed = [r for r in _results(staged, "staging_warnings") if not r[-1]]
    assert ("stg_erp__materials", "expect_column_values_to_be_in_set", "base_unit", "warning", False) in failed


def test_a_critical_failure_names_table_expectation_and_values(staged, gx_root, airflow_connection):
    from great_expectations_provider.common.errors import GXValidationFailed

    _execute(staged, "update raw.erp_material_doc set bwart = '999' where mblnr = '4900000004'")
    _execute(staged, f"update raw.erp_material_doc set matnr = '{UNKNOWN_MATERIAL}' where mblnr = '4900000003'")
    try:
        with pytest.raises(GXValidationFailed) as failed:
            _run("staging", staged, gx_root)

        # a material the master has no record of is a unification hole, not a
        # broken interface: it is a warning, recorded and shown, never blocking
        warnings = _run("staging_warnings", staged, gx_root, blocking=False)
    finally:
        _execute(staged, "update raw.erp_material_doc set bwart = '261' where mblnr = '4900000004'")
        _execute(staged, f"update raw.erp_material_doc set matnr = '{M1}' where mblnr = '4900000003'")

    message = str(failed.value)
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1, message
    (movement_type,) = lines
    assert "stg_erp__material_docs" in movement_type
    assert "expect_column_values_to_be_in_set" in movement_type
    assert "['999']" in movement_type
    failed_rows = [r for r in _results(staged, "staging") if not r[-1]]
    assert {(r[0], r[1]) for r in failed_rows} == {("stg_erp__material_docs", "expect_column_values_to_be_in_set")}
    assert warnings.xcom["return_value"]["success"] is False
    failed_warnings = [r for r in _results(staged, "staging_warnings") if not r[-1]]
    assert ("stg_erp__material_docs", "unexpected_rows_expectation", None, "warning", False) in failed_warnings


def test_an_open_critical_quarantined_row_blocks_until_it_is_released(staged, gx_root, airflow_connection):
    from great_expectations_provider.common.errors import GXValidationFailed

    from shrinkwatch.extract.quarantine import release

    # what extract_erp writes for a material document with an unknown movement type
    _execute(staged, """
        insert into quarantine.erp_material_doc (load_id, source_ref, rule, severity, reason, raw_record)
        values (77, 'mblnr=4900000099/mjahr=2026/zeile=1', 'value_set:bwart', 'critical',
                'bwart = ''999'' is not one of 101, 102, ...', '{"bwart": "999"}'),
               (77, 'mblnr=4900000098/mjahr=2026/zeile=1', 'not_future:budat', 'warning',
                'budat = 2027-01-01 is in the future', '{"budat": "2027-01-01"}')""")
    with pytest.raises(GXValidationFailed) as failed:
        _run("staging", staged, gx_root)
    (line,) = [line for line in str(failed.value).splitlines() if line.startswith("  - ")]
    assert "stg_ops__quarantine" in line and suites.QUARANTINE_GATE in line
    assert "erp_material_doc" in line and "value_set:bwart" in line and "mblnr=4900000099" in line
    assert "not_future" not in line, "a warning does not block"

    with psycopg.connect(staged.conninfo()) as conn:
        assert release(conn, "erp_material_doc", 77, "value_set:bwart", released_by="qa.lead",
                       note="test document, never posted") == 1
    ti = _run("staging", staged, gx_root)
    assert ti.xcom["return_value"]["success"] is True


def test_daily_data_quality_mart_reads_the_recorded_results(staged, dbt_dir):
    built = run_dbt(staged, dbt_dir, "build", "--select", "fct_daily_data_quality")
    assert built.returncode == 0, built.stdout[-4000:]
    with psycopg.connect(staged.conninfo()) as conn:
        rows = conn.execute(
            "select system, dimension, expectations_failed, critical_failures, kpi"
            " from marts.fct_daily_data_quality"
        ).fetchall()
    by_key = {(system, dimension): (failed, critical, kpi) for system, dimension, failed, critical, kpi in rows}
    assert {d for _, d in by_key} == {"completeness", "validity", "uniqueness", "timeliness", "consistency"}
    assert {s for s, _ in by_key} == {"erp", "wms", "mes", "derived", "ops"}
    # the earlier tests failed a critical ERP expectation (movement type) and
    # two warnings (the base unit; a material the master lacks)
    assert by_key["erp", "consistency"][:2] == (1, 0)
    assert by_key["erp", "validity"][:2] == (2, 1)
    # confirmed_at is null on this data, a warning: both warning runs above flagged it
    assert by_key["wms", "completeness"][:2] == (2, 0)
    assert all(0 <= kpi <= 1 for _, _, kpi in by_key.values())
