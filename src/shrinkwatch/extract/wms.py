"""WMS extraction: CSV exports dropped in a landing directory.

Files are named `wms_<entity>_<YYYYMMDD>[_<seq>].csv` and processed in export
order (day, seq, name). Per file, in this order:

- a higher seq of the same entity and day already loaded -> `skipped_superseded`;
- the same bytes (sha256) as the export of its entity and day now in raw ->
  `skipped_duplicate` (loading it would change nothing). Equal bytes under
  another day, or equal to an export of the day since replaced, are that
  file's own content and load: an item master back to an earlier day's
  values, a WMS taking a correction back;
- otherwise the file is loaded and replaces the rows of earlier seqs of its day
  (and of an earlier delivery of the same name), and resolves the open
  quarantine rows of the loads it replaces: a corrected re-export fixes them.

Which of these applies is decided under the lock of the file's raw table, in
the transaction that loads it (`load_table`'s `decide`): a run that waited
while another loaded the same file sees that load and skips the file as
`skipped_duplicate`, naming it, instead of loading its rows a second time.

Encodings are tried in order over the whole file before a row is parsed; a file
none of them decodes has every data line quarantined (rule `encoding`), so a bad
export is visible and counted, never half-loaded. A `.csv` whose name does not
follow the pattern, or names a seq above what `raw._file_seq` (an int) holds,
gets one `failed` ledger row (per name and content) and a logged warning, and
the other files still load. Files not ending in `.csv` are ignored: the WMS may
still be writing them. A file whose load fails for any other reason keeps its
`failed` ledger row and is tried again on the next run; the files after it
load all the same, and `extract_wms` raises `LoadsFailed` naming it at the end.

One record is one physical line: the contract gives no record a newline inside
a field (and the reference plants quote nothing), so a quote left open at the
end of its line is a broken record, not a record that goes on. That line is
quarantined (rule `unbalanced_quote`, with its text) and the next line is read
as a record of its own, so one stray quote cannot swallow the rest of the file.
A line with a field longer than the csv module's limit (131,072 characters),
or a line too long to read whole, is quarantined as `field_size`. Each data
line (every line after the header but blank ones) is counted as it is read, and
that count is the load's rows_read: every one of them is staged or quarantined.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO

import psycopg

from shrinkwatch import locks
from shrinkwatch.contracts import SourceTable, wms_table_for_entity
from shrinkwatch.extract.ledger import (
    LoadResult,
    LoadsFailed,
    file_loads_for_day,
    files_decided,
    load_each,
)
from shrinkwatch.extract.loader import Decision, FileScope, RejectedRow, RowsRead, SourceRow, load_table, record_skip
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW, storable_text
from shrinkwatch.extract.warehouse import ensure_schemas

logger = logging.getLogger(__name__)

FILE_NAME = re.compile(r"wms_(?P<entity>[a-z][a-z_]*)_(?P<day>\d{8})(?:_(?P<seq>\d+))?\.csv", re.ASCII)
_LARGEST_SEQ = 2**31 - 1  # raw._file_seq is an int
_BLOCK = 1 << 20
# The csv module refuses a longer field; a line longer than 16 such fields
# cannot be a contract record, and is not read whole (memory stays bounded).
_FIELD_LIMIT = csv.field_size_limit()
_LINE_LIMIT = 16 * _FIELD_LIMIT
_RAW_HEAD = 1000  # characters of an over-long line kept in its quarantine row


@dataclass(frozen=True)
class LandingFile:
    path: Path
    table: SourceTable
    file_date: date
    file_seq: int

    @property
    def order(self) -> tuple[date, int, str]:
        return (self.file_date, self.file_seq, self.path.name)


def parse_file_name(name: str) -> tuple[str, date, int]:
    """(entity, export day, seq) of a landing file name; ValueError if it is not one."""
    match = FILE_NAME.fullmatch(name)
    if not match:
        raise ValueError(f"{name}: not named wms_<entity>_<YYYYMMDD>[_<seq>].csv")
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{name}: {match['day']} is not a calendar day") from None
    seq = int(match["seq"] or 0)
    if seq > _LARGEST_SEQ:
        raise ValueError(
            f"{name}: export sequence {seq} is above {_LARGEST_SEQ}, the largest raw._file_seq can hold"
        )
    return match["entity"], day, seq


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def detect_encoding(path: Path, encodings: Sequence[str]) -> tuple[str | None, str]:
    """The first encoding that decodes the whole file, streamed; else None and
    why each one failed (with the physical line of its first bad byte)."""
    failures = []
    for encoding in encodings:
        decoder = codecs.getincrementaldecoder(encoding)()
        line_no = 0
        try:
            with path.open("rb") as stream:
                for line_no, line in enumerate(stream, start=1):  # noqa: B007
                    decoder.decode(line)
            decoder.decode(b"", final=True)
            return encoding, ""
        except UnicodeDecodeError as error:
            failures.append(f"{encoding}: {error.reason} at line {line_no}")
        except LookupError:
            failures.append(f"{encoding}: unknown encoding")
    return None, "; ".join(failures)


def undecodable_lines(path: Path, reason: str, lines_read: RowsRead) -> Iterator[RejectedRow]:
    """Every data line of a file no encoding decodes, as a rejected row."""
    with path.open("rb") as stream:
        for line_no, line in enumerate(stream, start=1):
            if line_no == 1 or not line.strip():
                continue  # the header, and blank lines, are not rows
            lines_read.count += 1
            text = line.rstrip(b"\r\n").decode("ascii", errors="backslashreplace")
            yield RejectedRow(f"{path.name}:{line_no}", "encoding", reason, {"line": text})


def _physical_lines(stream: TextIO) -> Iterator[tuple[int, str, int | None]]:
    """(line number, text without its line end, its length when it was too
    long to read whole, else None) of every line; a line ends at \\n, \\r or
    \\r\\n, as the csv module reads them."""
    line_no = 0
    while line := stream.readline(_LINE_LIMIT):
        line_no += 1
        if line.endswith(("\n", "\r")) or len(line) < _LINE_LIMIT:
            yield line_no, line.rstrip("\r\n"), None
            continue
        length = len(line)
        while (rest := stream.readline(_LINE_LIMIT)) and not rest.endswith(("\n", "\r")):
            length += len(rest)
        yield line_no, line[:_RAW_HEAD], length + len(rest.rstrip("\r\n"))


class _QuoteLeftOpen(Exception):
    """A quoted field is not closed at the end of its line."""


class _OneLine:
    """What a csv reader reads from: one line per record. Asked for a second
    line within a record (a quoted field goes on past its line's end), it
    raises instead, so the reader never joins lines."""

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _OneLine:
        return self

    def __next__(self) -> str:
        line, self.line = self.line, None
        if line is None:
            raise _QuoteLeftOpen
        return line


class _LineParser:
    """Parses one physical line into its fields, or says why it cannot."""

    def __init__(self) -> None:
        self._source = _OneLine()
        self._reader = csv.reader(self._source)

    def fields(self, text: str) -> list[str] | tuple[str, str]:
        """The line's fields, or (rule, reason)."""
        self._source.line = text
        try:
            return next(self._reader)
        except _QuoteLeftOpen:
            return ("unbalanced_quote", "a quoted field is not closed on its line (the contract has one "
                                        "record per line); the next line is read as a record of its own")
        except csv.Error:  # on one line, only a field over the limit
            return ("field_size", f"a field is longer than {_FIELD_LIMIT:,} characters")


def csv_rows(
    path: Path,
    table: SourceTable,
    encoding: str,
    notes: list[str],
    lines_read: RowsRead,
    lineage: Callable[[int], tuple[object, ...]] = lambda line_no: (),
) -> Iterator[SourceRow | RejectedRow]:
    """One row per data line of a CSV file with a header, in the table's
    contract column order; `lineage(line number)` gives a row's extra raw
    columns. Each data line is counted into `lines_read` as it is read."""
    name = path.name
    parser = _LineParser()
    with path.open(encoding=encoding, newline="") as stream:
        lines = _physical_lines(stream)
        first = next(lines, None)
        if first is None:
            notes.append("empty file")
            return
        _, text, too_long = first
        # a header that is no CSV record names no column: every line is then missing them
        fields = parser.fields(text) if too_long is None else ()
        header = [h.strip().lower() for h in fields] if isinstance(fields, list) else []
        missing = [c for c in table.column_names if c not in header]
        extra = [h for h in header if h not in table.column_names]
        if extra:
            notes.append(f"ignored extra columns: {', '.join(extra)}")
        positions = [header.index(c) for c in table.column_names if c in header]
        for line_no, text, too_long in lines:
            if not text.strip():
                continue  # a blank line is no record (as in `undecodable_lines`)
            lines_read.count += 1
            ref = f"{name}:{line_no}"
            if too_long is not None:
                yield RejectedRow(ref, "field_size", f"the line is longer than {_LINE_LIMIT:,} characters",
                                  {"line": text + "...", "characters": too_long})
                continue
            record = parser.fields(text)
            if isinstance(record, tuple):
                rule, reason = record
                raw = {"line": text}
                if rule == "field_size":
                    raw = {"line": text[:_RAW_HEAD] + "...", "characters": len(text)}
                yield RejectedRow(ref, rule, reason, raw)
            elif missing:
                yield RejectedRow(
                    ref, "missing_column",
                    f"header lacks contract column(s) {', '.join(missing)}",
                    dict(zip(header, record, strict=False)),
                )
            elif len(record) != len(header):
                yield RejectedRow(
                    ref, "column_count",
                    f"expected {len(header)} fields as in the header, got {len(record)}",
                    {"fields": record},
                )
            else:
                yield SourceRow([record[p] for p in positions], ref, lineage(line_no))


def _load_file(
    conninfo: str, landing: LandingFile, checksum: str, encodings: Sequence[str], chunk_rows: int,
    clock_skew: timedelta, lock_timeout: timedelta,
) -> LoadResult:
    encoding, failure = detect_encoding(landing.path, encodings)
    notes: list[str] = []
    lines_read = RowsRead()
    if encoding is None:
        reason = f"not decodable as {', '.join(encodings)} ({failure})"
        rows: Iterator[SourceRow | RejectedRow] = undecodable_lines(landing.path, reason, lines_read)
        notes.append("undecodable: every line quarantined")
    else:
        def lineage(line_no: int) -> tuple[object, ...]:
            return (landing.path.name, landing.file_date, landing.file_seq, line_no)

        rows = csv_rows(landing.path, landing.table, encoding, notes, lines_read, lineage)
        notes.append(f"decoded as {encoding}")

    return load_table(
        conninfo, landing.table, rows,
        chunk_rows=chunk_rows, file_name=landing.path.name, file_checksum=checksum,
        file_scope=FileScope(landing.file_date, landing.file_seq),
        decide=lambda conn: _decide(conn, landing, checksum),
        notes=notes, clock_skew=clock_skew, rows_read=lines_read, lock_timeout=lock_timeout,
    )


def extract_wms(
    warehouse_conninfo: str,
    landing_dir: Path,
    *,
    encodings: Sequence[str] = ("utf-8-sig", "gb18030"),
    chunk_rows: int = 50000,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> list[LoadResult]:
    """Load every new export in `landing_dir`: one ledger row per file the first time it is
    seen (loaded, skipped or rejected); files already decided on are passed over. A
    file a concurrent run decided on meanwhile gets this run's own skip row. Raises
    `LoadsFailed` after the last file when a file's load failed."""
    with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
        decided = files_decided(conn)
    results: list[LoadResult] = []
    landed: list[tuple[LandingFile, str]] = []
    for path in sorted(Path(landing_dir).iterdir()):
        if not path.is_file() or path.suffix.lower() != ".csv":
            continue
        checksum = sha256_of(path)
        # as the ledger holds it: a name of bytes no encoding decodes is kept with escapes
        name = storable_text(path.name)
        if (name, checksum) in decided:
            continue
        try:
            entity, day, seq = parse_file_name(name)
            table = wms_table_for_entity(entity)
        except (ValueError, KeyError) as problem:
            message = str(problem).strip('"')
            logger.warning("WMS landing: %s", message)
            results.append(record_skip(
                warehouse_conninfo, "wms", None, status="failed",
                file_name=name, file_checksum=checksum, message=message,
            ))
            continue
        landed.append((LandingFile(path, table, day, seq), checksum))

    def load(item: tuple[LandingFile, str]) -> LoadResult:
        landing, checksum = item
        return _load_file(warehouse_conninfo, landing, checksum, encodings, chunk_rows, clock_skew, lock_timeout)

    in_order = sorted(landed, key=lambda item: item[0].order)
    try:
        results += load_each("wms", in_order, load, lambda item: item[0].path.name)
    except LoadsFailed as failed:
        failed.results[:0] = results
        raise
    return results


def _decide(conn: psycopg.Connection, landing: LandingFile, checksum: str) -> Decision:
    """Whether to skip the file (status, message), and if not, the earlier
    loads of its entity and day it replaces (seq up to its own)."""
    replaced = []
    current: tuple[int, str, str] | None = None  # (load, name, sha256) of the day's export in raw
    for load_id, name, loaded_checksum in file_loads_for_day(conn, landing.table, landing.file_date):
        _, day, seq = parse_file_name(name)
        if day != landing.file_date:
            continue
        if seq > landing.file_seq:
            return Decision(skip=("skipped_superseded", f"{name} (a later export of the day) is loaded"))
        replaced.append(load_id)
        current = (load_id, name, loaded_checksum)
    if current is not None and current[1:] == (landing.path.name, checksum):
        # not in the ledger when this run listed the files (it would have been
        # passed over), so a concurrent run loaded it while this one waited
        return Decision(skip=("skipped_duplicate",
                              f"already loaded by load {current[0]} of a concurrent run, since this run began"))
    if current is not None and current[2] == checksum:
        return Decision(skip=("skipped_duplicate", f"same content as {current[1]}, the day's export already loaded"))
    return Decision(supersedes_loads=replaced)
