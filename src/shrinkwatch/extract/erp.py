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
makes the re-read idempotent. A document committed later than the lookback
(a long-running transaction, a batch input session replayed a week on) is
caught by counting: a table watermarked by an (entry day, entry time) pair has
its documents counted per entry day in the ERP, over `reconcile_days` before
the lookback, against raw plus its quarantined records; a day the ERP holds
more of is read again whole in the same load (its ledger message names the
days), and the upsert adds what was missing.

A table whose read or load fails (a table the ERP no longer has, a refusal by
the warehouse) keeps its `failed` ledger row and its watermark; the tables
after it load all the same, and `extract_erp` raises `LoadsFailed` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

import psycopg
import sqlalchemy as sa

from shrinkwatch import locks
from shrinkwatch.contracts import ERP_TABLES, SourceTable
from shrinkwatch.extract.ledger import LoadResult, last_watermark, load_each
from shrinkwatch.extract.loader import RowsRead, SourceRow, load_table
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW, PARSERS, InvalidValue
from shrinkwatch.extract.warehouse import ensure_schemas, quarantine_table

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


def _days_short_in_raw(
    warehouse: psycopg.Connection, engine: sa.Engine, table: SourceTable, source: sa.Table,
    first_day: date, before_day: date,
) -> list[str]:
    """The entry days in [first_day, before_day) on which the ERP holds more
    documents than raw and the open or released quarantine rows together, as
    the ERP spells them (so the re-read matches them exactly)."""
    day_name = table.watermark[0]
    as_given = sa.type_coerce(source.c[day_name], sa.String())
    with engine.connect() as conn:
        in_source = conn.execute(
            sa.select(as_given, sa.func.count())
            .where(source.c[day_name] >= first_day, source.c[day_name] < before_day)
            .group_by(as_given)
        ).all()
    if not in_source:
        return []
    held: dict[date, int] = dict(warehouse.execute(
        f"select {day_name}, count(*) from raw.{table.name} where {day_name} >= %s and {day_name} < %s group by 1",
        (first_day, before_day),
    ).fetchall())
    # a quarantined document was read: it is the reviewer's, not missing
    for given, refs in warehouse.execute(
        f"""select raw_record ->> %s, count(distinct source_ref) from {quarantine_table(table.name)}
            where resolved_at is null or resolution like 'released by %%' or resolution like 'repeat of %%'
            group by 1""",
        (day_name,),
    ):
        day = _entry_day(given)
        if day is not None:
            held[day] = held.get(day, 0) + refs
    return sorted(given for given, count in in_source if count > held.get(_entry_day(given), 0))


def _entry_day(given: object) -> date | None:
    try:
        return PARSERS["date"](given)
    except InvalidValue:
        return None


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
    reconcile_days: int = 90,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> LoadResult:
    source = sa_table(table, sa.MetaData())
    # type_coerce to String: no result processing, the raw driver value reaches validation
    statement = sa.select(*(sa.type_coerce(source.c[n], sa.String()) for n in table.column_names))
    watermark_from = previous = None
    notes: list[str] = []
    if table.strategy == "incremental":
        with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
            previous = last_watermark(conn, table)
            if previous is not None:
                since = datetime.fromisoformat(previous) - timedelta(hours=lookback_hours)
                watermark_from = since.isoformat()
                new_rows = _watermark_filter(table, source, since)
                short_days = []
                if reconcile_days > 0 and len(table.watermark) == 2:
                    short_days = _days_short_in_raw(
                        conn, engine, table, source, since.date() - timedelta(days=reconcile_days), since.date()
                    )
                if short_days:
                    notes.append(f"entry days read again, the ERP holding documents raw lacks: {', '.join(short_days)}")
                    day = sa.type_coerce(source.c[table.watermark[0]], sa.String())
                    new_rows = sa.or_(new_rows, day.in_(short_days))
                statement = statement.where(new_rows)
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
        notes=notes,
        lock_timeout=lock_timeout,
    )


def extract_erp(
    warehouse_conninfo: str,
    erp_url: str,
    *,
    lookback_hours: float = 48,
    reconcile_days: int = 90,
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
                lookback_hours=lookback_hours, reconcile_days=reconcile_days, chunk_rows=chunk_rows,
                clock_skew=clock_skew, lock_timeout=lock_timeout,
            ),
            lambda table: table.name,
        )
    finally:
        engine.dispose()
