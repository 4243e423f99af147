"""Validate, COPY and merge one source read into its raw table, as one load.

Rows stream in from an extractor (`SourceRow` to validate, or `RejectedRow`
already refused by the reader, e.g. an undecodable line). Valid rows are COPYed
in chunks into a temp table shaped like the raw table, rejected ones into the
table's quarantine table; memory is bounded by `chunk_rows`. The merge into raw
is set-based SQL once the whole read is staged, because in-batch duplicates can
only be judged across all chunks.

Every quarantine row carries its severity (`contracts.rule_severity`). In the
same transaction the load resolves (`resolved_at`, `resolution`) the still open
quarantine rows of earlier loads that it makes good: for a keyed table
(incremental, full) those whose `source_ref` is the key of a row it merged (the
source corrected the record); for a WMS file those of the loads of earlier
exports of the same day that it replaces (`supersedes_loads`, found by the WMS
extractor in the ledger); for a configuration file (replace) every open row of
the table, once its valid rows replaced the table. A row re-read exactly as
an earlier open or released one is settled as its repeat (`settle_repeats`).

A read with no row at all never erases rows: a WMS export that would replace
its day's rows and a full table whose raw holds rows are left as they were, and
the load is recorded as `refused_empty` (a broken export, a replica
mid-refresh), which the run report lists.

One load is one transaction: its ledger row, raw changes and quarantine rows
commit together. It is `locks.raw_write`'s: no other load of the same table and
no transform runs while it does, and what `decide` reads from the ledger (a WMS
file already loaded by a run that held the lock meanwhile) is read inside it. A
failed load, one that waited its whole lock timeout included, leaves a `failed`
ledger row, written in its own transaction after the rollback, and re-raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from datetime import time as time_of_day

import psycopg

from shrinkwatch import locks
from shrinkwatch.contracts import RAW_SCHEMA, SourceTable, rule_severity
from shrinkwatch.extract.ledger import LoadResult, record_failure, reserve_load_id, utcnow, write_ledger_row
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW, PARSERS, InvalidValue, Rejection, RowValidator
from shrinkwatch.extract.warehouse import quarantine_table

_STAGE = "_extract_batch"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One source record: contract column values in contract order."""

    values: Sequence[object]
    # where it came from (file:line); None means "its key" (ERP, MES)
    ref: str | None = None
    # values of the table's extra raw columns (WMS file lineage), already typed
    extra: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A record the reader itself could not turn into values."""

    ref: str
    rule: str
    reason: str
    raw: object


@dataclass(frozen=True)
class FileScope:
    """A WMS export: its rows replace those of earlier exports of the same day."""

    file_date: date
    file_seq: int


@dataclass(frozen=True)
class Decision:
    """What a load does with its read, decided from the ledger under the table's lock."""

    # (ledger status, why): the read is not loaded, only its ledger row written
    skip: tuple[str, str] | None = None
    # file strategy: the earlier loads whose rows this file replaces; their
    # open quarantine rows are resolved by this load
    supersedes_loads: Sequence[int] = ()


def _to_json(raw: object) -> str:
    text = json.dumps(raw, default=str, ensure_ascii=False)
    # jsonb refuses \u0000; keep it visible as an escaped literal instead
    return text.replace("\\u0000", "\\\\u0000")


def format_watermark(values: Sequence[object]) -> str:
    """The text form of a watermark kept in the ledger: an ISO timestamp for
    ERP (a (date, time) pair becomes one), the integer for MES epoch ms."""
    if len(values) == 2 and isinstance(values[0], date) and isinstance(values[1], time_of_day):
        return datetime.combine(values[0], values[1]).isoformat()
    (value,) = values
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


