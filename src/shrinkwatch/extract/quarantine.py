"""Reading the quarantine, and releasing rows nothing automatic will resolve.

Loads resolve the quarantine rows they make good (loader.py). Some never get
that far: a WMS file the plant will not re-deliver, a record the source will
not correct. A governance reviewer then releases them by hand, with their name
and a note that say why; the row stays in quarantine (and out of raw), only
closed: `resolved_at` is set and `resolution` reads `released by <who>: <note>`.

Everything reads `ops.quarantine` (warehouse.py), the union of all quarantine
tables; `ensure_schemas` must have run (any extract does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from shrinkwatch.extract.warehouse import QUARANTINE_VIEW, QUARANTINE_VIEW_COLUMNS, QUARANTINED_TABLES, quarantine_table

TABLE_NAMES = tuple(t.name for t in QUARANTINED_TABLES)


@dataclass(frozen=True)
class QuarantinedRow:
    """One row of ops.quarantine."""

    system: str
    table_name: str
    load_id: int
    source_ref: str | None
    rule: str
    severity: str
    reason: str
    raw_record: object
    quarantined_at: datetime
    resolved_at: datetime | None
    resolution: str | None


@dataclass(frozen=True)
class QuarantineGroup:
    """Quarantined rows of one load under one rule."""

    system: str
    table_name: str
    load_id: int
    rule: str
    severity: str
    rows: int
    open: int


def _filters(open_only: bool, critical_only: bool) -> str:
    conditions = ["true"]
    if open_only:
        conditions.append("resolved_at is null")
    if critical_only:
        conditions.append("severity = 'critical'")
    return " and ".join(conditions)


def open_rows(conn: psycopg.Connection, critical_only: bool = False) -> list[QuarantinedRow]:
    """Every quarantined row not yet resolved (only critical ones if asked)."""
    rows = conn.execute(
        f"""select {', '.join(QUARANTINE_VIEW_COLUMNS)} from {QUARANTINE_VIEW}
            where {_filters(True, critical_only)}
            order by system, table_name, load_id, source_ref"""
    ).fetchall()
    return [QuarantinedRow(*row) for row in rows]


def summary(conn: psycopg.Connection, *, open_only: bool = False, critical_only: bool = False) -> list[QuarantineGroup]:
    """Quarantined rows counted per system, table, load, rule and severity."""
    rows = conn.execute(
        f"""select system, table_name, load_id, rule, severity,
                   count(*), count(*) filter (where resolved_at is null)
            from {QUARANTINE_VIEW}
            where {_filters(open_only, critical_only)}
            group by system, table_name, load_id, rule, severity
            order by system, table_name, load_id, rule"""
    ).fetchall()
    return [QuarantineGroup(*row) for row in rows]


def release(
    conn: psycopg.Connection,
    table: str,
    load_id: int,
    rule: str | None = None,
    *,
    released_by: str,
    note: str,
) -> int:
    """Resolve by hand the open quarantine rows of `table` (e.g. `wms_task`
    or `quarantine.wms_task`) written by load `load_id`, only those under
    `rule` if given; returns how many were released (0: none was open)."""
    name = table.removeprefix("quarantine.")
    if name not in TABLE_NAMES:
        raise ValueError(f"unknown quarantine table {table!r}; known: {', '.join(TABLE_NAMES)}")
    released_by, note = (released_by or "").strip(), (note or "").strip()
    if not released_by or not note:
        raise ValueError("a release must say who releases it (released_by) and why (note): both are required")
    with conn.transaction():
        return conn.execute(
            f"""update {quarantine_table(name)}
                set resolved_at = now(), resolution = %s
                where load_id = %s and resolved_at is null and (%s::text is null or rule = %s)""",
            (f"released by {released_by}: {note}", load_id, rule, rule),
        ).rowcount
