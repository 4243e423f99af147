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
extractor in the ledger) and of their replays; for a configuration file
(replace) every open row of the table, once its valid rows replaced the table.
A row re-read exactly as an earlier open or released one is settled as its
repeat (`settle_repeats`).

A read with no row at all never erases rows: a WMS export that would replace
its day's rows and a full table whose raw holds rows are left as they were, and
the load is recorded as `refused_empty` (a broken export, a replica
mid-refresh), which the run report lists.

A replay (`Replay`, driven by extract/quarantine.py) is a load whose rows are
the quarantined records of an earlier load, judged again by the same
validator: it only adds to raw (a keyed table upserts, except over a row a
later load wrote; a WMS row joins its export's day, unless the day holds its
key), moves no watermark, and resolves the replayed rows it made good as
`replayed by load <id>`; its ledger status is `replayed`.

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
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from datetime import time as time_of_day

import psycopg

from shrinkwatch import locks
from shrinkwatch.contracts import RAW_SCHEMA, SourceTable, rule_severity
from shrinkwatch.extract.ledger import LoadResult, record_failure, reserve_load_id, utcnow, write_ledger_row
from shrinkwatch.extract.validation import (
    DEFAULT_CLOCK_SKEW,
    PARSERS,
    InvalidValue,
    Rejection,
    RowValidator,
    storable_text,
)
from shrinkwatch.extract.warehouse import quarantine_table
from shrinkwatch.ops import LEDGER

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


class RowsRead:
    """A reader's own count of what it read from its source (WMS: data lines
    of the file; ERP: rows fetched; MES: items received), kept apart from the
    rows it hands on; `load_table(rows_read=...)` reports it as rows_read."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


@dataclass(frozen=True)
class Replay:
    """The quarantined rows of load `load_id` a replay reads again (only those
    under `rule` if given): open or released ones. Rows resolved otherwise are
    settled (loaded, superseded, a repeat, replayed before), and a
    `duplicate_key_in_batch` row was judged against its own read, not by the
    contract, so no replay can judge it again."""

    load_id: int
    rule: str | None = None
    # set when load `load_id` was itself a replay: the load that first read its records
    first_read: int | None = None

    @property
    def read_by(self) -> int:
        """The load that read these records from the source."""
        return self.first_read or self.load_id

    def selects(self, alias: str) -> str:
        """The rows replayed, as SQL over `alias`; params `params()`."""
        return (
            f"{alias}.load_id = %(replayed_load)s"
            f" and ({alias}.resolved_at is null or {alias}.resolution like 'released by %%')"
            f" and {alias}.rule <> 'duplicate_key_in_batch'"
            f" and (%(replayed_rule)s::text is null or {alias}.rule = %(replayed_rule)s)"
        )

    def params(self) -> dict[str, object]:
        return {"replayed_load": self.load_id, "replayed_rule": self.rule}


@dataclass(frozen=True)
class FileScope:
    """A WMS export: its rows replace those of earlier exports of the same day."""

    file_date: date
    file_seq: int


# jsonb refuses a \u0000 escape and a lone surrogate (escaped or not): both are
# kept visible as literal text, `\u0000` and `\ud800`, one backslash more
_JSON_UNSTORABLE = re.compile(r"(\\*)\\u0000|[\ud800-\udfff]")
# ...which `record_from_json` takes back off: an even run of backslashes before one
_JSON_KEPT_LITERAL = re.compile(r"(\\+)(u0000|u[dD][89a-fA-F][0-9a-fA-F]{2})")


def _as_literal(match: re.Match) -> str:
    backslashes = match.group(1)
    if backslashes is None:  # a lone surrogate
        return f"\\\\u{ord(match.group()):04x}"
    if len(backslashes) % 2:  # an escaped backslash, then the literal text u0000: already storable
        return match.group()
    return f"{backslashes}\\\\u0000"


def _as_escape(match: re.Match) -> str:
    backslashes, code = match.groups()
    return backslashes[:-1] + code if len(backslashes) % 2 == 0 else match.group()


@dataclass(frozen=True)
class Decision:
    """What a load does with its read, decided from the ledger under the table's lock."""

    # (ledger status, why): the read is not loaded, only its ledger row written
    skip: tuple[str, str] | None = None
    # file strategy: the earlier loads whose rows this file replaces; their
    # open quarantine rows are resolved by this load
    supersedes_loads: Sequence[int] = ()


def _to_json(raw: object) -> str:
    return _JSON_UNSTORABLE.sub(_as_literal, json.dumps(raw, default=str, ensure_ascii=False))