class _Load:
    """The state of one load in progress; `load_table` is its only user."""

    def __init__(
        self, conn: psycopg.Connection, table: SourceTable, load_id: int,
        started_at: datetime, clock_skew: timedelta,
    ):
        self.conn = conn
        self.table = table
        self.load_id = load_id
        self.validator = RowValidator(table, loaded_at=started_at, clock_skew=clock_skew)
        self.stage_columns = [c.name for c in table.columns + table.extra_raw_columns]
        self.watermark_positions = [table.column_names.index(c) for c in table.watermark]
        self.watermark_max: tuple | None = None
        self.rows_read = 0
        self.rows_quarantined = 0
        self.rows_staged = 0
        self.pending_rows: list[tuple] = []
        self.pending_rejects: list[tuple] = []

    def create_stage(self) -> None:
        self.conn.execute(
            f"create temp table {_STAGE} (like {RAW_SCHEMA}.{self.table.name}) on commit drop"
        )
        self.conn.execute(f"alter table {_STAGE} add column _ord bigint, add column _ref text")

    def _ref_of(self, values: Sequence[object]) -> str:
        """`k=v/k=v` of a rejected row's key, each value parsed when it parses,
        so that it equals `_key_ref_sql` of the same key once it loads."""
        names = self.table.column_names
        parts = []
        for k in self.table.key:
            position = names.index(k)
            if position >= len(values):
                return "?"
            value = values[position]
            try:
                parsed = PARSERS[self.table.columns[position].type](value)
            except InvalidValue:
                parsed = None
            parts.append(f"{k}={value if parsed is None else parsed}")
        return "/".join(parts)

    def add(self, row: SourceRow | RejectedRow, chunk_rows: int) -> None:
        self.rows_read += 1
        if isinstance(row, RejectedRow):
            self.pending_rejects.append(
                (row.ref, row.rule, rule_severity(row.rule), row.reason, _to_json(row.raw))
            )
        else:
            parsed = self.validator.validate(row.values)
            if isinstance(parsed, Rejection):
                raw = dict(zip(self.table.column_names, row.values, strict=False))
                if len(row.values) != len(self.table.columns):
                    raw = {"values": list(row.values)}
                ref = row.ref or self._ref_of(row.values)
                self.pending_rejects.append(
                    (ref, parsed.rule, rule_severity(parsed.rule), parsed.reason, _to_json(raw))
                )
            else:
                self._track_watermark(parsed)
                self.rows_staged += 1
                self.pending_rows.append((*parsed, *row.extra, self.rows_staged, row.ref))
        if len(self.pending_rows) + len(self.pending_rejects) >= chunk_rows:
            self.flush()

    def _track_watermark(self, parsed: list[object]) -> None:
        if not self.watermark_positions:
            return
        mark = tuple(parsed[p] for p in self.watermark_positions)
        if None in mark:
            return
        if self.watermark_max is None or mark > self.watermark_max:
            self.watermark_max = mark

    def flush(self) -> None:
        if self.pending_rows:
            columns = ", ".join([*self.stage_columns, "_ord", "_ref"])
            with self.conn.cursor().copy(f"copy {_STAGE} ({columns}) from stdin") as copy:
                for values in self.pending_rows:
                    copy.write_row(values)
            self.pending_rows.clear()
        if self.pending_rejects:
            self.rows_quarantined += len(self.pending_rejects)
            with self.conn.cursor().copy(
                f"copy {quarantine_table(self.table.name)} "
                "(source_ref, rule, severity, reason, raw_record, load_id) from stdin"
            ) as copy:
                for reject in self.pending_rejects:
                    copy.write_row((*reject, self.load_id))
            self.pending_rejects.clear()

    def _key_ref_sql(self, alias: str) -> str:
        parts = ", ".join(f"'{k}=' || {alias}.{k}" for k in self.table.key)
        return f"coalesce({alias}._ref, concat_ws('/', {parts}))"

    def resolve_duplicates(self) -> tuple[int, int]:
        """Settle keys that occur more than once in this read; returns the
        rows superseded (MES versions, counted as loaded) and quarantined."""
        if self.table.strategy == "replace":
            return 0, 0  # a configuration file's key columns need not be unique
        key = ", ".join(self.table.key)
        version = self.table.version_column
        if version:
            # MES corrections: the newest version of a key wins.
            order = f"{version} desc nulls last, _ord desc"
        else:
            order = "_ord"
        self.conn.execute(
            f"""create temp table _extract_dupes on commit drop as
                select _ord, first_value({self._key_ref_sql('s')}) over w as first_ref,
                       row_number() over w as position
                from {_STAGE} s
                window w as (partition by {key} order by {order})"""
        )
        self.conn.execute("delete from _extract_dupes where position = 1")
        if version:
            superseded = self.conn.execute(
                f"delete from {_STAGE} s using _extract_dupes d where s._ord = d._ord"
            ).rowcount
            return superseded, 0
        # ERP and WMS: a key twice in one read is a source defect; the first
        # occurrence is kept and each repeat is quarantined, pointing at it.
        data = ", ".join(self.stage_columns)
        rule = "duplicate_key_in_batch"
        quarantined = self.conn.execute(
            f"""insert into {quarantine_table(self.table.name)}
                    (load_id, source_ref, rule, severity, reason, raw_record)
                select %s, {self._key_ref_sql('s')}, %s, %s,
                       'key ({key}) already read at ' || d.first_ref,
                       (select to_jsonb(r) from (select {data}) r)
                from {_STAGE} s join _extract_dupes d using (_ord)""",
            (self.load_id, rule, rule_severity(rule)),
        ).rowcount
        self.conn.execute(f"delete from {_STAGE} s using _extract_dupes d where s._ord = d._ord")
        self.rows_quarantined += quarantined
        return 0, quarantined

    def settle_repeats(self) -> int:
        """A row re-read exactly as it was quarantined before (ERP and MES
        re-read a lookback window) is not a new finding: it takes the earlier
        row's place as `repeat of load N` while that row is open, and stays
        released when a reviewer released it. So one bad record is one open
        row, and a release outlives the lookback. Returns the rows settled."""
        if not self.rows_quarantined:
            return 0
        quarantine = quarantine_table(self.table.name)
        return self.conn.execute(
            f"""update {quarantine} q
                set resolved_at = now(),
                    resolution = case when earlier.resolved_at is null
                                      then 'repeat of load ' || earlier.load_id
                                      else earlier.resolution end
                from (
                    select distinct on (source_ref, rule, raw_record) source_ref, rule, raw_record,
                           load_id, resolved_at, resolution
                    from {quarantine}
                    where load_id < %(load)s
                      and (resolved_at is null or resolution like 'released by %%')
                    order by source_ref, rule, raw_record, load_id
                ) as earlier
                where q.load_id = %(load)s and q.resolved_at is null
                  and q.source_ref = earlier.source_ref and q.rule = earlier.rule
                  and q.raw_record = earlier.raw_record""",
            {"load": self.load_id},
        ).rowcount

    def resolve_quarantined(self, supersedes_loads: Sequence[int], file_name: str | None) -> int:
        """Resolve the open quarantine rows of earlier loads that this load
        makes good (see the module docstring); returns how many."""
        quarantine = quarantine_table(self.table.name)
        open_earlier = f"q.resolved_at is null and q.load_id < {int(self.load_id)}"
        source = f" ({file_name})" if file_name else ""
        if self.table.strategy in ("incremental", "full"):
            if not self.conn.execute(f"select exists (select from {quarantine} q where {open_earlier})").fetchone()[0]:
                return 0  # the common case: nothing open, so the stage is not scanned
            return self.conn.execute(
                f"""update {quarantine} q set resolved_at = now(), resolution = %s
                    where {open_earlier}
                      and q.source_ref in (select {self._key_ref_sql('s')} from {_STAGE} s)""",
                (f"loaded by load {self.load_id}",),
            ).rowcount
        if self.table.strategy == "file":
            if not supersedes_loads:
                return 0
            return self.conn.execute(
                f"""update {quarantine} q set resolved_at = now(), resolution = %s
                    where {open_earlier} and q.load_id = any(%s)""",
                (f"superseded by load {self.load_id}{source}", list(supersedes_loads)),
            ).rowcount
        # replace: the table now holds this file's rows only
        return self.conn.execute(
            f"update {quarantine} q set resolved_at = now(), resolution = %s where {open_earlier}",
            (f"superseded by load {self.load_id}{source}",),
        ).rowcount

    def upsert(self) -> tuple[int, int]:
        """Insert new keys, update changed ones, leave unchanged rows (and
        their _load_id) untouched; returns (inserted, updated)."""
        raw = f"{RAW_SCHEMA}.{self.table.name}"
        columns = self.table.column_names
        non_key = [c for c in columns if c not in self.table.key]
        changed = (
            f"({', '.join(f'{raw}.{c}' for c in non_key)}) is distinct from "
            f"({', '.join(f'excluded.{c}' for c in non_key)})"
        )
        if self.table.version_column:
            # never let an older version overwrite a newer one already in raw
            v = self.table.version_column
            changed += f" and excluded.{v} >= coalesce({raw}.{v}, excluded.{v})"
        assignments = ", ".join(f"{c} = excluded.{c}" for c in [*non_key, "_load_id"])
        counts = self.conn.execute(
            f"""with merged as (
                    insert into {raw} ({', '.join(columns)}, _load_id)
                    select {', '.join(columns)}, %s from {_STAGE}
                    on conflict ({', '.join(self.table.key)}) do update set {assignments}
                    where {changed}
                    returning (xmax = 0) as inserted
                )
                select count(*) filter (where inserted), count(*) filter (where not inserted)
                from merged""",
            (self.load_id,),
        ).fetchone()
        return int(counts[0]), int(counts[1])

    def delete_absent_keys(self) -> int:
        raw = f"{RAW_SCHEMA}.{self.table.name}"
        matches = " and ".join(f"s.{k} = r.{k}" for k in self.table.key)
        return self.conn.execute(
            f"delete from {raw} r where not exists (select 1 from {_STAGE} s where {matches})"
        ).rowcount

    def rows_in_raw(self) -> int:
        return self.conn.execute(f"select count(*) from {RAW_SCHEMA}.{self.table.name}").fetchone()[0]

    def rows_of_day(self, scope: FileScope) -> int:
        """The rows a WMS export would replace (see `replace_file_rows`)."""
        return self.conn.execute(
            f"select count(*) from {RAW_SCHEMA}.{self.table.name} where _file_date = %s and _file_seq <= %s",
            (scope.file_date, scope.file_seq),
        ).fetchone()[0]

    def replace_file_rows(self, scope: FileScope) -> tuple[int, int]:
        """A WMS export replaces the rows of earlier (or equal: a re-export of
        the same name) sequence numbers of its entity and day."""
        raw = f"{RAW_SCHEMA}.{self.table.name}"
        deleted = self.conn.execute(
            f"delete from {raw} where _file_date = %s and _file_seq <= %s",
            (scope.file_date, scope.file_seq),
        ).rowcount
        columns = ", ".join(self.stage_columns)
        inserted = self.conn.execute(
            f"insert into {raw} ({columns}, _load_id) select {columns}, %s from {_STAGE}",
            (self.load_id,),
        ).rowcount
        return inserted, deleted

    def replace_all_rows(self) -> tuple[int, int]:
        """A configuration file replaces the whole table, in file order."""
        raw = f"{RAW_SCHEMA}.{self.table.name}"
        deleted = self.conn.execute(f"delete from {raw}").rowcount
        columns = ", ".join(self.stage_columns)
        inserted = self.conn.execute(
            f"insert into {raw} ({columns}, _load_id) select {columns}, %s from {_STAGE} order by _ord",
            (self.load_id,),
        ).rowcount
        return inserted, deleted


