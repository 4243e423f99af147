"""Load every GS1 barcode the MES and the WMS scanned, parsed, into `raw.gs1_barcodes`.

The MES reports what a line consumed, scrapped, returned or sent out by the
barcode on the pack, and WMS tasks carry the barcode their hand-held scanned:
a GS1 element string, either bracketed (`(01)06901234567892(10)B2604120A7(30)25`)
or raw with FNC1 as ASCII 29. Staging needs the GTIN, batch and count in them,
so each distinct barcode is parsed once (gs1.py, with biip) into one row keyed by
the barcode exactly as the source gave it.

A barcode that does not parse is loaded all the same with `is_valid` false and
biip's reason in `error`: it is evidence of a data-quality defect for the next
layer, not a row to quarantine. So every barcode read is loaded and the ledger
row conserves trivially. A MES row whose barcode has a wrong GTIN check digit
never gets here: the MES extract quarantines it (rule `gs1_check_digit`, via
`check_digit_error`); a WMS task's scanned barcode with one still arrives here
with `is_valid` false, since a task moves stock whatever its scan said.

Discovery is set-based: one query finds the distinct non-empty barcodes of the
raw source tables not yet in `raw.gs1_barcodes`, streamed through a server-side
cursor in chunks and COPYed in, all in one transaction with its ledger row
(system `mes`, table `gs1_barcodes`), under the table's lock
(`locks.raw_write`): the MES and the WMS tasks may run at once, and the second
then sees the first's barcodes as known. A run that finds nothing new writes
nothing, not even a ledger row, and returns None: the MES and WMS extract tasks
both call this on every run, and empty rows would only bury the real loads. A
parsed barcode is never re-parsed; to re-parse all (say after a biip upgrade),
truncate the table and the next run rebuilds it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg

from shrinkwatch import locks
from shrinkwatch.contracts import RAW_SCHEMA
from shrinkwatch.extract.gs1 import parse_barcode
from shrinkwatch.extract.ledger import LoadResult, record_failure, reserve_load_id, utcnow, write_ledger_row
from shrinkwatch.extract.warehouse import ensure_schemas

logger = logging.getLogger(__name__)

TABLE_NAME = "gs1_barcodes"
TABLE = f"{RAW_SCHEMA}.{TABLE_NAME}"
LEDGER_SYSTEM = "mes"

# (raw table, barcode column): every place a source reports a scanned barcode
BARCODE_SOURCES: tuple[tuple[str, str], ...] = (
    ("mes_consumptions", "barcode"),
    ("mes_scrap", "barcode"),
    ("mes_line_returns", "barcode"),
    ("mes_outsourcing", "barcode"),
    ("wms_task", "scanned_barcode"),
)
COLUMNS = ("barcode", "is_valid", "gtin", "batch", "quantity", "error", "_load_id")


def _new_barcodes_sql() -> str:
    scans = "\n        union\n        ".join(
        f"select {column} as barcode from {RAW_SCHEMA}.{table}" for table, column in BARCODE_SOURCES
    )
    return f"""
    select s.barcode from (
        {scans}
    ) s
    where s.barcode is not null and btrim(s.barcode) <> ''
      and not exists (select 1 from {TABLE} g where g.barcode = s.barcode)"""


def parse_new_barcodes(
    warehouse_conninfo: str, *, chunk_rows: int = 50000, lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> LoadResult | None:
    """Parse and load every barcode not yet in `raw.gs1_barcodes`.

    Returns the load's ledger row, or None when there was nothing new (then
    nothing is written, no ledger row either).
    """
    started_at = utcnow()
    load_id: int | None = None
    rows_read = invalid = 0
    with psycopg.connect(warehouse_conninfo, autocommit=True, application_name=f"shrinkwatch load {TABLE}") as conn:
        ensure_schemas(conn)
        try:
            with locks.raw_write(conn, TABLE_NAME, timeout=lock_timeout):
                # The cursor's snapshot is taken when it opens, so rows COPYed
                # below never feed back into it.
                with conn.cursor(name="shrinkwatch_new_barcodes") as cursor:
                    cursor.execute(_new_barcodes_sql())
                    while chunk := cursor.fetchmany(chunk_rows):
                        if load_id is None:
                            load_id = reserve_load_id(conn)
                        parsed = [parse_barcode(barcode) for (barcode,) in chunk]
                        with conn.cursor().copy(f"copy {TABLE} ({', '.join(COLUMNS)}) from stdin") as copy:
                            for row in parsed:
                                copy.write_row((
                                    row.barcode, row.is_valid, row.gtin, row.batch, row.quantity,
                                    row.error, load_id,
                                ))
                        rows_read += len(parsed)
                        invalid += sum(not row.is_valid for row in parsed)
                if load_id is None:
                    return None
                result = LoadResult(
                    load_id=load_id, system=LEDGER_SYSTEM, table_name=TABLE_NAME, file_name=None,
                    status="loaded", rows_read=rows_read, rows_loaded=rows_read, rows_inserted=rows_read,
                    message=f"{invalid} not valid GS1 (is_valid false, see error)" if invalid else None,
                )
                write_ledger_row(conn, result, file_checksum=None, started_at=started_at, finished_at=utcnow())
            logger.info("gs1_barcodes: %s new barcodes parsed, %s not valid", rows_read, invalid)
            return result
        except BaseException as error:
            if load_id is not None:
                failed = LoadResult(
                    load_id=load_id, system=LEDGER_SYSTEM, table_name=TABLE_NAME, file_name=None,
                    status="failed", message=f"{type(error).__name__}: {error} (after parsing {rows_read})",
                )
                record_failure(warehouse_conninfo, failed, None, started_at)
            raise