def record_from_json(text: str) -> object:
    """A quarantined `raw_record` (as text) back as the record it was written
    from: the inverse of `_to_json`, a NUL and a lone surrogate included, so a
    replay judges the value the source gave. (A source text that is itself a
    backslash and `u0000` reads back as a NUL: the one spelling the two share.)"""
    return json.loads(_JSON_KEPT_LITERAL.sub(_as_escape, text))


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
        started_at: datetime, clock_skew: timedelta, replay: Replay | None = None,
    ):
        self.conn = conn
        self.table = table
        self.load_id = load_id
        self.replay = replay
        self.validator = RowValidator(table, loaded_at=started_at, clock_skew=clock_skew)
        self.stage_columns = [c.name for c in table.columns + table.extra_raw_columns]
        # a replay reads old records, not the source: its rows say nothing of where the next read starts
        watermark = () if replay else table.watermark
        self.watermark_positions = [table.column_names.index(c) for c in watermark]
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
            parts.append(f"{k}={storable_text(str(value)) if parsed is None else parsed}")
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
        return 0, self._quarantine_repeated_keys("_extract_dupes")

    def _quarantine_repeated_keys(self, repeats: str) -> int:
        """Move the stage rows listed in the relation `repeats` (`_ord`, and
        `first_ref`: where their key was read first) to quarantine as
        `duplicate_key_in_batch`; returns how many."""
        data = ", ".join(self.stage_columns)
        rule = "duplicate_key_in_batch"
        quarantined = self.conn.execute(
            f"""insert into {quarantine_table(self.table.name)}
                    (load_id, source_ref, rule, severity, reason, raw_record)
                select %s, {self._key_ref_sql('s')}, %s, %s,
                       'key ({', '.join(self.table.key)}) already read at ' || d.first_ref,
                       (select to_jsonb(r) from (select {data}) r)
                from {_STAGE} s join {repeats} d using (_ord)""",
            (self.load_id, rule, rule_severity(rule)),
        ).rowcount
        self.conn.execute(f"delete from {_STAGE} s using {repeats} d where s._ord = d._ord")
        self.rows_quarantined += quarantined
        return quarantined

    def quarantine_keys_the_day_holds(self) -> int:
        """A replayed WMS row whose key its day already holds in raw repeats a
        row of its own export: quarantined as its load would have, pointing at
        the row in raw, which stays. Returns how many."""
        raw = f"{RAW_SCHEMA}.{self.table.name}"
        matches = " and ".join(f"r.{k} is not distinct from s.{k}" for k in self.table.key)
        self.conn.execute(
            f"""create temp table _replay_held on commit drop as
                select distinct on (s._ord) s._ord, r._source_file || ':' || r._line_no as first_ref
                from {_STAGE} s join {raw} r on r._file_date = s._file_date and {matches}
                order by s._ord, r._line_no"""
        )
        return self._quarantine_repeated_keys("_replay_held")

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
            # the replays of a replaced export held its rows too
            return self.conn.execute(
                f"""update {quarantine} q set resolved_at = now(), resolution = %s
                    where {open_earlier}
                      and (q.load_id = any(%s)
                           or q.load_id in (select load_id from {LEDGER} where replay_of = any(%s)))""",
                (f"superseded by load {self.load_id}{source}", list(supersedes_loads), list(supersedes_loads)),
            ).rowcount
        # replace: the table now holds this file's rows only
        return self.conn.execute(
            f"update {quarantine} q set resolved_at = now(), resolution = %s where {open_earlier}",
            (f"superseded by load {self.load_id}{source}",),
        ).rowcount

    def upsert(self, written_before: int | None = None) -> tuple[int, int]:
        """Insert new keys, update changed ones, leave unchanged rows (and
        their _load_id) untouched; returns (inserted, updated). With
        `written_before`, only rows written by an older load are updated: a
        later load read the source after that one did."""
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
        if written_before is not None:
            changed += f" and {raw}._load_id < {int(written_before)}"
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

    def merge_replayed(self) -> tuple[int, int]:
        """Add the replayed rows that passed to raw, taking nothing out; returns
        (inserted, updated). A WMS row joins its export's day (the caller
        checked that export is the day's in raw); a keyed row upserts, except
        over a row a load wrote after the one that first read the record."""
        if self.table.strategy == "file":
            columns = ", ".join(self.stage_columns)
            inserted = self.conn.execute(
                f"insert into {RAW_SCHEMA}.{self.table.name} ({columns}, _load_id) "
                f"select {columns}, %s from {_STAGE} order by _ord",
                (self.load_id,),
            ).rowcount
            return inserted, 0
        if self.table.strategy == "replace":
            raise ValueError(f"{self.table.name} is replaced whole by its next file: it cannot be replayed")
        return self.upsert(written_before=self.replay.read_by)

    def resolve_replayed(self) -> int:
        """Resolve the replayed load's rows this replay settled, as `replayed by
        load <id>`: merged, or failing now under another rule (this load's row
        carries that finding). A row failing again as it was keeps its state,
        open or released: this load's row is its repeat (`settle_repeats`)."""
        quarantine = quarantine_table(self.table.name)
        return self.conn.execute(
            f"""update {quarantine} q set resolved_at = now(), resolution = %(resolution)s
                where {self.replay.selects('q')}
                  and not exists (
                      select from {quarantine} again
                      where again.load_id = %(load)s and again.rule = q.rule
                        and again.source_ref is not distinct from q.source_ref
                        and again.raw_record is not distinct from q.raw_record)""",
            {"resolution": f"replayed by load {self.load_id}", "load": self.load_id, **self.replay.params()},
        ).rowcount

    def delete_absent_keys(self) -> int:
        raw = f"{RAW_SCHEMA}.{self.table.name}"
        matches = " and ".join(f"s.{k} = r.{k}" for k in self.table.key)
        return self.conn.execute(
            f"delete from {raw} r where not exists (select 1 from {_STAGE} s where {matches})"
        ).rowcount

    def rows_in_stage(self) -> int:
        """The rows the merge reads: every row COPYed in, less the repeats
        moved to quarantine and the older MES versions dropped."""
        return self.conn.execute(f"select count(*) from {_STAGE}").fetchone()[0]

    def rows_in_quarantine(self) -> int:
        """The quarantine rows this load wrote, as the warehouse holds them."""
        return self.conn.execute(
            f"select count(*) from {quarantine_table(self.table.name)} where load_id = %s", (self.load_id,)
        ).fetchone()[0]

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
    replay: Replay | None = None,
    rows_read: Callable[[], int] | None = None,
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
    `rows` unread; its `supersedes_loads` (file strategy) are the earlier loads
    whose rows this file replaces, whose open quarantine rows this load resolves.
    `replay`: `rows` are that load's quarantined records (see the module docstring).

    Row conservation is counted, not derived: `rows_read` is the reader's own
    count of what it read from the source (WMS: data lines of the file; ERP:
    rows fetched; MES: items received), read once `rows` is exhausted; without
    it, the rows handed in. Loaded is what the warehouse holds in the stage when
    it merges (plus MES versions superseded within the read), quarantined is
    the quarantine rows of this load. When read differs from loaded plus
    quarantined the load still commits (raw and quarantine are what they are),
    and its ledger row shows the loss in `ops.load_conservation`.
    """
    started_at = utcnow()
    base = LoadResult(
        load_id=0, system=table.system, table_name=table.name,
        file_name=file_name, status="replayed" if replay else "loaded", watermark_from=watermark_from,
        replay_of=replay.read_by if replay else None,
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
                load = _Load(conn, table, base.load_id, started_at, clock_skew, replay)
                result = _stage_and_merge(
                    load, rows, base, chunk_rows, file_scope, decision.supersedes_loads, notes
                )
                result = replace(
                    result,
                    rows_read=load.rows_read if rows_read is None else rows_read(),
                    retries=retries(),
                    watermark_to=result.watermark_to or previous_watermark,
                )
                if result.rows_read != result.rows_loaded + result.rows_quarantined:
                    logger.error("%s: rows not conserved: %s", table.name, result)
                    result = replace(result, message="; ".join(filter(None, [
                        result.message,
                        f"rows not conserved: {result.rows_read} read, {result.rows_loaded} loaded, "
                        f"{result.rows_quarantined} quarantined",
                    ])))
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
    superseded, _ = load.resolve_duplicates()
    if load.replay and table.strategy == "file":
        load.quarantine_keys_the_day_holds()
    staged = load.rows_in_stage()
    merged = inserted = updated = deleted = 0  # merged: the staged rows that reached raw
    notes = list(reader_notes)
    if repeats := load.settle_repeats():
        notes.append(f"{repeats} quarantined rows repeat earlier quarantined ones")
    resolved = 0
    status = base.status
    if load.replay:
        inserted, updated = load.merge_replayed()
        merged = staged
        notes.append(f"{load.resolve_replayed()} quarantined rows of load {load.replay.load_id} resolved as replayed")
    elif table.strategy == "file":
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
            merged = staged
            resolved = load.resolve_quarantined(supersedes_loads, base.file_name)
        else:
            # A re-export that lost its header or every row must not wipe the
            # day's good export: its rows wait in quarantine, the old ones stay.
            notes.append("no valid row, so the rows of the day's earlier exports were kept")
    elif table.strategy == "replace":
        if load.rows_staged:
            inserted, deleted = load.replace_all_rows()
            merged = staged
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
        merged = staged
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
        rows_loaded=merged + superseded,
        rows_quarantined=load.rows_in_quarantine(),
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
