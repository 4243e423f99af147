"""ERP extraction: any SQLAlchemy database, read with portable Core only.

Tables are declared from contracts.py (no reflection, no dialect-specific SQL)
and only contract columns are selected. Values are selected *without* the
dialect's result conversion, so a malformed date in an SQLite ERP becomes a
quarantined row rather than a crash of the whole extract; the typed columns
still drive the watermark comparison, so its parameters bind correctly on
every dialect.

Incremental tables re-read everything at or after the last successful
watermark minus a lookback, so documents committed late (entered with an
earlier cpudt/cputm than rows already seen) are still picked up; the upsert
makes the re-read idempotent.

A table whose read or load fails (a table the ERP no longer has, a refusal by
the warehouse) keeps its `failed` ledger row and its watermark; the tables
after it load all the same, and `extract_erp` raises `LoadsFailed` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import psycopg
import sqlalchemy as sa

from shrinkwatch import locks
from shrinkwatch.contracts import ERP_TABLES, SourceTable
from shrinkwatch.extract.ledger import LoadResult, last_watermark, load_each
from shrinkwatch.extract.loader import RowsRead, SourceRow, load_table
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW
from shrinkwatch.extract.warehouse import ensure_schemas

_SA_TYPES: dict[str, sa.types.TypeEngine] = {
    "text": sa.String(),
    "int": sa.Integer(),
    "numeric": sa.Numeric(asdecimal=True),
    "date": sa.Date(),
    "time": sa.Time(),
    "timestamp": sa.DateTime(),
    "timestamptz": sa.DateTime(timezone=True),
    "epoch_ms": sa.BigInteger(),
}


def sa_table(table: SourceTable, metadata: sa.MetaData) -> sa.Table:
    """The SQLAlchemy Table of a source table, from its contract."""
    return sa.Table(
        table.source_name, metadata, *(sa.Column(c.name, _SA_TYPES[c.type]) for c in table.columns)
    )


def _watermark_filter(
    table: SourceTable, source: sa.Table, since: datetime
) -> sa.ColumnElement[bool]:
    if len(table.watermark) == 2:
        # (entry date, entry time) compared as a pair, like SAP's cpudt/cputm.
        day, clock = (source.c[name] for name in table.watermark)
        return sa.or_(day > since.date(), sa.and_(day == since.date(), clock >= since.time()))
    (column,) = table.watermark
    return source.c[column] >= since


def _read(
    engine: sa.Engine, statement: sa.Select, chunk_rows: int, rows_read: RowsRead
) -> Iterator[SourceRow]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            statement
        )
        for row in result:
            rows_read.count += 1
            yield SourceRow(tuple(row))


def extract_table(
    warehouse_conninfo: str,
    engine: sa.Engine,
    table: SourceTable,
    *,
    lookback_hours: float,
    chunk_rows: int,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> LoadResult:
    source = sa_table(table, sa.MetaData())
    # type_coerce to String: no result processing, the raw driver value reaches validation
    statement = sa.select(*(sa.type_coerce(source.c[n], sa.String()) for n in table.column_names))
    watermark_from = previous = None
    if table.strategy == "incremental":
        with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
            previous = last_watermark(conn, table)
        if previous is not None:
            since = datetime.fromisoformat(previous) - timedelta(hours=lookback_hours)
            watermark_from = since.isoformat()
            statement = statement.where(_watermark_filter(table, source, since))
    rows_read = RowsRead()
    return load_table(
        warehouse_conninfo,
        table,
        _read(engine, statement, chunk_rows, rows_read),
        chunk_rows=chunk_rows,
        watermark_from=watermark_from,
        previous_watermark=previous,
        clock_skew=clock_skew,
        rows_read=rows_read,
        lock_timeout=lock_timeout,
    )


def extract_erp(
    warehouse_conninfo: str,
    erp_url: str,
    *,
    lookback_hours: float = 48,
    chunk_rows: int = 50000,
    tables: Iterable[str] | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> list[LoadResult]:
    """Load every ERP table (or those named in `tables`), one load each; a
    table whose load fails does not stop the others (`LoadsFailed` at the end)."""
    wanted = set(tables) if tables is not None else None
    selected = [t for t in ERP_TABLES if wanted is None or t.name in wanted]
    if wanted is not None and len(selected) != len(wanted):
        unknown = wanted - {t.name for t in ERP_TABLES}
        raise KeyError(f"unknown ERP tables: {sorted(unknown)}")
    with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    engine = sa.create_engine(erp_url)
    try:
        return load_each(
            "erp", selected,
            lambda table: extract_table(
                warehouse_conninfo, engine, table,
                lookback_hours=lookback_hours, chunk_rows=chunk_rows, clock_skew=clock_skew,
                lock_timeout=lock_timeout,
            ),
            lambda table: table.name,
        )
    finally:
        engine.dispose()
