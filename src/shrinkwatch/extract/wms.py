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

Encodings are tried in order over the whole file before a row is parsed; a file
none of them decodes has every data line quarantined (rule `encoding`), so a bad
export is visible and counted, never half-loaded. Columns are found by their
header names, in any order: extra ones are ignored and a contract column named
twice is read from its first occurrence, both noted in the ledger message; a
byte-order mark at the start of a later line (exports appended into one file)
is dropped. A `.csv` whose name does not
follow the pattern gets one `failed` ledger row (per name and content) and a
logged warning, and the other files still load. Files not ending in `.csv` are
ignored: the WMS may still be writing them.
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

import psycopg

from shrinkwatch.contracts import SourceTable, wms_table_for_entity
from shrinkwatch.extract.ledger import (
    LoadResult,
    file_loads_for_day,
    files_decided,
)
from shrinkwatch.extract.loader import FileScope, RejectedRow, SourceRow, load_table, record_skip
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW
from shrinkwatch.extract.warehouse import ensure_schemas

logger = logging.getLogger(__name__)

FILE_NAME = re.compile(r"wms_(?P<entity>[a-z][a-z_]*)_(?P<day>\d{8})(?:_(?P<seq>\d+))?\.csv")
_BLOCK = 1 << 20


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
    return match["entity"], day, int(match["seq"] or 0)


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


def undecodable_lines(path: Path, reason: str) -> Iterator[RejectedRow]:
    """Every data line of a file no encoding decodes, as a rejected row."""
    with path.open("rb") as stream:
        for line_no, line in enumerate(stream, start=1):
            if line_no == 1 or not line.strip():
                continue  # the header, and blank lines, are not rows
            text = line.rstrip(b"\r\n").decode("ascii", errors="backslashreplace")
            yield RejectedRow(f"{path.name}:{line_no}", "encoding", reason, {"line": text})


def csv_rows(
    path: Path,
    table: SourceTable,
    encoding: str,
    notes: list[str],
    lineage: Callable[[int], tuple[object, ...]] = lambda line_no: (),
) -> Iterator[SourceRow | RejectedRow]:
    """The rows of a CSV file with a header, in the table's contract column
    order; `lineage(first physical line)` gives a row's extra raw columns."""
    name = path.name
    with path.open(encoding=encoding, newline="") as stream:
        # A byte-order mark where a later line starts is the seam of exports
        # appended to one file, never data: left in, it would become part of
        # that record's first value (its key, for a task or a count).
        reader = csv.reader(line.removeprefix("\ufeff") for line in stream)
        header = [h.strip().lower() for h in next(reader, [])]
        if not header:
            notes.append("empty file")
            return
        missing = [c for c in table.column_names if c not in header]
        extra = [h for h in header if h not in table.column_names]
        if extra:
            notes.append(f"ignored extra columns: {', '.join(extra)}")
        repeated = sorted({c for c in table.column_names if header.count(c) > 1})
        if repeated:
            notes.append(f"columns named twice in the header, the first of each read: {', '.join(repeated)}")
        positions = [header.index(c) for c in table.column_names if c in header]
        line_no = reader.line_num
        for record in reader:
            first_line, line_no = line_no + 1, reader.line_num
            if not record:
                continue
            ref = f"{name}:{first_line}"
            if missing:
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
                yield SourceRow([record[p] for p in positions], ref, lineage(first_line))


def _load_file(
    conninfo: str, landing: LandingFile, checksum: str, encodings: Sequence[str], chunk_rows: int,
    clock_skew: timedelta, supersedes_loads: Sequence[int],
) -> LoadResult:
    encoding, failure = detect_encoding(landing.path, encodings)
    notes: list[str] = []
    if encoding is None:
        reason = f"not decodable as {', '.join(encodings)} ({failure})"
        rows: Iterator[SourceRow | RejectedRow] = undecodable_lines(landing.path, reason)
        notes.append("undecodable: every line quarantined")
    else:
        def lineage(line_no: int) -> tuple[object, ...]:
            return (landing.path.name, landing.file_date, landing.file_seq, line_no)

        rows = csv_rows(landing.path, landing.table, encoding, notes, lineage)
        notes.append(f"decoded as {encoding}")

    return load_table(
        conninfo, landing.table, rows,
        chunk_rows=chunk_rows, file_name=landing.path.name, file_checksum=checksum,
        file_scope=FileScope(landing.file_date, landing.file_seq), supersedes_loads=supersedes_loads,
        notes=notes, clock_skew=clock_skew,
    )


def extract_wms(
    warehouse_conninfo: str,
    landing_dir: Path,
    *,
    encodings: Sequence[str] = ("utf-8-sig", "gb18030"),
    chunk_rows: int = 50000,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> list[LoadResult]:
    """Load every new export in `landing_dir`: one ledger row per file the first time it is
    seen (loaded, skipped or rejected); files already decided on are passed over."""
    with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
        decided = files_decided(conn)
    results: list[LoadResult] = []
    landed: list[tuple[LandingFile, str]] = []
    for path in sorted(Path(landing_dir).iterdir()):
        if not path.is_file() or path.suffix.lower() != ".csv":
            continue
        checksum = sha256_of(path)
        if (path.name, checksum) in decided:
            continue
        try:
            entity, day, seq = parse_file_name(path.name)
            table = wms_table_for_entity(entity)
        except (ValueError, KeyError) as problem:
            message = str(problem).strip('"')
            logger.warning("WMS landing: %s", message)
            results.append(record_skip(
                warehouse_conninfo, "wms", None, status="failed",
                file_name=path.name, file_checksum=checksum, message=message,
            ))
            continue
        landed.append((LandingFile(path, table, day, seq), checksum))

    for landing, checksum in sorted(landed, key=lambda item: item[0].order):
        skip, replaced_loads = _decide(warehouse_conninfo, landing, checksum)
        if skip:
            status, message = skip
            results.append(record_skip(
                warehouse_conninfo, "wms", landing.table.name, status=status,
                file_name=landing.path.name, file_checksum=checksum, message=message,
            ))
        else:
            results.append(_load_file(
                warehouse_conninfo, landing, checksum, encodings, chunk_rows, clock_skew, replaced_loads
            ))
    return results


def _decide(
    conninfo: str, landing: LandingFile, checksum: str
) -> tuple[tuple[str, str] | None, list[int]]:
    """Whether to skip the file (status, message), and if not, the earlier
    loads of its entity and day it replaces (seq up to its own)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        loads = file_loads_for_day(conn, landing.table, landing.file_date)
    replaced = []
    current: tuple[str, str] | None = None  # (name, sha256) of the day's export in raw
    for load_id, name, loaded_checksum in loads:
        _, day, seq = parse_file_name(name)
        if day != landing.file_date:
            continue
        if seq > landing.file_seq:
            return ("skipped_superseded", f"{name} (a later export of the day) is loaded"), []
        replaced.append(load_id)
        current = (name, loaded_checksum)
    if current is not None and current[1] == checksum:
        return ("skipped_duplicate", f"same content as {current[0]}, the day's export already loaded"), []
    return None, replaced
