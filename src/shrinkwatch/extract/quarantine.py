"""Reading the quarantine, releasing rows nothing automatic will resolve, and
replaying rows a fixed rule would now let in.

Loads resolve the quarantine rows they make good (loader.py). Some never get
that far: a WMS file the plant will not re-deliver, a record the source will
not correct. A governance reviewer then releases them by hand, with their name
and a note that say why; the row stays in quarantine (and out of raw), only
closed: `resolved_at` is set and `resolution` reads `released by <who>: <note>`.

A record quarantined under a rule that was later fixed (a movement type the
contract learnt, a clock-skew allowance raised) would stay out of raw for good:
an ERP document leaves the lookback, a WMS file is never read twice. `replay`
judges the open and released records of one load again, as a load of its own
(`loader.Replay`, ledger status `replayed`): what passes today's contract goes
into raw, and the replayed rows it made good read `replayed by load <id>`.
A released row is replayed too: a release only lets the publish go on, it
never decided that the record is false, and raw copies what the source holds.
Refused, with the reason: a table read whole (`full`) once a later load read
it (the next read judges the source's current rows), a WMS export that a later
one replaced or that raw does not hold (its day's rows are another export's),
and the location map (replaced whole by its next file: correct the file).

Everything reads `ops.quarantine` (warehouse.py), the union of all quarantine
tables; `ensure_schemas` must have run (any extract does).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg

from shrinkwatch.contracts import RAW_SCHEMA, SourceTable, rule_severity
from shrinkwatch.extract.ledger import LoadResult, file_loads_for_day
from shrinkwatch.extract.loader import RejectedRow, Replay, SourceRow, load_table, record_from_json
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW, Rejection, RowValidator
from shrinkwatch.extract.warehouse import (
    QUARANTINE_VIEW,
    QUARANTINE_VIEW_COLUMNS,
    QUARANTINED_TABLES,
    ensure_schemas,
    quarantine_table,
)
from shrinkwatch.extract.wms import parse_file_name
from shrinkwatch.ops import LEDGER

TABLE_NAMES = tuple(t.name for t in QUARANTINED_TABLES)
_TABLES = {t.name: t for t in QUARANTINED_TABLES}
# a WMS row's source_ref: its file and first physical line
_FILE_REF = re.compile(r"(?P<file>.+):(?P<line>\d+)")


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


def _table_named(table: str) -> SourceTable:
    """The quarantined table `table` names (`wms_task` or `quarantine.wms_task`)."""
    name = table.removeprefix("quarantine.")
    if name not in TABLE_NAMES:
        raise ValueError(f"unknown quarantine table {table!r}; known: {', '.join(TABLE_NAMES)}")
    return _TABLES[name]


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
    name = _table_named(table).name
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


class ReplayRefused(ValueError):
    """A replay that would put into raw rows that do not belong there; the
    message says why and what to do instead."""


@dataclass(frozen=True)
class Export:
    """The WMS export a file table's replayed rows come from."""

    file_name: str
    file_date: date
    file_seq: int

    def lineage(self, ref: str) -> tuple[object, ...]:
        """The extra raw columns of its row at `ref` (file:line), as wms.py writes them."""
        return (self.file_name, self.file_date, self.file_seq, int(_FILE_REF.fullmatch(ref)["line"]))


@dataclass(frozen=True)
class FailingGroup:
    """Replayed records that still fail, per rule and what became of their row."""

    rule: str
    severity: str
    rows: int
    state: str


@dataclass(frozen=True)
class ReplayOutcome:
    table_name: str
    replayed_load: int
    rows: int  # quarantined records read again
    passed: int  # now in raw (a dry run: would pass)
    failing: list[FailingGroup]
    left_alone: list[tuple[str, int]]  # rows of the load not replayed, per why
    load: LoadResult | None = None  # the replay load; None for a dry run


def _one(conn: psycopg.Connection, sql: str, params: object = None) -> tuple | None:
    return conn.execute(sql, params).fetchone()


