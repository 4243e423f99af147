"""What the DAG tasks do, once Airflow has resolved their connections.

DAG files stay thin: each task calls one function here. The functions resolve
endpoints through Airflow provider hooks (so a deployment points shrinkwatch at
its systems with Airflow connections) and hand plain values to the extractors,
which know nothing of Airflow and are tested without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict

from shrinkwatch.airflow.ids import CRITICAL_TRANSFORM_TASKS, PUBLISH_MARTS
from shrinkwatch.postgres import PgTarget
from shrinkwatch.settings import ERP_CONN_ID, MES_CONN_ID, WAREHOUSE_CONN_ID, WMS_CONN_ID, Settings

log = logging.getLogger(__name__)


def warehouse_target() -> PgTarget:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook.get_connection(WAREHOUSE_CONN_ID)
    return PgTarget(
        host=conn.host or "localhost",
        port=conn.port or 5432,
        user=conn.login or "postgres",
        password=conn.password or "",
        dbname=conn.schema or "shrinkwatch",
    )


def _mask_url_password(url: str) -> None:
    """Airflow masks a connection's password in task logs, not one inside an
    extra (the ERP's `sqlalchemy_url`): register it with Airflow's masker."""
    from urllib.parse import unquote, urlsplit

    from airflow.sdk.log import mask_secret

    password = urlsplit(url).password
    if password:
        mask_secret(password)
        mask_secret(unquote(password))


def _prepare_warehouse() -> str:
    import psycopg

    from shrinkwatch.extract.warehouse import ensure_schemas

    conninfo = warehouse_target().conninfo()
    with psycopg.connect(conninfo) as conn:
        ensure_schemas(conn)
    return conninfo


def _report(system: str, results: list) -> list[dict]:
    # parse_new_barcodes and load_location_map give None when there was nothing new
    rows = [asdict(r) for r in results if r is not None]
    for row in rows:
        log.info(
            "%s %s %s: status=%s read=%s loaded=%s quarantined=%s",
            system, row["table_name"], row.get("file_name") or "", row["status"],
            row["rows_read"], row["rows_loaded"], row["rows_quarantined"],
        )
    broken = [r for r in rows if r["rows_read"] != r["rows_loaded"] + r["rows_quarantined"]]
    if broken:
        raise RuntimeError(f"{system}: rows not conserved (read != loaded + quarantined): {broken}")
    return rows


def _extract_then_report(system: str, extract: Callable[[], list], *then: Callable[[], object]) -> list[dict]:
    """`extract()`, then each of `then` (the location map, the barcodes) even
    when some of the extract's loads failed, so one broken table, file or
    resource holds up nothing else; the task then fails naming those loads."""
    from shrinkwatch.extract.ledger import LoadsFailed

    failed = None
    try:
        results = extract()
    except LoadsFailed as error:
        results, failed = error.results, error
    results += [step() for step in then]
    rows = _report(system, results)
    if failed is not None:
        raise failed
    return rows


def extract_erp_task() -> list[dict]:
    from airflow.sdk.bases.hook import BaseHook

    from shrinkwatch.extract.erp import extract_erp

    settings = Settings.from_env()
    erp_url = BaseHook.get_connection(ERP_CONN_ID).extra_dejson["sqlalchemy_url"]
    _mask_url_password(erp_url)
    warehouse = _prepare_warehouse()
    return _extract_then_report("erp", lambda: extract_erp(
        warehouse,
        erp_url,
        lookback_hours=settings.erp_lookback_hours,
        reconcile_days=settings.erp_reconcile_days,
        chunk_rows=settings.chunk_rows,
        clock_skew=settings.clock_skew,
        lock_timeout=settings.lock_timeout,
    ))


def extract_wms_task() -> list[dict]:
    from pathlib import Path

    from airflow.providers.standard.hooks.filesystem import FSHook

    from shrinkwatch.extract.barcodes import parse_new_barcodes
    from shrinkwatch.extract.location_map import load_location_map
    from shrinkwatch.extract.wms import extract_wms

    settings = Settings.from_env()
    landing_dir = Path(FSHook(fs_conn_id=WMS_CONN_ID).get_path())
    warehouse = _prepare_warehouse()
    return _extract_then_report(
        "wms",
        lambda: extract_wms(
            warehouse,
            landing_dir,
            encodings=settings.wms_encodings,
            chunk_rows=settings.chunk_rows,
            clock_skew=settings.clock_skew,
            lock_timeout=settings.lock_timeout,
        ),
        lambda: load_location_map(
            warehouse, settings.location_map, chunk_rows=settings.chunk_rows, lock_timeout=settings.lock_timeout
        ),
        # the barcodes WMS hand-helds scanned (raw.wms_task.scanned_barcode)
        lambda: parse_new_barcodes(warehouse, chunk_rows=settings.chunk_rows, lock_timeout=settings.lock_timeout),
    )


def extract_mes_task() -> list[dict]:
    from airflow.providers.http.hooks.http import HttpHook

    from shrinkwatch.extract.barcodes import parse_new_barcodes
    from shrinkwatch.extract.mes import extract_mes

    settings = Settings.from_env()
    hook = HttpHook(method="GET", http_conn_id=MES_CONN_ID)
    hook.get_conn()  # resolves hook.base_url from the connection
    token = hook.get_connection(MES_CONN_ID).password or ""
    warehouse = _prepare_warehouse()
    return _extract_then_report(
        "mes",
        lambda: extract_mes(
            warehouse,
            hook.base_url,
            token,
            page_size=settings.mes_page_size,
            max_retries=settings.mes_max_retries,
            lookback_hours=settings.mes_lookback_hours,
            chunk_rows=settings.chunk_rows,
            clock_skew=settings.clock_skew,
            lock_timeout=settings.lock_timeout,
        ),
        # the barcodes of the MES events just loaded
        lambda: parse_new_barcodes(warehouse, chunk_rows=settings.chunk_rows, lock_timeout=settings.lock_timeout),
    )


# The transform holds raw from its staging build to its report (shrinkwatch.locks):
# the lease is taken by its first task, renewed as the marts build and the
# publish start, and released by the report, whatever happened before it.


def take_transform_lease_task(context) -> None:
    """pre_execute hook of the staging build: hold raw for this run, once the
    loads in flight have committed (bounded by SHRINKWATCH_LOCK_TIMEOUT_SECONDS)."""
    from shrinkwatch import locks

    settings = Settings.from_env()
    lease = locks.take_transform_lease(
        _prepare_warehouse(), context["run_id"], duration=settings.transform_lease, timeout=settings.lock_timeout
    )
    log.info("%s: loads wait until its report releases raw", lease)


def _renew_transform_lease(run_id: str) -> None:
    from shrinkwatch import locks

    locks.renew_transform_lease(warehouse_target().conninfo(), run_id, duration=Settings.from_env().transform_lease)


def reset_shadow_task(context) -> None:
    """pre_execute hook of the shadow build: renew the run's hold on raw, and
    start from empty shadow schemas."""
    from shrinkwatch import publish

    _renew_transform_lease(context["run_id"])
    publish.reset_shadow(warehouse_target().conninfo())


def publish_marts_task(run_id: str) -> None:
    """Swap the shadow marts in, once sure that raw has not changed since the
    run's staging checkpoint (its lease still held)."""
    from shrinkwatch import publish

    _renew_transform_lease(run_id)
    publish.swap_in_shadow(warehouse_target().conninfo())
    log.info("published %s", ", ".join(publish.PUBLISHED_SCHEMAS))


def report_task(run_id: str, started_at, task_states: dict[str, str | None]) -> dict:
    """Records whether the run published its marts, writes the run report,
    releases the run's hold on raw, and fails when the publish was blocked, so
    that the DAG run ends failed."""
    from airflow.sdk.exceptions import AirflowFailException

    from shrinkwatch import locks, publish, report

    conninfo = warehouse_target().conninfo()
    try:
        critical_states = {task_id: task_states.get(task_id) for task_id in CRITICAL_TRANSFORM_TASKS}
        status, reason = publish.outcome(
            critical_states, PUBLISH_MARTS, publish.failed_critical_expectations(conninfo, started_at)
        )
        publish.record_run(conninfo, run_id, started_at, status, reason)
    finally:
        # the run's marts are settled: the loads waiting for raw may go on
        locks.release_transform_lease(conninfo, run_id)
    summary = report.collect(conninfo)
    path = report.write(summary, Settings.from_env().home / "reports" / "run_summary.json")
    log.info("run report written to %s\n%s", path, report.format_text(summary))
    if status != "published":
        raise AirflowFailException(reason)
    return summary


def gx_file_context():
    from shrinkwatch.quality.context import gx_dsn, open_context, results_dir

    return open_context(gx_dsn(warehouse_target()), results_dir(Settings.from_env().home))

