"""The publish gate on a real PostgreSQL: the shadow marts are swapped in as
a whole, a view outside the marts that would be dropped by the swap refuses
it, and a run's outcome is recorded in `ops.publish_runs` and the report.

The transform DAG wires these functions (test_pipeline.py runs it, including a
blocked run); here each step is checked on hand-made schemas, in seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from helpers.marts import build_shadow, published_cases
from shrinkwatch import publish, report
from shrinkwatch.airflow.ids import CRITICAL_TRANSFORM_TASKS
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.postgres import PgTarget

STARTED_AT = datetime(2026, 4, 13, 6, tzinfo=UTC)


def _schemas(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("select nspname from pg_namespace where nspname not like 'pg\\_%'")}


def _states(failed_task: str | None) -> dict[str, str]:
    """Task states of a transform run that failed at `failed_task` (None: all succeeded)."""
    states, outcome = {}, "success"
    for task_id in CRITICAL_TRANSFORM_TASKS:
        if task_id == failed_task:
            states[task_id], outcome = "failed", "upstream_failed"
        else:
            states[task_id] = outcome
    return states


def test_the_shadow_is_swapped_in_whole_and_the_previous_marts_are_gone(warehouse: PgTarget):
    conninfo = warehouse.conninfo()
    build_shadow(conninfo, ["c1", "c2"])
    publish.swap_in_shadow(conninfo)  # the first publish: no marts yet
    assert published_cases(conninfo) == ["c1", "c2"]

    build_shadow(conninfo, ["c3"])
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("select count(*) from marts.fct_case").fetchone()[0] == 2, "the shadow is not served"
    publish.swap_in_shadow(conninfo)
    assert published_cases(conninfo) == ["c3"]
    with psycopg.connect(conninfo) as conn:
        schemas = _schemas(conn)
    assert "marts" in schemas
    assert not {s for s in schemas if s.startswith("marts__")}, schemas


def test_a_view_outside_the_marts_refuses_the_swap_until_it_is_gone(warehouse: PgTarget):
    conninfo = warehouse.conninfo()
    build_shadow(conninfo, ["c1"])
    publish.swap_in_shadow(conninfo)
    build_shadow(conninfo, ["c2"])
    with psycopg.connect(conninfo) as conn:
        conn.execute("create schema if not exists bi")
        conn.execute("create view bi.open_cases as select * from marts.fct_case")
    with pytest.raises(publish.PublishRefused, match="bi.open_cases"):
        publish.swap_in_shadow(conninfo)
    assert published_cases(conninfo) == ["c1"], "a refused swap changes nothing"
    with psycopg.connect(conninfo) as conn:
        conn.execute("drop view bi.open_cases")
    publish.swap_in_shadow(conninfo)
    assert published_cases(conninfo) == ["c2"]


def test_a_run_publishes_only_when_its_publish_task_succeeded():
    assert publish.outcome(_states(None), publish_task_id="publish_marts") == ("published", None)
    status, reason = publish.outcome(_states("validate_staging"), publish_task_id="publish_marts")
    assert status == "blocked"
    assert reason.startswith("critical contracts failed (validate_staging failed, dbt_build_marts upstream_failed")
    assert reason.endswith("the marts of the last published run are still served")


def test_publish_runs_and_the_report_say_whether_the_marts_were_published(warehouse: PgTarget):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo) as conn:
        ensure_schemas(conn)
    for run_id, failed_task in (("run-1", None), ("run-2", "validate_marts")):
        status, reason = publish.outcome(_states(failed_task), publish_task_id="publish_marts")
        publish.record_run(conninfo, run_id, STARTED_AT, status, reason)
    with psycopg.connect(conninfo) as conn:
        runs = conn.execute("select run_id, status, reason from ops.publish_runs order by run_id").fetchall()
    assert [(run_id, status) for run_id, status, _ in runs] == [("run-1", "published"), ("run-2", "blocked")]
    assert runs[0][2] is None
    assert "validate_marts failed" in runs[1][2] and "publish_marts upstream_failed" in runs[1][2]
    summary = report.collect(conninfo)
    assert summary["publish"]["run_id"] == "run-2"
    assert "Marts: run run-2 BLOCKED: critical contracts failed" in report.format_text(summary)


def test_a_blocked_runs_status_names_the_critical_expectations_that_failed(warehouse: PgTarget):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo) as conn:
        ensure_schemas(conn)
        conn.execute(
            """insert into ops.dq_results (run_id, run_at, checkpoint, suite, table_name, system, expectation,
                                           description, severity, dimension, success, observed_value,
                                           unexpected_count)
               values ('gx-0', %(before)s, 'staging', 's', 'stg_erp__users', 'erp', 'x', 'old', 'critical', 'validity',
                       false, null, 1),
                      -- a SQL expectation: the count is its observed value
                      ('gx-1', %(after)s, 'staging', 's', 'stg_ops__quarantine', 'ops', 'unexpected_rows_expectation',
                       'no open critical quarantined row', 'critical', 'consistency', false, '2', null),
                      ('gx-1', %(after)s, 'staging', 's', 'stg_erp__batches', 'erp',
                       'expect_column_values_to_not_be_null', null, 'critical', 'completeness', false, null, 3),
                      ('gx-1', %(after)s, 'staging_warnings', 's', 'stg_erp__materials', 'erp',
                       'expect_column_values_to_be_in_set', null, 'warning', 'validity', false, null, 5),
                      ('gx-1', %(after)s, 'staging', 's', 'stg_wms__tasks', 'wms',
                       'expect_column_values_to_be_unique', null, 'critical', 'uniqueness', true, null, 0)""",
            {"before": datetime(2026, 4, 13, 5, tzinfo=UTC), "after": datetime(2026, 4, 13, 6, 5, tzinfo=UTC)},
        )
    failed = publish.failed_critical_expectations(conninfo, since=STARTED_AT)
    assert failed == [
        "stg_erp__batches: expect_column_values_to_not_be_null (3 rows)",
        "stg_ops__quarantine: no open critical quarantined row (2 rows)",
    ]
    status, reason = publish.outcome(_states("validate_staging"), "publish_marts", failed)
    assert status == "blocked"
    assert "; failed: stg_erp__batches: expect_column_values_to_not_be_null (3 rows); stg_ops__quarantine: " in reason


def test_a_reader_holding_the_marts_open_bounds_the_swap_and_changes_nothing(warehouse: PgTarget):
    """A BI session idle in a transaction over the marts: the swap waits at
    most its lock timeout per try (new readers are not queued behind it for
    longer), then fails naming the session; the previous marts are still
    served. Once the session ends, the same shadow is published."""
    conninfo = warehouse.conninfo()
    build_shadow(conninfo, ["c1"])
    publish.swap_in_shadow(conninfo)
    build_shadow(conninfo, ["c2"])
    with psycopg.connect(conninfo, application_name="bi-dashboard") as bi:
        bi.execute("select count(*) from marts.fct_case").fetchone()  # idle in transaction from here
        started = time.monotonic()
        with pytest.raises(publish.MartsBusy, match=r"bi-dashboard, idle in transaction"):
            publish.swap_in_shadow(
                conninfo, lock_timeout=timedelta(milliseconds=300), attempts=2, retry_pause=timedelta(milliseconds=100)
            )
        assert time.monotonic() - started < 5
        # a reader that starts while the swap gave up is served at once, the old marts
        with psycopg.connect(conninfo) as other_reader:
            other_reader.execute("set statement_timeout = '2s'")
            assert other_reader.execute("select case_id from marts.fct_case").fetchall() == [("c1",)]
        bi.rollback()
    publish.swap_in_shadow(conninfo)
    assert published_cases(conninfo) == ["c2"]