def _export_replayed(conn: psycopg.Connection, table: SourceTable, replay: Replay) -> Export | None:
    """The export a WMS load's replayed rows come from, if raw still holds it
    as its day's rows; ReplayRefused otherwise. None: nothing to replay."""
    quarantine = quarantine_table(table.name)
    files = conn.execute(
        f"""select distinct substring(q.source_ref from '^(.+):[0-9]+$')
            from {quarantine} q where {replay.selects('q')}""",
        replay.params(),
    ).fetchall()
    if not files:
        return None
    if len(files) != 1 or files[0][0] is None:
        raise ReplayRefused(
            f"the rows of load {replay.load_id} do not name one export file (source_ref file:line): "
            f"{', '.join(sorted(str(f) for (f,) in files))}"
        )
    name = files[0][0]
    _, day, seq = parse_file_name(name)
    current = [(load_id, loaded) for load_id, loaded, _ in file_loads_for_day(conn, table, day)
               if parse_file_name(loaded)[1] == day]
    if current and current[-1][0] > replay.read_by:
        later_id, later_name = current[-1]
        raise ReplayRefused(
            f"{name} was replaced by load {later_id} ({later_name}), a later export of its day: its rows are no "
            f"longer the day's, so none of them may return to raw; replay load {later_id} instead"
        )
    others = [f for (f,) in conn.execute(
        f"select distinct _source_file from {RAW_SCHEMA}.{table.name} where _file_date = %s and _source_file <> %s",
        (day, name),
    ).fetchall()]
    if others:
        raise ReplayRefused(
            f"raw.{table.name} holds the rows of {day} from {', '.join(others)}, not from {name}: its load kept "
            "the earlier export (it had no valid row), and a replay would mix two exports of one day; "
            "have the WMS export the day again"
        )
    return Export(name, day, seq)


def _replay_of(conn: psycopg.Connection, table: SourceTable, load_id: int, rule: str | None) -> Replay:
    """What a replay of `load_id` reads; ReplayRefused if it is no load of `table`."""
    if table.strategy == "replace":
        raise ReplayRefused(
            f"{table.name} is replaced whole by its next file: correct the file and it loads again "
            "(its quarantined rows are then resolved as superseded)"
        )
    ledger = _one(conn, f"select table_name, replay_of from {LEDGER} where load_id = %s", (load_id,))
    if ledger is None or ledger[0] != table.name:
        loaded = "no such load" if ledger is None else f"it loaded {ledger[0] or 'no table'}"
        raise ReplayRefused(f"load {load_id} is not a load of {table.name} ({loaded})")
    return Replay(load_id, rule, first_read=ledger[1])


def _check_replayable(conn: psycopg.Connection, table: SourceTable, replay: Replay) -> Export | None:
    """ReplayRefused where a replay would be wrong; a file table's export."""
    if table.strategy == "full":
        newer = _one(
            conn,
            f"select min(load_id) from {LEDGER} where table_name = %s and status = 'loaded' and load_id > %s",
            (table.name, replay.read_by),
        )[0]
        if newer is not None:
            raise ReplayRefused(
                f"{table.name} is read whole by every extract and load {newer} read it after load "
                f"{replay.load_id}: the source's rows of now are the next extract's to judge, not these"
            )
    if table.strategy == "file":
        return _export_replayed(conn, table, replay)
    return None


def _as_read(table: SourceTable, export: Export | None) -> Callable[[str, str, str, object], SourceRow | RejectedRow]:
    """A quarantined record as its reader handed it to the loader, so that it
    meets the same validator: the contract's columns when the record holds
    them all (a row the validator refused; a file line whose header lacked a
    column the contract no longer has), its values when their count was
    wrong. Other records (a line no encoding decoded, a field count against
    its header, a MES item that is not an object) were refused by the reader,
    before any rule: the same refusal again."""
    names = table.column_names

    def lineage(ref: str) -> tuple[object, ...]:
        return export.lineage(ref) if export else ()

    def as_read(ref: str, rule: str, reason: str, record: object) -> SourceRow | RejectedRow:
        if isinstance(record, dict) and all(n in record for n in names):
            return SourceRow([record[n] for n in names], ref, lineage(ref))
        if isinstance(record, dict) and record.keys() == {"values"} and isinstance(record["values"], list):
            return SourceRow(record["values"], ref, lineage(ref))
        return RejectedRow(ref, rule, reason, record)

    return as_read


def _replayed_records(
    conninfo: str, table: SourceTable, replay: Replay, export: Export | None
) -> Iterator[SourceRow | RejectedRow]:
    """The replayed records in their reader's order (file line, else key), streamed."""
    as_read = _as_read(table, export)
    order = "substring(q.source_ref from ':([0-9]+)$')::int" if export else "q.source_ref"
    with psycopg.connect(conninfo) as conn, conn.cursor(name="replayed_records") as cursor:
        cursor.execute(
            f"""select q.source_ref, q.rule, q.reason, q.raw_record::text
                from {quarantine_table(table.name)} q where {replay.selects('q')}
                order by {order}""",
            replay.params(),
        )
        for ref, rule, reason, record in cursor:
            yield as_read(ref, rule, reason, None if record is None else record_from_json(record))


