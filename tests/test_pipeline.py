"""The main job end to end: a small demo plant through the real Airflow DAGs
(`airflow dags test`), real dbt through Cosmos, real Great Expectations, on a
real embedded PostgreSQL that also holds Airflow's metadata database.

Three runs are shared by every test here (they take a few minutes): a first
run, a rerun with no new source data, and a run after the sources delivered
bad input, some of it critical, which the publish gate must block. Each test
then checks one outcome a user would check.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from helpers.erp import insert as insert_rows
from helpers.plant import expected_raw_counts
from shrinkwatch import evaluate, report
from shrinkwatch.demo import gs1
from shrinkwatch.main_job import EXTRACT_DAGS, TRANSFORM_DAG, run_main_job
from shrinkwatch.postgres import AIRFLOW_DB, EmbeddedPostgres, PgTarget
from shrinkwatch.quality.context import data_docs_index, results_dir
from shrinkwatch.quality.suites import QUARANTINE_GATE, SUITES
from shrinkwatch.settings import Settings

# the shared fixture runs the pipeline twice (a few minutes) inside the first test
pytestmark = [pytest.mark.airflow, pytest.mark.timeout(2400)]

DEMO = {"SHRINKWATCH_DEMO_SCALE": "0.002", "SHRINKWATCH_DEMO_DAYS": "10", "SHRINKWATCH_DEMO_SEED": "7"}
MES_FAULT_EVERY = 4  # small plant, few requests: make sure some of them meet a 429 or a 503


def _fingerprint(conninfo: str, schemas: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table in the schemas."""
    result = {}
    with psycopg.connect(conninfo) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = any(%s) order by 1, 2",
            (list(schemas),),
        ).fetchall()
        for schema, table in tables:
            count, digest = conn.execute(
                f'select count(*), coalesce(md5(string_agg(md5(t::text), \'\' order by md5(t::text))), \'\') '
                f'from "{schema}"."{table}" t'
            ).fetchone()
            result[f"{schema}.{table}"] = (count, digest)
    return result


# A GTIN-14 whose check digit is off by one
GOOD_GTIN = gs1.gtin13("690123", 4567).zfill(14)
WRONG_CHECK_DIGIT = GOOD_GTIN[:-1] + str((int(GOOD_GTIN[-1]) + 1) % 10)
BAD_ERP_DOCS = {"4999999001": "value_set:bwart", "4999999002": "not_future:budat"}


def _first_row(db: Path, query: str) -> dict:
    with sqlite3.connect(db) as conn:
        cursor = conn.execute(query)
        return dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))


def _deliver_bad_input(settings: Settings) -> dict:
    """A bad day at the plant: ERP posts a movement type nobody knows (critical)
    and one dated next week (warning), MES reports a barcode whose GTIN check
    digit is wrong (warning), and the WMS re-exports three days' tasks: one
    without the quantity column, one with a non-numeric quantity, one in an
    encoding nothing decodes (all critical). Returns (rule, severity) → rows
    for each table."""
    now = datetime.now(UTC)
    erp, mes = settings.demo_dir / "erp.sqlite", settings.demo_dir / "mes.sqlite"
    issue = _first_row(erp, "select * from erp_material_doc where bwart = '261' order by cpudt desc limit 1")
    today = {"cpudt": now.date().isoformat(), "cputm": "00:00:01", "budat": now.date().isoformat(), "zeile": 1}
    insert_rows(erp, "erp_material_doc", [
        issue | today | {"mblnr": "4999999001", "bwart": "999"},
        issue | today | {"mblnr": "4999999002", "budat": (now + timedelta(days=7)).date().isoformat()},
    ])
    consumption = _first_row(mes, "select * from mes_consumptions order by updated_at desc limit 1")
    epoch_ms = int(now.timestamp() * 1000) - 60_000
    insert_rows(mes, "mes_consumptions", [consumption | {
        "event_id": "CON-BADGTIN", "barcode": f"(01){WRONG_CHECK_DIGIT}(10)B1",
        "consumed_at": epoch_ms, "updated_at": epoch_ms,
    }])
    # the WMS re-exports three days' tasks, each broken in its own way; a
    # re-export with no valid row replaces nothing
    plant = json.loads((settings.demo_dir / "plant.json").read_text())
    exports = [f for f in plant["wms_files"] if f["entity"] == "task" and f["role"] == "export" and f["rows"]]
    broken = {}
    for export, defect in zip(exports, ("missing_column", "type:numeric", "encoding"), strict=False):
        with (settings.wms_landing_dir / export["file"]).open(encoding=export["encoding"], newline="") as handle:
            rows = list(csv.DictReader(handle))
        columns = [c for c in rows[0] if c != "qty"] if defect == "missing_column" else list(rows[0])
        if defect == "type:numeric":
            rows = [row | {"qty": "two"} for row in rows]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        data = text.getvalue().encode("utf-8")
        if defect == "encoding":  # a byte neither UTF-8 nor GB18030 decodes, on every line
            data = data.replace(b"\r\n", b"\xff\r\n")
        (settings.wms_landing_dir / f"wms_task_{export['file_date'].replace('-', '')}_9.csv").write_bytes(data)
        broken[(defect, "critical")] = len(rows)
    assert len(broken) == 3, "the small plant has three days of task exports"
    return {
        "erp_material_doc": {("value_set:bwart", "critical"): 1, ("not_future:budat", "warning"): 1},
        "mes_consumptions": {("gs1_check_digit", "warning"): 1},
        "wms_task": broken,
    }


