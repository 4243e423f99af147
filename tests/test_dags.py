"""DAG integrity and policy: every file in dags/ imports cleanly (in a fresh
interpreter with shrinkwatch's Airflow environment, as the dag-processor sees
it) and every DAG follows the project's rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shrinkwatch.airflow import ids
from shrinkwatch.postgres import PgTarget
from shrinkwatch.runtime import Runtime
from shrinkwatch.settings import BIN_DIR, DAGS_FOLDER, DBT_PROJECT_DIR, MARTS_ASSET_URI, RAW_ASSET_URIS, Settings

INSPECT_DAGBAG = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%r)
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tags": sorted(dag.tags),
            "retries": [t.retries for t in dag.tasks],
            "catchup": dag.catchup,
            "schedule": getattr(dag.timetable, "expression", None),
            "max_active_runs": dag.max_active_runs,
            "tasks": sorted(dag.task_ids),
            "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks},
            "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
            "file": dag.fileloc,
            "schedule_assets": sorted(
                a.uri for a in dag.timetable.asset_condition.objects
            ) if getattr(dag.timetable, "asset_condition", None) is not None else [],
            "outlets": sorted(o.uri for t in dag.tasks for o in t.outlets),
            "outlets_by_task": {t.task_id: sorted(o.uri for o in t.outlets) for t in dag.tasks if t.outlets},
            "execution_timeouts": {
                t.task_id: t.execution_timeout.total_seconds() for t in dag.tasks if t.execution_timeout
            },
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        **Runtime(Settings.from_env()).airflow_env(PgTarget(host="/nonexistent"), "http://127.0.0.1:1"),
    }
    env["AIRFLOW_HOME"] = str(home)
    # as the demo and the image build do: Cosmos renders from the manifest
    subprocess.run(
        [str(BIN_DIR / "dbt"), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
         str(DBT_PROJECT_DIR)],
        env={**os.environ, "SHRINKWATCH_PG_HOST": "/nonexistent"}, check=True, capture_output=True,
    )
    done = subprocess.run(
        [sys.executable, "-c", INSPECT_DAGBAG % str(DAGS_FOLDER)],
        env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == {"extract_erp", "extract_wms", "extract_mes", "transform"}


def test_every_dag_is_tagged_and_does_not_catch_up(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert "shrinkwatch" in dag["tags"], dag_id
        assert dag["catchup"] is False, dag_id


def test_extract_tasks_retry(dagbag):
    for system in RAW_ASSET_URIS:
        assert all(r >= 1 for r in dagbag["dags"][f"extract_{system}"]["retries"])


def test_each_extract_dag_updates_its_asset_and_the_transform_dag_waits_for_all_three(dagbag):
    for system, uri in RAW_ASSET_URIS.items():
        assert dagbag["dags"][f"extract_{system}"]["outlets"] == [uri]
    transform = dagbag["dags"]["transform"]
    assert transform["schedule_assets"] == sorted(RAW_ASSET_URIS.values())
    assert "validate_staging" in transform["tasks"]
    assert transform["tasks"] == sorted(
        [
            "dbt_build_staging",
            "validate_staging",
            "validate_staging_warnings",
            "dbt_build_marts",
            "validate_marts",
            "publish_marts",
            "report",
        ]
    )


def test_the_transform_dag_publishes_only_checked_marts_and_always_reports(dagbag):
    transform = dagbag["dags"]["transform"]
    assert transform["upstream"]["dbt_build_marts"] == ["validate_staging"]
    assert transform["upstream"]["validate_marts"] == ["dbt_build_marts"]
    assert transform["upstream"]["publish_marts"] == ["validate_marts"]
    assert transform["upstream"]["report"] == ["publish_marts", "validate_staging_warnings"]
    # warnings are reported even when the critical checkpoint blocks the run
    assert transform["upstream"]["validate_staging_warnings"] == ["dbt_build_staging"]
    # the report records a blocked run too
    assert transform["trigger_rules"]["report"] == "all_done"


def test_the_marts_asset_is_updated_by_the_publish_alone(dagbag):
    # a blocked run changes no mart, so it must not tell readers the marts changed
    assert dagbag["dags"][ids.TRANSFORM_DAG]["outlets_by_task"] == {ids.PUBLISH_MARTS: [MARTS_ASSET_URI]}


def test_the_publish_is_bounded_in_time(dagbag):
    # the swap waits for readers of the marts; nothing may keep it, and every
    # marts query queued behind it, waiting without end
    timeouts = dagbag["dags"][ids.TRANSFORM_DAG]["execution_timeouts"]
    assert 0 < timeouts[ids.PUBLISH_MARTS] <= 15 * 60


def test_the_extracts_run_every_15_minutes_one_run_at_a_time_and_the_transform_on_their_assets(dagbag):
    for system in RAW_ASSET_URIS:
        dag = dagbag["dags"][f"extract_{system}"]
        assert (dag["schedule"], dag["max_active_runs"]) == ("*/15 * * * *", 1)
    assert dagbag["dags"][ids.TRANSFORM_DAG]["max_active_runs"] == 1


def test_the_extract_schedule_is_a_setting(monkeypatch):
    from shrinkwatch.settings import extract_schedule

    monkeypatch.setenv("SHRINKWATCH_EXTRACT_SCHEDULE", "@hourly")
    assert extract_schedule() == "@hourly"
    monkeypatch.delenv("SHRINKWATCH_EXTRACT_SCHEDULE")
    assert extract_schedule() == "*/15 * * * *"