def load_table(
    conninfo: str,
    table: SourceTable,
    rows: Iterable[SourceRow | RejectedRow],
    *,
    chunk_rows: int = 50000,
    file_name: str | None = None,
    file_checksum: str | None = None,
    file_scope: FileScope | None = None,
    decide: Callable[[psycopg.Connection], Decision] = lambda conn: Decision(),
    watermark_from: str | None = None,
    previous_watermark: str | None = None,
    retries: Callable[[], int] = lambda: 0,
    notes: Sequence[str] = (),
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> LoadResult:
    """Load one read of `table` from `rows` and record it in the ledger.

    `previous_watermark` is carried forward as watermark_to when the read
    brings no row with a watermark, so the next run keeps its starting point.
    `retries` and `notes` (for the ledger message) are read only once `rows` is
    exhausted, so the reader behind `rows` may still add to them. A row dated
    after the load's start plus `clock_skew` is quarantined as a future event.
    `decide(conn)` runs first inside the load's transaction, once the table's
    lock is held (waited for up to `lock_timeout`): a skip it returns leaves
    `rows` unread.
    """
    started_at = utcnow()
    base = LoadResult(
        load_id=0, system=table.system, table_name=table.name,
        file_name=file_name, status="loaded", watermark_from=watermark_from,
    )
    load: _Load | None = None
    with psycopg.connect(conninfo, autocommit=True, application_name=f"shrinkwatch load raw.{table.name}") as conn:
        try:
            with locks.raw_write(conn, table.name, timeout=lock_timeout):
                # taken under the lock, so that a table's load ids follow its commits
                base = replace(base, load_id=reserve_load_id(conn))
                decision = decide(conn)
                if decision.skip:
                    status, message = decision.skip
                    result = replace(base, status=status, message=message)
                    write_ledger_row(
                        conn, result, file_checksum=file_checksum, started_at=started_at, finished_at=utcnow()
                    )
                    return result
                load = _Load(conn, table, base.load_id, started_at, clock_skew)
                result = _stage_and_merge(
                    load, rows, base, chunk_rows, file_scope, decision.supersedes_loads, notes
                )
                result = replace(
                    result,
                    retries=retries(),
                    watermark_to=result.watermark_to or previous_watermark,
                )
                write_ledger_row(
                    conn, result, file_checksum=file_checksum,
                    started_at=started_at, finished_at=utcnow(),
                )
            return result
        except BaseException as error:
            # Nothing of the load was committed, so nothing counts as read.
            failed = replace(
                base,
                status="failed",
                retries=retries(),
                message=f"{type(error).__name__}: {error} (after reading {load.rows_read if load else 0} rows)",
            )
            record_failure(conninfo, failed, file_checksum, started_at)
            raise


def _stage_and_merge(
    load: _Load,
    rows: Iterable[SourceRow | RejectedRow],
    base: LoadResult,
    chunk_rows: int,
    file_scope: FileScope | None,
    supersedes_loads: Sequence[int],
    reader_notes: Sequence[str],
) -> LoadResult:
    table = load.table
    load.create_stage()
    for row in rows:
        load.add(row, chunk_rows)
    load.flush()
    superseded, duplicates = load.resolve_duplicates()
    merged = load.rows_staged - superseded - duplicates
    inserted = updated = deleted = 0
    notes = list(reader_notes)
    if repeats := load.settle_repeats():
        notes.append(f"{repeats} quarantined rows repeat earlier quarantined ones")
    resolved = 0
    status = base.status
    if table.strategy == "file":
        if file_scope is None:
            raise ValueError(f"{table.name}: a file load needs its FileScope")
        held = load.rows_of_day(file_scope) if not load.rows_read else 0
        if not load.rows_read and (held or supersedes_loads):
            # A 0-byte or header-only re-export is far likelier a broken export
            # than a day that lost every record: it must not erase the day.
            status = "refused_empty"
            notes.append(f"no row read, so the {held} rows of the day's earlier exports were kept")
        elif load.rows_staged or not load.rows_quarantined:
            inserted, deleted = load.replace_file_rows(file_scope)
            resolved = load.resolve_quarantined(supersedes_loads, base.file_name)
        else:
            # A re-export that lost its header or every row must not wipe the
            # day's good export: its rows wait in quarantine, the old ones stay.
            notes.append("no valid row, so the rows of the day's earlier exports were kept")
    elif table.strategy == "replace":
        if load.rows_staged:
            inserted, deleted = load.replace_all_rows()
            resolved = load.resolve_quarantined((), base.file_name)
        else:
            notes.append("no valid row, so the previous rows were kept")
    elif table.strategy == "full" and not load.rows_read and (held := load.rows_in_raw()):
        # A snapshot table read empty is a source mid-refresh (a replica being
        # rebuilt), not every user, release and count gone: keep the last one.
        status = "refused_empty"
        notes.append(f"the read returned no row while raw.{table.name} holds {held} rows, "
                     "so the previous snapshot was kept")
    else:
        inserted, updated = load.upsert()
        if table.strategy == "full":
            if load.rows_quarantined:
                notes.append("rows were quarantined, so keys absent from this read were kept")
            else:
                deleted = load.delete_absent_keys()
        resolved = load.resolve_quarantined((), None)
    if resolved:
        notes.append(f"{resolved} quarantined rows of earlier loads resolved")
    if superseded:
        notes.append(f"{superseded} older versions superseded within this read")
    return replace(
        base,
        status=status,
        rows_read=load.rows_read,
        rows_loaded=load.rows_read - load.rows_quarantined,
        rows_quarantined=load.rows_quarantined,
        rows_inserted=inserted,
        rows_updated=updated,
        rows_unchanged=merged - inserted - updated,
        rows_deleted=deleted,
        watermark_to=format_watermark(load.watermark_max) if load.watermark_max else None,
        message="; ".join(notes) or None,
    )


def record_skip(
    conninfo: str,
    system: str,
    table_name: str | None,
    *,
    status: str,
    file_name: str,
    file_checksum: str,
    message: str,
) -> LoadResult:
    """A ledger row for a file deliberately not loaded, or not loadable at all."""
    started_at = utcnow()
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        result = LoadResult(
            load_id=reserve_load_id(conn), system=system, table_name=table_name,
            file_name=file_name, status=status, message=message,
        )
        write_ledger_row(
            conn, result, file_checksum=file_checksum,
            started_at=started_at, finished_at=utcnow(),
        )
    return result
