"""The load ledger, `ops.load_ledger`: one row per load attempt.

The ledger is both the audit trail (rows read, loaded, quarantined; how raw
changed; retries; timings) and the extractors' memory: the last successful
watermark of a table, and which WMS files were already loaded.

An extractor runs its loads one by one with `load_each`: a load that fails
leaves its `failed` ledger row and the next one still runs; the extractor
raises `LoadsFailed` once all have run, so a task fails naming every load that
failed, and one broken table or file never holds up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import TypeVar

import psycopg

from shrinkwatch.contracts import SourceTable
from shrinkwatch.extract.validation import storable_text
from shrinkwatch.ops import LEDGER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadResult:
    """One ledger row, as returned to the caller."""

    load_id: int
    system: str
    table_name: str | None
    file_name: str | None
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_deleted: int = 0
    retries: int = 0
    watermark_from: str | None = None
    watermark_to: str | None = None
    message: str | None = None
    # a replay: the load that first read the quarantined records it read again
    replay_of: int | None = None


class LoadsFailed(RuntimeError):
    """Some loads of an extract failed; `results` are the loads that ran to
    the end, `failures` (what, error) the others, each with its ledger row."""

    def __init__(self, system: str, results: list[LoadResult], failures: list[tuple[str, BaseException]],
                 not_tried: list[str]):
        self.results = results
        self.failures = failures
        failed = "; ".join(f"{what}: {type(error).__name__}: {error}" for what, error in failures)
        message = f"{system}: {len(failures)} load(s) failed ({failed})"
        if not_tried:
            message += f"; not tried after it: {', '.join(not_tried)}"
        super().__init__(message)


Item = TypeVar("Item")


def load_each(
    system: str,
    items: Iterable[Item],
    load: Callable[[Item], LoadResult],
    name: Callable[[Item], str],
    *,
    stops_all: Callable[[BaseException], bool] = lambda error: False,
) -> list[LoadResult]:
    """`load(item)` for every item, in order, going on after a failure (its
    ledger row is written by the load); raises `LoadsFailed` at the end if
    any failed. A failure for which `stops_all` is true (the source itself is
    unreachable) ends the run there: the items left are named, not tried."""
    items = list(items)
    results: list[LoadResult] = []
    failures: list[tuple[str, BaseException]] = []
    for position, item in enumerate(items):
        try:
            results.append(load(item))
        except Exception as error:
            logger.exception("%s: load of %s failed; going on with the others", system, name(item))
            failures.append((name(item), error))
            if stops_all(error):
                raise LoadsFailed(system, results, failures, [name(i) for i in items[position + 1:]]) from error
    if failures:
        raise LoadsFailed(system, results, failures, []) from failures[0][1]
    return results


def utcnow() -> datetime:
    return datetime.now(UTC)


def reserve_load_id(conn: psycopg.Connection) -> int:
    # Taken from the sequence up front so raw and quarantine rows can carry it;
    # a sequence value survives a rollback, so a failed load keeps its id too.
    row = conn.execute(
        f"select nextval(pg_get_serial_sequence('{LEDGER}', 'load_id'))"
    ).fetchone()
    return int(row[0])


def write_ledger_row(
    conn: psycopg.Connection,
    result: LoadResult,
    *,
    file_checksum: str | None,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    fields = asdict(result) | {
        # a file name or an error message may quote what PostgreSQL text cannot hold
        "file_name": result.file_name and storable_text(result.file_name),
        "message": result.message and storable_text(result.message),
        "file_checksum": file_checksum,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_s": round((finished_at - started_at).total_seconds(), 3),
    }
    columns = ", ".join(fields)
    placeholders = ", ".join(f"%({name})s" for name in fields)
    conn.execute(f"insert into {LEDGER} ({columns}) values ({placeholders})", fields)


def record_failure(
    conninfo: str, failed: LoadResult, file_checksum: str | None, started_at: datetime
) -> None:
    """The `failed` ledger row of a load that raised, written after its rollback;
    a load that failed before it had an id (load_id 0: it gave up waiting for
    its lock) gets one here."""
    # A fresh connection: the load's own may be the thing that broke.
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
            if not failed.load_id:
                failed = replace(failed, load_id=reserve_load_id(conn))
            write_ledger_row(
                conn, failed, file_checksum=file_checksum,
                started_at=started_at, finished_at=utcnow(),
            )
    except psycopg.Error:
        logger.exception("could not record failed load %s in the ledger", failed.load_id)


def last_watermark(conn: psycopg.Connection, table: SourceTable) -> str | None:
    """watermark_to of the table's last successful load, if any."""
    row = conn.execute(
        f"""select watermark_to from {LEDGER}
            where system = %s and table_name = %s and status = 'loaded'
              and watermark_to is not null
            order by load_id desc limit 1""",
        (table.system, table.name),
    ).fetchone()
    return row[0] if row else None


def file_loads_for_day(
    conn: psycopg.Connection, table: SourceTable, file_date: date
) -> list[tuple[int, str, str]]:
    """(load_id, file name, sha256) of every successful load of a file of this
    entity and export day, oldest first."""
    return [
        (int(load_id), name, checksum)
        for load_id, name, checksum in conn.execute(
            f"""select load_id, file_name, file_checksum from {LEDGER}
                where table_name = %s and status = 'loaded' and file_name like %s
                order by load_id""",
            (table.name, f"wms_{table.source_name}_{file_date:%Y%m%d}%"),
        ).fetchall()
    ]


def files_decided(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(file name, sha256) of every WMS file a run already decided on for good:
    loaded, skipped, or rejected for its name. A later run passes over them
    without a new ledger row; a file whose load failed is tried again."""
    rows = conn.execute(
        f"""select distinct file_name, file_checksum from {LEDGER}
            where system = 'wms' and file_name is not null
              and (status <> 'failed' or table_name is null)"""
    ).fetchall()
    return {(name, checksum) for name, checksum in rows}


def unconserved_loads(conn: psycopg.Connection) -> list[tuple]:
    """Ledger rows where rows_read <> rows_loaded + rows_quarantined: a row
    was lost or invented somewhere. Must always be empty."""
    return conn.execute("select * from ops.load_conservation").fetchall()
