"""Locks between shrinkwatch's runs, held by the warehouse's PostgreSQL.

Airflow's `max_active_runs` keeps one run of a DAG at a time only under its
scheduler: the CLI, `airflow dags test`, a manual trigger beside a scheduled
run or a second deployment bypass it. So the warehouse itself keeps apart the
two things that must not mix:

- **One load of a raw table at a time.** `raw_write(conn, table)` is the
  transaction of one load: it takes the table's advisory lock in it
  (`pg_advisory_xact_lock`, key `shrinkwatch` / `load.raw.<table>`), held until
  the load commits or rolls back. Whatever a load decides from the ledger
  (which WMS file to load, whether the location map changed) it decides inside
  that transaction, so a run that waited for another sees what the other
  committed.

- **No load writes raw while a transform reads it.** The transform spans
  several Airflow tasks, separate processes and maybe separate workers, so no
  session can hold a lock from its staging build to its publish. It holds a
  lease instead: its row in `ops.transform_leases` (run id, until when; at most
  one row unreleased), taken as its staging build starts
  (`take_transform_lease`), renewed as its marts build and its publish start
  (`renew_transform_lease`) and released by its report
  (`release_transform_lease`). Taking it needs the advisory lock
  `shrinkwatch` / `raw` exclusively, so it waits for the loads in flight; every
  load holds that lock shared and looks at the lease before it writes: while a
  transform holds raw, the load ends its empty transaction and tries again
  until the lease is gone. So a transform publishes exactly the rows its
  staging checkpoint validated, and a load that arrives meanwhile waits and
  reaches the next transform's marts.

Every wait is bounded (`timeout`, the setting `SHRINKWATCH_LOCK_TIMEOUT_SECONDS`):
then `LockTimeout` says who held on (the transform run and its lease, or the
sessions holding the lock) and nothing was written. A lease expires
(`duration`, `SHRINKWATCH_TRANSFORM_LEASE_MINUTES`, after it was last taken or
renewed), so a transform that died without its report does not hold raw for
ever: the next load breaks the expired lease and writes, and the transform
that held it then cannot renew it (`LeaseLost`), so it does not publish.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from shrinkwatch.ops import TRANSFORM_LEASES

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = timedelta(minutes=15)
DEFAULT_LEASE = timedelta(hours=1)
# How often a waiting run looks at the lease again.
POLL_INTERVAL = timedelta(seconds=1)

NAMESPACE = "shrinkwatch"
RAW = "raw"


def table_lock(table_name: str) -> str:
    """The name of the advisory lock one load of raw.<table_name> holds."""
    return f"load.raw.{table_name}"


class LockTimeout(Exception):
    """A run waited its whole bound for another; it wrote nothing."""


class LeaseLost(Exception):
    """A transform's lease on raw expired and a load broke it: raw changed under the run."""


@dataclass(frozen=True)
class Lease:
    run_id: str
    acquired_at: datetime
    expires_at: datetime
    expired: bool = False

    def __str__(self) -> str:
        return (f"transform run {self.run_id} (holding raw since {self.acquired_at:%Y-%m-%d %H:%M:%S%z}, "
                f"lease until {self.expires_at:%Y-%m-%d %H:%M:%S%z})")


class _NotGranted(Exception):
    def __init__(self, lock: str):
        self.lock = lock


# The sessions holding an advisory lock of the two-int form (objsubid 2).
_HOLDERS = """
select activity.pid, coalesce(nullif(activity.application_name, ''), '-'), activity.state,
       date_trunc('second', now() - activity.xact_start)::text
from pg_locks as held
join pg_stat_activity as activity on activity.pid = held.pid
where held.locktype = 'advisory' and held.granted and held.objsubid = 2
  and held.database = (select oid from pg_database where datname = current_database())
  and held.classid = hashtext(%(namespace)s)::oid and held.objid = hashtext(%(lock)s)::oid
  and held.pid <> pg_backend_pid()
order by 1
"""


def holders(conn: psycopg.Connection, lock: str) -> list[str]:
    """`pid N (application, state, in transaction for T)` of each session holding `lock`."""
    rows = conn.execute(_HOLDERS, {"namespace": NAMESPACE, "lock": lock}).fetchall()
    return [f"pid {pid} ({application}, {state}, in transaction for {age})" for pid, application, state, age in rows]


def _lock(conn: psycopg.Connection, lock: str, *, shared: bool, deadline: float) -> None:
    """Take an advisory lock for the rest of the transaction, waiting until `deadline` at most."""
    remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))  # 0 would mean no bound at all
    previous = conn.execute("select current_setting('lock_timeout')").fetchone()[0]
    conn.execute("select set_config('lock_timeout', %s, true)", (f"{remaining_ms}ms",))
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    try:
        conn.execute(f"select {function}(hashtext(%s), hashtext(%s))", (NAMESPACE, lock))
    except psycopg.errors.LockNotAvailable:
        raise _NotGranted(lock) from None
    # what the transaction does next waits as the session would have
    conn.execute("select set_config('lock_timeout', %s, true)", (previous,))


_LEASE = "run_id, acquired_at, expires_at, expires_at <= clock_timestamp()"


def current_lease(conn: psycopg.Connection) -> Lease | None:
    """The unreleased transform lease (expired or not), if any."""
    row = conn.execute(f"select {_LEASE} from {TRANSFORM_LEASES} where released_at is null").fetchone()
    return Lease(*row) if row else None


def _break(conn: psycopg.Connection, lease: Lease, breaker: str) -> None:
    """Release an expired lease in `breaker`'s name; nothing when its run renewed it meanwhile."""
    broken = conn.execute(
        f"""update {TRANSFORM_LEASES}
            set released_at = clock_timestamp(), release = 'expired; broken by ' || %s
            where run_id = %s and released_at is null and expires_at <= clock_timestamp()""",
        (breaker, lease.run_id),
    ).rowcount
    if broken:
        log.warning("%s has expired: broken by %s, so that run will not publish", lease, breaker)