@pytest.fixture(scope="module")
def pipeline_runs():
    home = Path(tempfile.mkdtemp(prefix="sw-pipe-", dir="/tmp"))
    home.chmod(0o755)
    saved = dict(os.environ)
    os.environ.update({"SHRINKWATCH_HOME": str(home), **DEMO})
    for name in ("SHRINKWATCH_DATABASE_URL", "SHRINKWATCH_MES_BASE_URL", "SHRINKWATCH_DEMO_DIR"):
        os.environ.pop(name, None)
    settings = Settings.from_env()
    try:
        first = run_main_job(settings, mes_fault_every=MES_FAULT_EVERY, keep_warehouse=True)
        warehouse = PgTarget(host=str(home / "pg"), password="embedded")
        after_first = _fingerprint(warehouse.conninfo(), ("raw", "staging", "marts"))
        second = run_main_job(settings, mes_fault_every=MES_FAULT_EVERY, keep_warehouse=True)
        after_second = _fingerprint(warehouse.conninfo(), ("raw", "staging", "marts"))
        bad_input = _deliver_bad_input(settings)
        blocked = run_main_job(settings, mes_fault_every=MES_FAULT_EVERY, keep_warehouse=True)
        after_blocked = _fingerprint(warehouse.conninfo(), ("raw", "marts"))
        yield {
            "settings": settings,
            "warehouse": warehouse,
            "first": first,
            "second": second,
            "blocked": blocked,
            "bad_input": bad_input,
            "after_first": after_first,
            "after_second": after_second,
            "after_blocked": after_blocked,
        }
    finally:
        EmbeddedPostgres(home).stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(home, ignore_errors=True)


