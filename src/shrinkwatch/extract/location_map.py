"""The plant's location map (contract section 2) into `raw.location_map`.

One CSV file, `werks,lgort,warehouse,zone,mes_line,mes_work_center,description`,
UTF-8 with or without BOM. It is configuration a user edits, so it is loaded
like a WMS export but as a whole:

- the same bytes as the last loaded map (sha256) -> passed over, no ledger row
  (like a WMS export already decided on: every run reads the map, and at a
  15-minute cadence a row per run would say nothing 96 times a day);
- otherwise the file's valid rows replace the whole table, in one transaction
  with their ledger row (system `wms`, table `location_map`).

The load is decided again under the table's lock (`load_table`'s `decide`), so
of two runs at once that both found the map changed the second sees the
first's load and records `skipped_duplicate`.

Rows are validated by the loader: a row without `werks` or `lgort`, or with a
field count other than the header's, is quarantined in `quarantine.location_map`;
a header missing a column quarantines every row (rule `missing_column`), and an
undecodable file every line (rule `encoding`). A file with no valid row at all
keeps the previous map (the ledger message says so) rather than empty it. Blank
fields load as null, as in every raw table (a zone row's `mes_line` is null).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import psycopg

from shrinkwatch import locks
from shrinkwatch.contracts import LOCATION_MAP
from shrinkwatch.extract.ledger import LoadResult
from shrinkwatch.extract.loader import Decision, RejectedRow, RowsRead, SourceRow, load_table
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.extract.wms import csv_rows, detect_encoding, sha256_of, undecodable_lines
from shrinkwatch.ops import LEDGER


def _unchanged_since(conn: psycopg.Connection, checksum: str) -> int | None:
    """The location map's last successful load, if it loaded these bytes."""
    last = conn.execute(
        f"""select load_id, file_checksum from {LEDGER}
            where system = %s and table_name = %s and status = 'loaded'
            order by load_id desc limit 1""",
        (LOCATION_MAP.system, LOCATION_MAP.name),
    ).fetchone()
    return last[0] if last is not None and last[1] == checksum else None


def load_location_map(
    warehouse_conninfo: str,
    path: Path,
    *,
    encodings: Sequence[str] = ("utf-8-sig",),
    chunk_rows: int = 50000,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> LoadResult | None:
    """Load the location map at `path`; None when it is unchanged since its last load."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"location map {path} is not a file: point SHRINKWATCH_LOCATION_MAP at the plant's "
            "location_map.csv (columns werks,lgort,warehouse,zone,mes_line,mes_work_center,description)"
        )
    checksum = sha256_of(path)
    with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
        if _unchanged_since(conn, checksum) is not None:
            return None

    def decide(conn: psycopg.Connection) -> Decision:
        loaded = _unchanged_since(conn, checksum)
        if loaded is not None:
            return Decision(skip=("skipped_duplicate", f"unchanged since load {loaded}"))
        return Decision()

    notes: list[str] = []
    lines_read = RowsRead()
    encoding, failure = detect_encoding(path, encodings)
    if encoding is None:
        reason = f"not decodable as {', '.join(encodings)} ({failure})"
        rows: Iterator[SourceRow | RejectedRow] = undecodable_lines(path, reason, lines_read)
        notes.append("undecodable: every line quarantined")
    else:
        rows = csv_rows(path, LOCATION_MAP, encoding, notes, lines_read)
        notes.append(f"decoded as {encoding}")
    return load_table(
        warehouse_conninfo, LOCATION_MAP, rows,
        chunk_rows=chunk_rows, file_name=path.name, file_checksum=checksum, decide=decide, notes=notes,
        rows_read=lines_read, lock_timeout=lock_timeout,
    )