@contextmanager
def _transaction_holding(
    conn: psycopg.Connection, who: str, locks: Sequence[tuple[str, bool]], timeout: timedelta,
    blocked_by: Callable[[Lease], bool],
) -> Iterator[None]:
    """A transaction on the autocommit `conn` holding `locks` ((name, shared), in
    that order) while no unexpired lease `blocked_by` says no; until then it is
    tried again every POLL_INTERVAL, up to `timeout`."""
    deadline = time.monotonic() + timeout.total_seconds()
    announced = False
    while True:
        try:
            with conn.transaction():
                for lock, shared in locks:
                    _lock(conn, lock, shared=shared, deadline=deadline)
                # only read the leases here: a write would lock their table
                # for the whole load, and the `create index if not exists` of
                # every other run's ensure_schemas would queue behind it
                lease = current_lease(conn)
                if lease is None or not blocked_by(lease):
                    yield
                    return
                if lease.expired:
                    _break(conn, lease, who)
                    continue  # committed: look again at once
        except _NotGranted as refused:
            sessions = "; ".join(holders(conn, refused.lock)) or "a session that has just ended"
            raise LockTimeout(
                f"{who} gave up after {timeout.total_seconds():g} s waiting for the lock {refused.lock}, "
                f"held by {sessions}; nothing was written"
            ) from None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(
                f"{who} gave up after {timeout.total_seconds():g} s: {lease} holds raw; nothing was written. "
                "A transform that died without its report frees raw once its lease expires"
            )
        if not announced:
            log.info("%s waits: %s holds raw (at most %g s more)", who, lease, remaining)
            announced = True
        time.sleep(min(POLL_INTERVAL.total_seconds(), remaining))


@contextmanager
def raw_write(conn: psycopg.Connection, table_name: str, *, timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[None]:
    """The transaction in which one load writes raw.<table_name> (and its
    quarantine and ledger rows), on an autocommit connection: no other load of
    the table and no transform runs meanwhile. Waits for them up to `timeout`,
    then raises LockTimeout."""
    with _transaction_holding(
        conn, f"the load of raw.{table_name}", [(RAW, True), (table_lock(table_name), False)], timeout,
        blocked_by=lambda lease: True,
    ):
        yield


def _connect(conninfo: str, run_id: str) -> psycopg.Connection:
    return psycopg.connect(conninfo, autocommit=True, application_name=f"shrinkwatch transform {run_id}"[:63])


def take_transform_lease(
    conninfo: str, run_id: str, *, duration: timedelta = DEFAULT_LEASE, timeout: timedelta = DEFAULT_TIMEOUT,
) -> Lease:
    """Hold raw for transform run `run_id` until `duration` from now: waits for
    the loads in flight and for another transform's lease, up to `timeout`
    (then LockTimeout). Taking it again for the same run renews it."""
    with _connect(conninfo, run_id) as conn, _transaction_holding(
        conn, f"transform run {run_id}", [(RAW, False)], timeout, blocked_by=lambda lease: lease.run_id != run_id,
    ):
        row = conn.execute(
            f"""insert into {TRANSFORM_LEASES} as lease (run_id, acquired_at, renewed_at, expires_at)
                select %(run)s, now.at, now.at, now.at + %(duration)s from (select clock_timestamp() as at) as now
                on conflict (run_id) do update
                set acquired_at = case when lease.released_at is null then lease.acquired_at
                                       else excluded.acquired_at end,
                    renewed_at = excluded.renewed_at, expires_at = excluded.expires_at,
                    released_at = null, release = null
                returning {_LEASE}""",
            {"run": run_id, "duration": duration},
        ).fetchone()
    lease = Lease(*row)
    log.info("%s", lease)
    return lease


def renew_transform_lease(conninfo: str, run_id: str, *, duration: timedelta = DEFAULT_LEASE) -> Lease:
    """Extend run `run_id`'s lease to `duration` from now; LeaseLost when it no
    longer holds one: it expired and a load has written raw since, so what the
    run validated is not what raw holds."""
    with _connect(conninfo, run_id) as conn:
        row = conn.execute(
            f"""update {TRANSFORM_LEASES}
                set renewed_at = clock_timestamp(), expires_at = clock_timestamp() + %s
                where run_id = %s and released_at is null
                returning {_LEASE}""",
            (duration, run_id),
        ).fetchone()
        if row is None:
            ended = conn.execute(
                f"select expires_at, release from {TRANSFORM_LEASES} where run_id = %s", (run_id,)
            ).fetchone()
    if row is None:
        how = f"its lease (until {ended[0]:%Y-%m-%d %H:%M:%S%z}) was {ended[1]}" if ended else "it never held raw"
        raise LeaseLost(
            f"transform run {run_id} no longer holds raw: {how}, so raw may have changed since its staging "
            "checkpoint and this run must not publish (the next run will). If its tasks take longer, raise "
            "SHRINKWATCH_TRANSFORM_LEASE_MINUTES"
        )
    return Lease(*row)


def release_transform_lease(conninfo: str, run_id: str) -> bool:
    """Free raw of run `run_id`'s lease; False when it held none (any more)."""
    with _connect(conninfo, run_id) as conn:
        released = conn.execute(
            f"""update {TRANSFORM_LEASES} set released_at = clock_timestamp(), release = 'released by its report'
                where run_id = %s and released_at is null""",
            (run_id,),
        ).rowcount
    if released:
        log.info("transform run %s released raw", run_id)
    return bool(released)