def _left_alone(conn: psycopg.Connection, table: SourceTable, replay: Replay) -> list[tuple[str, int]]:
    """The load's rows a replay does not read, counted per why."""
    return conn.execute(
        f"""select case when q.rule = 'duplicate_key_in_batch' and q.resolution is null
                        then 'duplicate_key_in_batch: judged against its own read, not by the contract'
                        else q.resolution end, count(*)
            from {quarantine_table(table.name)} q
            where q.load_id = %(replayed_load)s
              and (%(replayed_rule)s::text is null or q.rule = %(replayed_rule)s)
              and not ({replay.selects('q')})
            group by 1 order by 1""",
        replay.params(),
    ).fetchall()


def _state(resolution: str | None) -> str:
    if resolution is None:
        return "open, as a row of this replay"
    if resolution.startswith("repeat of load "):
        return f"still open, as a row of load {resolution.removeprefix('repeat of load ')}"
    return "still released"


def _still_failing(conn: psycopg.Connection, table: SourceTable, load_id: int) -> list[FailingGroup]:
    rows = conn.execute(
        f"select rule, severity, resolution from {quarantine_table(table.name)} where load_id = %s",
        (load_id,),
    ).fetchall()
    counts = Counter((rule, severity, _state(resolution)) for rule, severity, resolution in rows)
    return [FailingGroup(rule, severity, n, state) for (rule, severity, state), n in sorted(counts.items())]


def _judge(rows: Iterator[SourceRow | RejectedRow], table: SourceTable, clock_skew: timedelta) -> tuple[int, Counter]:
    """A dry run: the validator a load uses, with nothing written; (passed, rules failed)."""
    validator = RowValidator(table, clock_skew=clock_skew)
    passed, failed = 0, Counter()
    for row in rows:
        judged = Rejection(row.rule, row.reason) if isinstance(row, RejectedRow) else validator.validate(row.values)
        if isinstance(judged, Rejection):
            failed[judged.rule] += 1
        else:
            passed += 1
    return passed, failed


def replay(
    conninfo: str,
    table: str,
    load_id: int,
    rule: str | None = None,
    *,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    chunk_rows: int = 50000,
    dry_run: bool = False,
) -> ReplayOutcome:
    """Judge the open and released quarantined rows of `table` from load
    `load_id` (only those under `rule` if given) against today's contract and
    merge those that pass into raw, as one load (see the module docstring).
    A dry run judges them with the same validator and writes nothing (a key
    a replay would find twice is not looked for). ReplayRefused where a replay
    would be wrong; nothing replayed (rows 0) when no such row is there."""
    source = _table_named(table)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not dry_run:
            ensure_schemas(conn)  # a ledger from before replays learns them
        selected = _replay_of(conn, source, load_id, rule)
        export = _check_replayable(conn, source, selected)
        pending = _one(
            conn, f"select count(*) from {quarantine_table(source.name)} q where {selected.selects('q')}",
            selected.params(),
        )[0]
        left_alone = _left_alone(conn, source, selected)
    outcome = ReplayOutcome(source.name, load_id, pending, 0, [], left_alone)
    if not pending:
        return outcome
    records = _replayed_records(conninfo, source, selected, export)
    if dry_run:
        passed, failed = _judge(records, source, clock_skew)
        failing = [FailingGroup(r, rule_severity(r), n, "would stay quarantined") for r, n in sorted(failed.items())]
        return ReplayOutcome(source.name, load_id, pending, passed, failing, left_alone)
    note = f"replay of load {load_id}" + (f", rule {rule}" if rule else "")
    if selected.read_by != load_id:
        note += f" (records first read by load {selected.read_by})"
    result = load_table(
        conninfo, source, records, chunk_rows=chunk_rows, notes=[note], clock_skew=clock_skew, replay=selected,
    )
    with psycopg.connect(conninfo) as conn:
        failing = _still_failing(conn, source, result.load_id)
    return ReplayOutcome(source.name, load_id, result.rows_read, result.rows_loaded, failing, left_alone, result)
