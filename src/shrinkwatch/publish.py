"""The publish gate: marts change only when a run's critical contracts pass.

The transform DAG builds the marts into a shadow schema (`marts__shadow`),
runs their critical GX checkpoint there, and swaps the shadow in with one
transaction, so a BI tool reads either the last good run's marts or the new
ones, never a half-built schema. A run whose critical contracts fail (the
staging checkpoint, a dbt test, the marts checkpoint) publishes nothing: the
marts of the last published run stay in place, `ops.publish_runs` says why,
and the blocked run's shadow stays readable for diagnosis until the next run.

Only the marts are published this way: they are what BI tools and the report
read, and they are tables. `intermediate` holds views over staging that dbt
drops in cascade whenever it rebuilds a staging view, so it could not be kept
as "the last good run" anyway; it is rebuilt in place by every run that gets
past the staging checkpoint. The swap drops only the previous marts, and
refuses when a view elsewhere still reads them.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from shrinkwatch.ops import DQ_RESULTS, PUBLISH_RUNS

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS = ("marts",)
SHADOW_SCHEMAS = {schema: f"{schema}__shadow" for schema in PUBLISHED_SCHEMAS}
# dbt vars of a shadow build (macros/generate_schema_name.sql reads them).
SHADOW_DBT_VARS = {"shadow_schemas": SHADOW_SCHEMAS}


# Views outside the published schemas that read them. PostgreSQL binds a view
# to the relations it reads, not to their names: the swap would drop such a
# view with the previous schemas, so it refuses instead.
OUTSIDE_READERS = """
select distinct format('%%I.%%I', reader_schema.nspname, reader.relname)
from pg_depend as dependency
join pg_rewrite as view_rule on view_rule.oid = dependency.objid
join pg_class as reader on reader.oid = view_rule.ev_class
join pg_namespace as reader_schema on reader_schema.oid = reader.relnamespace
join pg_class as read on read.oid = dependency.refobjid
join pg_namespace as read_schema on read_schema.oid = read.relnamespace
where dependency.classid = 'pg_rewrite'::regclass
  and dependency.refclassid = 'pg_class'::regclass
  and read_schema.nspname = any(%(published)s)
  and reader_schema.nspname <> all(%(published)s)
order by 1
"""


# How long the swap may wait for the marts' locks, and how often it tries.
# Dropping the previous marts needs every reader of them gone; while the swap
# waits, each new marts query queues behind it, so a BI session left idle in
# a transaction would stall every dashboard for as long as it stays open. The
# swap gives up its place after SWAP_LOCK_TIMEOUT (readers go on at once),
# tries again after SWAP_RETRY_PAUSE, and fails, naming the sessions, after
# SWAP_ATTEMPTS: at most about two minutes, within the task's
# execution_timeout.
SWAP_LOCK_TIMEOUT = timedelta(seconds=10)
SWAP_RETRY_PAUSE = timedelta(seconds=15)
SWAP_ATTEMPTS = 5

# The sessions holding locks on the published schemas' tables.
LOCK_HOLDERS = """
select distinct activity.pid, activity.usename, coalesce(nullif(activity.application_name, ''), '-'),
       activity.state, date_trunc('second', now() - activity.xact_start)::text
from pg_locks as held
join pg_class as relation on relation.oid = held.relation
join pg_namespace as relation_schema on relation_schema.oid = relation.relnamespace
join pg_stat_activity as activity on activity.pid = held.pid
where held.granted
  and relation_schema.nspname = any(%(published)s)
  and held.pid <> pg_backend_pid()
order by 1
"""


class PublishRefused(Exception):
    """The swap would break something outside the published schemas."""


class MartsBusy(Exception):
    """Sessions held the published marts open through every attempt of the swap."""


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select exists (select from pg_namespace where nspname = %s)", (schema,)).fetchone()[0]


def reset_shadow(conninfo: str) -> None:
    """Drop the shadow schemas before a shadow build, so that nothing a blocked
    run left behind (nor a model since deleted) is ever published. Not a dbt
    on-run-start hook: dbt creates the schemas and caches their relations
    before its hooks run."""
    with psycopg.connect(conninfo) as conn:
        for shadow in SHADOW_SCHEMAS.values():
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(shadow)))


def lock_holders(conninfo: str) -> list[str]:
    """`pid N (user, application, state, in transaction for T)` for each session
    holding a lock on a published table."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(LOCK_HOLDERS, {"published": list(PUBLISHED_SCHEMAS)}).fetchall()
    return [
        f"pid {pid} ({user}, {application}, {state}, in transaction for {age or 'no transaction'})"
        for pid, user, application, state, age in rows
    ]