def _query(target: PgTarget, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(target.conninfo()) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_dag_run_succeeded_in_the_airflow_metadata_database(pipeline_runs):
    runs = _query(
        pipeline_runs["warehouse"].with_db(AIRFLOW_DB),
        "select dag_id, state, count(*) from dag_run group by 1, 2 order by 1, 2",
    )
    # the third transform run was blocked by the publish gate (below)
    assert runs == sorted([(dag_id, "success", 3) for dag_id in EXTRACT_DAGS.values()]
                          + [(TRANSFORM_DAG, "failed", 1), (TRANSFORM_DAG, "success", 2)])
    assert pipeline_runs["first"].failed_dags == pipeline_runs["second"].failed_dags == []


def test_each_transform_run_held_raw_from_its_staging_build_to_its_report(pipeline_runs):
    """Loads wait while a transform holds raw: each run took its lease as its
    staging build started, renewed it once it got as far as its marts build,
    and its report released it, also after the blocked run."""
    transform_runs = _query(
        pipeline_runs["warehouse"].with_db(AIRFLOW_DB),
        "select run_id from dag_run where dag_id = %s order by start_date", (TRANSFORM_DAG,),
    )
    leases = _query(
        pipeline_runs["warehouse"],
        "select run_id, renewed_at > acquired_at, release from ops.transform_leases order by acquired_at",
    )
    assert leases == [
        (run_id, renewed, "released by its report")
        for (run_id,), renewed in zip(transform_runs, (True, True, False), strict=True)
    ]


def test_raw_holds_every_source_row_exactly_once(pipeline_runs):
    settings: Settings = pipeline_runs["settings"]
    warehouse = pipeline_runs["warehouse"]
    # the bad WMS re-exports replaced nothing (they had no valid row); the bad
    # ERP and MES rows are in quarantine, not raw
    for table, delivered in expected_raw_counts(settings.demo_dir, settings.wms_landing_dir).items():
        bad = sum(pipeline_runs["bad_input"].get(table, {}).values()) if not table.startswith("wms_") else 0
        loaded = _query(warehouse, f"select count(*) from raw.{table}")[0][0]
        assert loaded == delivered - bad, table


def test_rows_read_equal_rows_loaded_plus_quarantined_in_every_load(pipeline_runs):
    warehouse = pipeline_runs["warehouse"]
    assert _query(warehouse, "select count(*) from ops.load_conservation") == [(0,)]
    totals = _query(
        warehouse,
        "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from ops.load_ledger",
    )[0]
    assert totals[0] == totals[1] + totals[2] > 0


def test_the_wms_file_delivered_twice_is_skipped_and_recorded(pipeline_runs):
    plant = json.loads((pipeline_runs["settings"].demo_dir / "plant.json").read_text())
    duplicate = next(f["file"] for f in plant["wms_files"] if f["role"] == "duplicate")
    statuses = _query(
        pipeline_runs["warehouse"],
        "select status from ops.load_ledger where file_name = %s order by load_id",
        (duplicate,),
    )
    assert statuses and all(status == "skipped_duplicate" for (status,) in statuses)


def test_mes_429_and_5xx_answers_were_retried_and_everything_loaded(pipeline_runs):
    retries = _query(
        pipeline_runs["warehouse"], "select coalesce(sum(retries), 0) from ops.load_ledger where system = 'mes'"
    )[0][0]
    assert retries > 0
    failed = _query(pipeline_runs["warehouse"], "select count(*) from ops.load_ledger where status = 'failed'")
    assert failed == [(0,)]


# Records of the runs themselves, not of the source data: every validation run
# is a new fact for them, so a rerun rightly adds to them.
RUN_RECORDS = {"staging.stg_ops__load_ledger", "staging.stg_ops__dq_results", "marts.fct_daily_data_quality"}


def test_rerun_with_no_new_source_data_changes_nothing_in_raw_staging_or_marts(pipeline_runs):
    first, second = (
        {name: fingerprint for name, fingerprint in pipeline_runs[run].items() if name not in RUN_RECORDS}
        for run in ("after_first", "after_second")
    )
    assert first == second
    assert any(name.startswith("marts.") and count > 0 for name, (count, _) in first.items())


def test_marts_are_queryable_and_the_report_is_written(pipeline_runs):
    rows = _query(
        pipeline_runs["warehouse"],
        "select source_system, sum(row_count) from marts.fct_daily_source_activity group by 1 order by 1",
    )
    assert [system for system, _ in rows] == ["erp", "mes", "wms"]
    report = json.loads((pipeline_runs["settings"].home / "reports" / "run_summary.json").read_text())
    assert report["unconserved_loads"] == 0
    assert report["relations"]["marts"]["fct_daily_source_activity"] > 0
    # cases per type and the unification holes, as the mart has them
    cases = _query(pipeline_runs["warehouse"], "select count(*) from marts.fct_case")[0][0]
    assert sum(row["cases"] for row in report["cases_by_type"]) == cases
    holes = _query(pipeline_runs["warehouse"], "select count(*) from marts.fct_unattached_movements")[0][0]
    assert len(report["unattached_movements"]) == holes


def test_great_expectations_validated_staging_and_built_data_docs(pipeline_runs):
    index = data_docs_index(results_dir(pipeline_runs["settings"].home))
    assert str(index) == json.loads((pipeline_runs["settings"].home / "reports" / "run_summary.json").read_text())[
        "data_docs"]
    assert index.exists()
    html = index.read_text()
    for suite in SUITES:
        assert suite.name in html


def test_cases_find_the_injected_incidents_without_false_alarms(pipeline_runs):
    """Ten days of a small plant: too little history for every rule (learnt
    working hours, outsourcing turnaround), so recall is partial here; the
    default plant is measured by `shrinkwatch evaluate` (README). No case may
    be raised by the legitimate noise."""
    settings: Settings = pipeline_runs["settings"]
    scores = evaluate.score(
        evaluate.read_cases(pipeline_runs["warehouse"].conninfo()),
        evaluate.read_ground_truth(settings.demo_dir / "ground_truth.csv"),
    )
    print(evaluate.format_table(scores))
    cases = sum(s.cases for s in scores)
    matched = sum(s.matched for s in scores)
    incidents = sum(s.incidents for s in scores)
    assert cases > 0 and matched / cases >= 0.95
    assert matched / incidents >= 0.7
    evidence = _query(
        pipeline_runs["warehouse"],
        "select count(*) from marts.fct_case where evidence ? 'rule' and jsonb_array_length(evidence -> 'sources') > 0",
    )[0][0]
    assert evidence == cases


# --- the third run: bad input, some of it critical --------------------------------


def test_bad_input_is_quarantined_with_its_rule_and_severity_and_nothing_is_lost(pipeline_runs):
    warehouse = pipeline_runs["warehouse"]
    for table, expected in pipeline_runs["bad_input"].items():
        quarantined = _query(
            warehouse,
            "select rule, severity, count(*) from ops.quarantine where table_name = %s and resolved_at is null "
            "group by 1, 2",
            (table,),
        )
        assert {(rule, severity): count for rule, severity, count in quarantined} == expected, table
    erp_refs = _query(warehouse, "select source_ref, rule from quarantine.erp_material_doc order by 1")
    assert [(ref.split("/")[0], rule) for ref, rule in erp_refs] == [
        (f"mblnr={mblnr}", rule) for mblnr, rule in BAD_ERP_DOCS.items()
    ]
    assert _query(warehouse, "select count(*) from ops.load_conservation") == [(0,)]
    # the broken re-exports replaced nothing: the days' tasks are still in raw
    assert pipeline_runs["after_blocked"]["raw.wms_task"] == pipeline_runs["after_second"]["raw.wms_task"]


def test_a_run_with_open_critical_quarantine_is_blocked_and_the_last_good_marts_are_still_served(pipeline_runs):
    blocked = pipeline_runs["blocked"]
    assert blocked.failed_dags == [TRANSFORM_DAG]
    marts = {name: print_ for name, print_ in pipeline_runs["after_blocked"].items() if name.startswith("marts.")}
    assert marts and marts == {
        name: print_ for name, print_ in pipeline_runs["after_second"].items() if name.startswith("marts.")
    }
    warehouse = pipeline_runs["warehouse"]
    runs = _query(warehouse, "select status, reason from ops.publish_runs order by finished_at")
    assert [status for status, _ in runs] == ["published", "published", "blocked"]
    reason = runs[-1][1]
    critical = sum(n for rules in pipeline_runs["bad_input"].values() for (_, sev), n in rules.items()
                   if sev == "critical")
    assert "validate_staging failed" in reason and "dbt_build_marts upstream_failed" in reason
    assert f"stg_ops__quarantine: {QUARANTINE_GATE} ({critical} rows)" in reason
    assert "the marts of the last published run are still served" in reason
    summary = blocked.summary
    assert summary["publish"]["status"] == "blocked"
    assert summary["open_quarantine"] == {"critical": critical, "warning": 2}
    assert "BLOCKED" in report.format_text(summary)
