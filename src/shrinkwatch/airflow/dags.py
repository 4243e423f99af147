"""DAG definitions shared by the thin files in `dags/`.

Parsing must stay cheap (the scheduler re-parses every file often): nothing
here touches a database, the network, dbt or Great Expectations at import
time; the tasks import what they need when they run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, dag, task

from shrinkwatch.airflow import ids, tasks
from shrinkwatch.settings import (
    BIN_DIR,
    DBT_PROJECT_DIR,
    MARTS_ASSET_URI,
    RAW_ASSET_URIS,
    WAREHOUSE_CONN_ID,
    dbt_threads,
    extract_schedule,
)

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_ARGS = {"owner": "shrinkwatch", "retries": 2, "retry_delay": timedelta(minutes=2)}

EXTRACTORS = {
    "erp": tasks.extract_erp_task,
    "wms": tasks.extract_wms_task,
    "mes": tasks.extract_mes_task,
}


def raw_asset(system: str) -> Asset:
    return Asset(name=f"raw_{system}", uri=RAW_ASSET_URIS[system])


MARTS_ASSET = Asset(name="marts", uri=MARTS_ASSET_URI)
# the swap's own bound (publish.SWAP_ATTEMPTS tries) is about two minutes
PUBLISH_TIMEOUT = timedelta(minutes=10)


def extract_dag(system: str, doc_md: str | None):
    """One DAG per source system: extract incrementally into `raw`, then
    update the system's raw Asset so that the transform DAG can run.

    Every SHRINKWATCH_EXTRACT_SCHEDULE (15 minutes), without catch-up: a run
    reads everything new since the watermarks and the files already decided
    on, whatever its interval, so a missed interval's data comes with the next
    run, and a backfilled run finds nothing left to load. One run at a time."""

    @dag(
        dag_id=ids.EXTRACT_DAGS[system],
        schedule=extract_schedule(),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["shrinkwatch", "extract", system],
        doc_md=doc_md,
    )
    def extract():
        @task(task_id=ids.LOAD_TASKS[system], outlets=[raw_asset(system)])
        def load() -> list[dict]:
            return EXTRACTORS[system]()

        load()

    return extract()


def transform_dag(doc_md: str | None):
    """dbt staging → Great Expectations on staging → dbt marts into a shadow
    schema → Great Expectations on the shadow marts → atomic publish → report
    (also of a blocked run).

    Scheduled on the three raw Assets: it runs once all three systems have
    been extracted. The publish, the one task that changes the marts, updates
    the marts Asset for whatever reads them."""
    from cosmos import ProfileConfig
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtBuildLocalOperator
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    from shrinkwatch import publish
    from shrinkwatch.airflow.gx_operator import RecordedCheckpointOperator
    from shrinkwatch.quality.context import CHECKPOINTS, MARTS_CHECKPOINT

    profile = ProfileConfig(
        profile_name="shrinkwatch",
        target_name="airflow",
        profile_mapping=PostgresUserPasswordProfileMapping(
            conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "staging", "threads": dbt_threads()}
        ),
    )

    def dbt_build(task_id: str, *paths: str, **operator_args) -> DbtBuildLocalOperator:
        """One Cosmos task per layer: `dbt build` (models, seeds, data and unit
        tests) in dbt's own dependency order and threads. Per-model Cosmos
        tasks cost ~4 s of task overhead each, which on a 2-core plant
        machine was most of the transform's time."""
        return DbtBuildLocalOperator(
            task_id=task_id,
            project_dir=str(DBT_PROJECT_DIR),
            profile_config=profile,
            select=" ".join(f"path:{path}" for path in paths),
            dbt_executable_path=str(BIN_DIR / "dbt"),
            invocation_mode=InvocationMode.DBT_RUNNER,
            install_deps=False,
            # Cosmos' own per-model Assets need a TCP host and fail on a unix
            # socket; the DAG's marts Asset says enough.
            emit_datasets=False,
            **operator_args,
        )

    @dag(
        dag_id=ids.TRANSFORM_DAG,
        schedule=[raw_asset("erp"), raw_asset("wms"), raw_asset("mes")],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "retries": 0},
        tags=["shrinkwatch", "dbt", "great_expectations"],
        doc_md=doc_md,
    )
    def transform():
        # The run holds raw from here to its report (shrinkwatch.locks): no
        # load commits rows the staging checkpoint did not see.
        staging = dbt_build(ids.DBT_BUILD_STAGING, "models/staging", pre_execute=tasks.take_transform_lease_task)
        # Every checkpoint writes its results to ops.dq_results; a failed
        # critical one fails its task, naming table, expectation and values.
        validate_staging = RecordedCheckpointOperator(
            task_id=ids.VALIDATE_STAGING, checkpoint_name=CHECKPOINTS["critical"]
        )
        warnings = RecordedCheckpointOperator(
            task_id=ids.VALIDATE_STAGING_WARNINGS, checkpoint_name=CHECKPOINTS["warning"], blocking=False
        )
        # Built into the shadow schema and published only when its critical
        # contracts pass (shrinkwatch/publish.py); the marts checkpoint reads
        # the shadow.
        marts = dbt_build(
            ids.DBT_BUILD_MARTS,
            "seeds",
            "models/intermediate",
            "models/marts",
            vars=publish.SHADOW_DBT_VARS,
            pre_execute=tasks.reset_shadow_task,
        )
        validate_marts = RecordedCheckpointOperator(task_id=ids.VALIDATE_MARTS, checkpoint_name=MARTS_CHECKPOINT)

        # the one task that changes the marts: a blocked run updates no Asset.
        # Bounded: the swap gives up on readers that hold the marts open
        # (publish.SWAP_ATTEMPTS), and the task on anything else that hangs.
        @task(task_id=ids.PUBLISH_MARTS, outlets=[MARTS_ASSET], execution_timeout=PUBLISH_TIMEOUT)
        def publish_marts(dag_run=None) -> None:
            tasks.publish_marts_task(dag_run.run_id)

        # all_done: a blocked run is recorded too, and its report task fails
        # so that the DAG run ends failed.
        @task(task_id=ids.REPORT, trigger_rule="all_done")
        def report(dag_run=None, ti=None) -> dict:
            states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id])[dag_run.run_id]
            return tasks.report_task(dag_run.run_id, dag_run.start_date, states)

        published = publish_marts()
        # warnings are reported even when the critical checkpoint blocks the run
        staging >> [validate_staging, warnings]
        validate_staging >> marts >> validate_marts >> published
        [published, warnings] >> report()

    return transform()