def swap_in_shadow(
    conninfo: str,
    lock_timeout: timedelta = SWAP_LOCK_TIMEOUT,
    attempts: int = SWAP_ATTEMPTS,
    retry_pause: timedelta = SWAP_RETRY_PAUSE,
) -> None:
    """Replace each published schema by its shadow in one transaction.

    Readers of the old tables finish first (the drop waits for their locks,
    `lock_timeout` at a time); queries that start meanwhile resolve the names
    again after commit and read the new tables. Raises MartsBusy, naming the
    sessions, when readers still hold the marts after `attempts` tries: the
    previous marts are then still served, unchanged."""
    for attempt in range(1, attempts + 1):
        try:
            _swap_once(conninfo, lock_timeout)
            return
        except psycopg.errors.LockNotAvailable:
            holders = lock_holders(conninfo)
            if attempt == attempts:
                raise MartsBusy(
                    f"the marts were not swapped: after {attempts} tries of {lock_timeout.total_seconds():g} s "
                    f"each, sessions still hold them open: {'; '.join(holders) or 'none left'}. "
                    "The previous marts are still served; end those sessions (an idle transaction of a "
                    "BI tool) and run the transform again"
                ) from None
            log.warning(
                "publish: the marts are held open by %s; trying again in %g s (%d of %d)",
                "; ".join(holders) or "a session that has just ended", retry_pause.total_seconds(),
                attempt, attempts,
            )
            time.sleep(retry_pause.total_seconds())


def _swap_once(conninfo: str, lock_timeout: timedelta) -> None:
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute(
            sql.SQL("set local lock_timeout = {}").format(sql.Literal(f"{int(lock_timeout.total_seconds() * 1000)}ms"))
        )
        readers = [r[0] for r in conn.execute(OUTSIDE_READERS, {"published": list(PUBLISHED_SCHEMAS)})]
        if readers:
            raise PublishRefused(
                f"views outside {', '.join(PUBLISHED_SCHEMAS)} read them and would be dropped by the swap: "
                f"{', '.join(readers)}; build them as dbt models instead"
            )
        for schema, shadow in SHADOW_SCHEMAS.items():
            previous = sql.Identifier(f"{schema}__previous")
            if _schema_exists(conn, schema):  # not before the first publish
                conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(schema), previous))
            conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(shadow), sql.Identifier(schema)))
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(previous))


# The critical expectations that failed since a run started, for its status.
FAILED_CRITICAL_EXPECTATIONS = f"""
select table_name, coalesce(description, expectation),
       -- a SQL expectation observes its offending rows' count, the others count them
       max(coalesce(unexpected_count::text, observed_value))
from {DQ_RESULTS}
where run_at >= %s and severity = 'critical' and not success
group by 1, 2
order by 1, 2
"""


def failed_critical_expectations(conninfo: str, since: datetime) -> list[str]:
    """`table: expectation (n rows)` for each critical expectation that failed
    since `since`: what a blocked run's status names besides its tasks."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(FAILED_CRITICAL_EXPECTATIONS, (since,)).fetchall()
    return [f"{table}: {what}" + (f" ({count} rows)" if count else "") for table, what, count in rows]


def outcome(
    task_states: dict[str, str | None], publish_task_id: str, failed_expectations: list[str] = ()
) -> tuple[str, str | None]:
    """(status, reason) of a transform run from its task states: published only
    when the publish task succeeded; otherwise the reason names the tasks that
    did not succeed and the critical expectations that failed."""
    if task_states.get(publish_task_id) == "success":
        return "published", None
    not_succeeded = [f"{task_id} {state or 'not run'}" for task_id, state in task_states.items() if state != "success"]
    expectations = f"; failed: {'; '.join(failed_expectations)}" if failed_expectations else ""
    return "blocked", (
        f"critical contracts failed ({', '.join(not_succeeded)}){expectations}; "
        "the marts of the last published run are still served"
    )


def record_run(conninfo: str, run_id: str, started_at: datetime, status: str, reason: str | None) -> None:
    """One row per transform run in `ops.publish_runs` (DDL in
    `extract.warehouse.ensure_schemas`); a retried report overwrites its row."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            f"""
            insert into {PUBLISH_RUNS} (run_id, started_at, finished_at, status, reason)
            values (%s, %s, now(), %s, %s)
            on conflict (run_id) do update
            set started_at = excluded.started_at, finished_at = excluded.finished_at,
                status = excluded.status, reason = excluded.reason
            """,
            (run_id, started_at, status, reason),
        )
