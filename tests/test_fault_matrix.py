"""The fault matrix (issue 11, "Loads that lose nothing"): every fault a plant
throws, injected for real, against the real extractors (a SQLite ERP, WMS
files in a landing directory, the demo MES server as its own process), a
PostgreSQL the test restarts, the publish swap, and the real extract DAG run
twice at once and rerun.

Each case asserts what a user would check:

- **nothing lost**: every source row, counted by the test from the source
  itself (the physical lines of the WMS export in force for its day, the rows
  of the SQLite ERP, the newest version of each item the MES server serves),
  is in raw or in quarantine with its reason, none of them twice; a run the
  fault breaks fails with a clear error and leaves raw as it was;
- **what the user sees**: the ledger status, quarantine rules or error the
  README's "Fault matrix" table names;
- **recovery**: once the fault is removed and the next run has run, raw is
  identical (load ids aside) to a run without the fault, in a second
  database, and no quarantined row is left open (the gate passes again).

One test function per fault family, one parameter per fault: `pytest -v` reads
as the matrix. The fixtures' records never span lines, so one physical line
is one record.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from helpers import location_map
from helpers.erp import create_db as create_erp_db
from helpers.erp import doc, insert
from helpers.marts import SHADOW, build_shadow, published_cases
from helpers.mes import T0, TOKEN, MesProcess, consumption, create_db, write_rows
from helpers.raw_rows import raw_content, table_content
from helpers.wms import ITEM_HEADER, TASK_HEADER, csv_bytes, task
from shrinkwatch import contracts, publish
from shrinkwatch.contracts import ERP_TABLES, MES_TABLES, WMS_TABLES
from shrinkwatch.demo.mes_server import read_page
from shrinkwatch.extract.erp import extract_erp
from shrinkwatch.extract.ledger import LoadsFailed, unconserved_loads
from shrinkwatch.extract.mes import extract_mes
from shrinkwatch.extract.validation import storable_text
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.extract.wms import extract_wms, parse_file_name
from shrinkwatch.postgres import EmbeddedPostgres, PgTarget, drop_database, ensure_database
from shrinkwatch.runtime import Runtime
from shrinkwatch.settings import BIN_DIR, Settings

# --- what the user sees, and the accounting every case shares ------------------------------


@dataclasses.dataclass(frozen=True)
class Sees:
    """A ledger row the fault leaves: its table (or WMS file), status, the
    rules its rows were quarantined under, and a regex its message matches."""

    name: str
    status: str
    rules: tuple[str, ...] = ()
    message: str = ""


def _query(conninfo: str, statement: str, params=()) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(statement, params).fetchall()


def _last_load_id(conninfo: str) -> int:
    return _query(conninfo, "select coalesce(max(load_id), 0) from ops.load_ledger")[0][0]


def assert_sees(conninfo: str, since_load: int, sees: Sees) -> None:
    """The first ledger row about `sees.name` written after `since_load` is what `sees` says."""
    rows = _query(
        conninfo,
        """select load_id, status, coalesce(message, '') from ops.load_ledger
           where load_id > %s and (table_name = %s or file_name = %s) order by load_id limit 1""",
        (since_load, sees.name, sees.name),
    )
    assert rows, f"no ledger row for {sees.name}"
    load_id, status, message = rows[0]
    rules = tuple(r for (r,) in _query(
        conninfo, "select distinct rule from ops.quarantine where load_id = %s order by 1", (load_id,)))
    assert (status, rules) == (sees.status, sees.rules), message
    assert re.search(sees.message, message), message


def _raw_refs(conn: psycopg.Connection, table: contracts.SourceTable) -> Counter:
    """Each raw row as the loader names a source record: `file:line` for a WMS
    export, `key=value/…` for the others."""
    if table.strategy == "file":
        ref = "_source_file || ':' || _line_no"
    else:
        ref = "concat_ws('/', " + ", ".join(f"'{k}=' || {k}" for k in table.key) + ")"
    return Counter(r for (r,) in conn.execute(f"select {ref} from raw.{table.name}"))


def _quarantined_refs(conn: psycopg.Connection, table: contracts.SourceTable) -> set[str]:
    """The source records quarantined with a reason; `file:first-last` names a
    record over several physical lines."""
    refs = set()
    for ref, reason in conn.execute(f"select source_ref, reason from quarantine.{table.name}"):
        if not reason:
            continue
        span = re.fullmatch(r"(?P<file>.+):(?P<first>\d+)-(?P<last>\d+)", ref or "")
        if span:
            refs |= {f"{span['file']}:{n}" for n in range(int(span["first"]), int(span["last"]) + 1)}
        else:
            refs.add(ref)
    return refs


def assert_nothing_lost(conninfo: str, source: dict[str, set[str]]) -> None:
    """Every source record (table -> refs, counted from the source) is in raw
    or in quarantine with its reason, and no raw row is there twice."""
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []
        for name, records in source.items():
            table = contracts.BY_NAME[name]
            in_raw = _raw_refs(conn, table)
            assert not {ref: n for ref, n in in_raw.items() if n > 1}, f"raw.{name}: rows loaded twice"
            quarantined = _quarantined_refs(conn, table)
            # a refused key is kept in quarantine as text PostgreSQL can hold (a NUL spelled \x00)
            lost = {r for r in records - set(in_raw) if storable_text(r) not in quarantined}
            assert not lost, f"{name}: neither in raw nor in quarantine: {sorted(lost)}"


def open_quarantine(conninfo: str) -> list[str]:
    return [rule for (rule,) in _query(
        conninfo, "select rule from ops.quarantine where resolved_at is null order by 1")]


def assert_recovered(faulty: str, control: str, system: str, left_open: tuple[str, ...] = ()) -> None:
    """Raw as a run without the fault left it, and no quarantined row open but
    those a person must release."""
    assert raw_content(faulty, system) == raw_content(control, system)
    assert open_quarantine(faulty) == sorted(left_open)


@pytest.fixture(scope="module")
def _two_databases(pg_server: PgTarget) -> Iterator[tuple[PgTarget, PgTarget]]:
    names = [f"faults_{role}_{uuid.uuid4().hex[:6]}" for role in ("faulty", "control")]
    for dbname in names:
        ensure_database(pg_server, dbname)
    yield tuple(pg_server.with_db(dbname) for dbname in names)
    for dbname in names:
        drop_database(pg_server, dbname)


@pytest.fixture
def databases(_two_databases) -> tuple[str, str]:
    """(faulty, control): the warehouse the fault hits, and one the same source
    is loaded into without the fault. Both emptied first, their tables kept:
    far faster than a database per case (whose drop forces a checkpoint) or
    new schemas (whose DDL is most of a small extract's time)."""
    for target in _two_databases:
        _empty(target.conninfo())
    return tuple(target.conninfo() for target in _two_databases)


def _empty(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        ensure_schemas(conn)
        for schema, table in conn.execute(
                "select schemaname, tablename from pg_tables where schemaname = any(%s)",
                ([contracts.RAW_SCHEMA, contracts.QUARANTINE_SCHEMA, contracts.OPS_SCHEMA],)).fetchall():
            conn.execute(f'delete from "{schema}"."{table}"')


# --- WMS: files in a landing directory ------------------------------------------------------

D1, D2 = "20260412", "20260413"


def name(day: str, seq: int | None = None, entity: str = "task") -> str:
    return f"wms_{entity}_{day}{'' if seq is None else f'_{seq}'}.csv"


EXPORT = csv_bytes(TASK_HEADER, [task("T1"), task("T2"), task("T3")])
RE_EXPORT = csv_bytes(TASK_HEADER, [task("T1"), task("T2", qty="5"), task("T4")])  # the day again, corrected
NEXT_DAY = csv_bytes(TASK_HEADER, [task("T5"), task("T6")])
SECOND_BATCH = csv_bytes(TASK_HEADER, [task("T7"), task("T8")])
BOM = "\ufeff".encode()


def _reversed_columns(data: bytes) -> bytes:
    lines = data.decode().split("\r\n")
    return "\r\n".join(",".join(reversed(line.split(","))) if line else line for line in lines).encode()


ITEM_LINE = "SKU-10001234,10001234,06901234567892,{},BAG,25,KG,12x100mm SS304"
# "Café crème" in Windows-1252: 0xE9 and 0xE8 before a blank, which neither UTF-8 nor GB18030 decodes
ITEM_CP1252 = csv_bytes(ITEM_HEADER, [ITEM_LINE.format("Café crème")], encoding="cp1252")
ITEM_UTF8 = csv_bytes(ITEM_HEADER, [ITEM_LINE.format("Café crème")])


@dataclasses.dataclass(frozen=True)
class WmsFault:
    """`steps`: the files the WMS drops before each run (a name again is the
    same file re-delivered); `sees`: the ledger row of the file the fault is
    in, the first time it lands; `control`: the same source without the fault."""

    steps: tuple[dict[str, bytes], ...]
    sees: Sees
    control: dict[str, bytes]


WMS_FAULTS = [
    pytest.param(WmsFault(
        steps=({name(D2): NEXT_DAY}, {name(D1): EXPORT}),
        sees=Sees(name(D1), "loaded"),
        control={name(D1): EXPORT, name(D2): NEXT_DAY},
    ), id="file_late"),
    pytest.param(WmsFault(
        steps=({name(D1, 2): RE_EXPORT}, {name(D1, 1): EXPORT}),
        sees=Sees(name(D1, 1), "skipped_superseded", message="a later export of the day"),
        control={name(D1, 1): EXPORT, name(D1, 2): RE_EXPORT},
    ), id="earlier_seq_late"),
    pytest.param(WmsFault(
        # the same name again (passed over), then the same bytes as the next seq
        steps=({name(D1): EXPORT}, {name(D1): EXPORT, name(D1, 1): EXPORT}),
        sees=Sees(name(D1, 1), "skipped_duplicate", message="same content as"),
        control={name(D1): EXPORT},
    ), id="sent_twice"),
    pytest.param(WmsFault(
        steps=({name(D1): EXPORT}, {name(D1, 2): RE_EXPORT}),
        sees=Sees(name(D1, 2), "loaded"),
        control={name(D1): EXPORT, name(D1, 2): RE_EXPORT},
    ), id="replaced_by_seq_2"),
    pytest.param(WmsFault(
        # caught while the WMS was still writing it, then delivered whole
        steps=({name(D1): EXPORT}, {name(D1, 2): b""}, {name(D1, 2): RE_EXPORT}),
        sees=Sees(name(D1, 2), "refused_empty", message="3 rows of the day's earlier exports were kept"),
        control={name(D1): EXPORT, name(D1, 2): RE_EXPORT},
    ), id="empty_0_bytes"),
    pytest.param(WmsFault(
        steps=({name(D1): EXPORT}, {name(D1, 2): csv_bytes(TASK_HEADER, [])}, {name(D1, 2): RE_EXPORT}),
        sees=Sees(name(D1, 2), "refused_empty", message="3 rows of the day's earlier exports were kept"),
        control={name(D1): EXPORT, name(D1, 2): RE_EXPORT},
    ), id="header_only"),
    pytest.param(WmsFault(
        steps=({name(D1): EXPORT}, {name(D1, 2): RE_EXPORT[:-60]}, {name(D1, 2): RE_EXPORT}),
        sees=Sees(name(D1, 2), "loaded", ("column_count",)),
        control={name(D1): EXPORT, name(D1, 2): RE_EXPORT},
    ), id="truncated_mid_line"),
    pytest.param(WmsFault(
        steps=({name(D1): EXPORT.replace(b",SKU-10001234,", b',"SKU-10001234,', 2)}, {name(D1): EXPORT}),
        sees=Sees(name(D1), "loaded", ("unbalanced_quote",)),
        control={name(D1): EXPORT},
    ), id="unmatched_quote"),
    pytest.param(WmsFault(
        steps=({name(D1): EXPORT.replace(b"LOT-B2604120A7", b"LOT-B26\x0004120A7", 1)}, {name(D1): EXPORT}),
        sees=Sees(name(D1), "loaded", ("type:text",)),
        control={name(D1): EXPORT},
    ), id="nul_byte"),
    pytest.param(WmsFault(
        # a writer that starts each appended batch with a byte-order mark
        steps=({name(D1): EXPORT.replace(b"\r\nT2,", b"\r\n" + BOM + b"T2,")},),
        sees=Sees(name(D1), "loaded"),
        control={name(D1): EXPORT},
    ), id="mid_file_bom"),
    pytest.param(WmsFault(
        steps=({name(D1): _reversed_columns(EXPORT)},),
        sees=Sees(name(D1), "loaded"),
        control={name(D1): EXPORT},
    ), id="columns_reordered"),
    pytest.param(WmsFault(
        # two exports with byte-order marks concatenated: the second header is read as a record
        steps=({name(D1): BOM + EXPORT + BOM + SECOND_BATCH},
               {name(D1): EXPORT + SECOND_BATCH.split(b"\r\n", 1)[1]}),
        sees=Sees(name(D1), "loaded", ("type:numeric",)),
        control={name(D1): EXPORT + SECOND_BATCH.split(b"\r\n", 1)[1]},
    ), id="header_line_twice"),
    pytest.param(WmsFault(
        steps=({name(D1): csv_bytes(TASK_HEADER + ",qty", [task(t) + ",2" for t in ("T1", "T2", "T3")])},),
        sees=Sees(name(D1), "loaded", message="named twice in the header, the first of each read: qty"),
        control={name(D1): EXPORT},
    ), id="column_named_twice"),
    pytest.param(WmsFault(
        steps=({name(D1, entity="item"): ITEM_CP1252}, {name(D1, entity="item"): ITEM_UTF8}),
        sees=Sees(name(D1, entity="item"), "loaded", ("encoding",)),
        control={name(D1, entity="item"): ITEM_UTF8},
    ), id="cp1252_bytes"),
]


def _data_lines(data: bytes) -> list[int]:
    """The physical lines (header = 1) of an export that hold a record."""
    return [n for n, line in enumerate(data.splitlines(), start=1) if n > 1 and line.strip()]


def wms_source(landing: Path) -> dict[str, set[str]]:
    """table -> `file:line` of every record of the export in force for each
    entity and day: the latest one with a record, unless its bytes are those
    of the export before it (counted from the files, not from the ledger)."""
    in_force: dict[tuple[str, str], Path] = {}
    files = []
    for path in landing.glob("*.csv"):
        entity, day, seq = parse_file_name(path.name)
        files.append((day, seq, path.name, entity, path))
    for day, _, _, entity, path in sorted(files):
        current = in_force.get((entity, day))
        data = path.read_bytes()
        if current and (not _data_lines(data) or data == current.read_bytes()):
            continue
        in_force[(entity, day)] = path
    source: dict[str, set[str]] = {t.name: set() for t in WMS_TABLES}
    for (entity, _), path in in_force.items():
        table = contracts.wms_table_for_entity(entity)
        source[table.name] |= {f"{path.name}:{n}" for n in _data_lines(path.read_bytes())}
    return source


def deliver(landing: Path, files: dict[str, bytes]) -> None:
    for file_name, data in files.items():
        (landing / file_name).write_bytes(data)


@pytest.mark.parametrize("fault", WMS_FAULTS)
def test_wms_fault(fault: WmsFault, databases: tuple[str, str], tmp_path: Path):
    faulty, control = databases
    landing = tmp_path / "landing"
    landing.mkdir()
    for files in fault.steps:
        since = _last_load_id(faulty)
        first_landing = fault.sees.name in files and not (landing / fault.sees.name).exists()
        deliver(landing, files)
        extract_wms(faulty, landing)
        assert_nothing_lost(faulty, wms_source(landing))
        if first_landing:
            assert_sees(faulty, since, fault.sees)
    extract_wms(faulty, landing)  # the next run: nothing new
    assert_nothing_lost(faulty, wms_source(landing))

    clean = tmp_path / "clean"
    clean.mkdir()
    deliver(clean, fault.control)
    extract_wms(control, clean)
    assert_recovered(faulty, control, "wms")


# --- ERP: a SQLite database -----------------------------------------------------------------

# The ERP faults are in the document lines (incremental) and the users (read whole).
ERP_FAULT_TABLES = ("erp_material_doc", "erp_user")
DOCS = [doc("4900000001", "2026-04-10", "08:00:00"), doc("4900000001", "2026-04-10", "08:00:00", zeile=2),
        doc("4900000002", "2026-04-12", "14:00:00", menge="7.5")]
USERS = [{"usnam": "LI.WEI", "name": "李伟"}, {"usnam": "ZHANG.M"}]
LATE_INSIDE = doc("4900000003", "2026-04-12", "09:15:00")  # entered 5 h before the watermark
LATE_BEYOND = doc("4900000004", "2026-04-01", "09:15:00")  # entered 11 days before it
DECIMAL_COMMA = [doc("4900000005", "2026-04-13", "08:00:00", menge="12,500"),
                 doc("4900000006", "2026-04-13", "09:00:00", menge="3,250")]
COLUMN_ADDED_DOC = doc("4900000007", "2026-04-13", "10:00:00")
NUL_TEXT_DOC = doc("4900000008", "2026-04-13", "11:00:00") | {"sgtxt": "Charge\x00 12"}


def _erp_base(db: Path) -> None:
    insert(db, "erp_material_doc", DOCS)
    insert(db, "erp_user", USERS)


def _sqlite(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            conn.execute(statement)


def _column_added(db: Path) -> None:
    _sqlite(db, "alter table erp_material_doc add column xblnr")
    insert(db, "erp_material_doc", [COLUMN_ADDED_DOC | {"xblnr": "DN80001234"}])


@dataclasses.dataclass(frozen=True)
class ErpFault:
    """`steps`: what the ERP commits before each run, after a first run has
    loaded the base plant; `sees`: the ledger row the first step leaves;
    `control`: what the same ERP without the fault holds besides the base;
    `left_open`: quarantine rules no corrected row can resolve (a person releases them)."""

    steps: tuple[Callable[[Path], None], ...]
    sees: Sees
    control: Callable[[Path], None] = lambda db: None
    left_open: tuple[str, ...] = ()


ERP_FAULTS = [
    pytest.param(ErpFault(
        steps=(lambda db: insert(db, "erp_material_doc", [LATE_INSIDE]),),
        sees=Sees("erp_material_doc", "loaded"),
        control=lambda db: insert(db, "erp_material_doc", [LATE_INSIDE]),
    ), id="late_commit_inside_the_lookback"),
    pytest.param(ErpFault(
        steps=(lambda db: insert(db, "erp_material_doc", [LATE_BEYOND]),),
        sees=Sees("erp_material_doc", "loaded",
                  message="entry days read again, the ERP holding documents raw lacks: 2026-04-01"),
        control=lambda db: insert(db, "erp_material_doc", [LATE_BEYOND]),
    ), id="late_commit_beyond_the_lookback"),
    pytest.param(ErpFault(
        steps=(_column_added,),
        sees=Sees("erp_material_doc", "loaded"),
        control=lambda db: insert(db, "erp_material_doc", [COLUMN_ADDED_DOC]),
    ), id="column_added"),
    pytest.param(ErpFault(
        # the ERP starts writing decimal commas, then its interface is fixed (within the lookback)
        steps=(lambda db: insert(db, "erp_material_doc", DECIMAL_COMMA),
               lambda db: _sqlite(db, "update erp_material_doc set menge = replace(menge, ',', '.')")),
        sees=Sees("erp_material_doc", "loaded", ("type:numeric",)),
        control=lambda db: insert(db, "erp_material_doc",
                                  [d | {"menge": d["menge"].replace(",", ".")} for d in DECIMAL_COMMA]),
    ), id="type_changed"),
    pytest.param(ErpFault(
        # a replica caught mid-refresh, refreshed by the next run
        steps=(lambda db: _sqlite(db, "delete from erp_user"), lambda db: insert(db, "erp_user", USERS)),
        sees=Sees("erp_user", "refused_empty", message="holds 2 rows, so the previous snapshot was kept"),
    ), id="empty_full_table_read"),
    pytest.param(ErpFault(
        # the document is corrected in place, which resolves its quarantined row
        steps=(lambda db: insert(db, "erp_material_doc", [NUL_TEXT_DOC]),
               lambda db: _sqlite(db, "update erp_material_doc set sgtxt = 'Charge 12' where mblnr = '4900000008'")),
        sees=Sees("erp_material_doc", "loaded", ("type:text",)),
        control=lambda db: insert(db, "erp_material_doc", [NUL_TEXT_DOC | {"sgtxt": "Charge 12"}]),
    ), id="nul_in_a_value"),
    pytest.param(ErpFault(
        # no corrected row has this key: its quarantined row waits for a person to release it
        steps=(lambda db: insert(db, "erp_material_doc", [NUL_TEXT_DOC | {"mblnr": "49000\x0009", "sgtxt": None}]),),
        sees=Sees("erp_material_doc", "loaded", ("type:text",)),
        left_open=("type:text",),
    ), id="nul_in_a_key"),
]


def erp_records(db: Path) -> dict[str, set[str]]:
    """table -> `key=value/…` of every row of the SQLite ERP."""
    records = {}
    with sqlite3.connect(db) as conn:
        for table in ERP_TABLES:
            rows = conn.execute(f"select {', '.join(table.key)} from {table.source_name}").fetchall()
            records[table.name] = {"/".join(f"{k}={v}" for k, v in zip(table.key, row, strict=True))
                                   for row in rows}
    return records


@pytest.mark.parametrize("fault", ERP_FAULTS)
def test_erp_fault(fault: ErpFault, databases: tuple[str, str], erp_source: Path, tmp_path: Path):
    (faulty, control), erp_url = databases, f"sqlite:///{erp_source}"
    _erp_base(erp_source)
    extract_erp(faulty, erp_url, tables=ERP_FAULT_TABLES)
    for step_no, change in enumerate(fault.steps):
        since = _last_load_id(faulty)
        change(erp_source)
        extract_erp(faulty, erp_url, tables=ERP_FAULT_TABLES)
        assert_nothing_lost(faulty, erp_records(erp_source))
        if step_no == 0:
            assert_sees(faulty, since, fault.sees)
    extract_erp(faulty, erp_url, tables=ERP_FAULT_TABLES)  # the next run
    assert_nothing_lost(faulty, erp_records(erp_source))

    clean = create_erp_db(tmp_path / "clean.sqlite")
    _erp_base(clean)
    fault.control(clean)
    extract_erp(control, f"sqlite:///{clean}", tables=ERP_FAULT_TABLES)
    assert_recovered(faulty, control, "erp", fault.left_open)


# --- MES: the demo MES server, as its own process -------------------------------------------

PAGE_SIZE, MAX_RETRIES = 3, 2  # a few pages per resource, a small retry budget


def _mes_base(db: Path) -> None:
    # pairs of items share an updated_at, so pages split inside one timestamp
    write_rows(db, "mes_consumptions", [consumption(n, T0 + 1000 * (n // 2)) for n in range(10)])
    write_rows(db, "mes_work_orders", [{
        "order_no": "1000123", "material": "06901234567892", "planned_qty": 500, "uom": "kg",
        "line": "L1", "work_center": "WC01", "status": "RUNNING", "released_at": T0,
        "closed_at": None, "updated_at": T0,
    }])


def _add_items(*items: dict) -> Callable[[Path], None]:
    return lambda db: write_rows(db, "mes_consumptions", list(items))


@dataclasses.dataclass(frozen=True)
class MesStep:
    """One run: the server's knobs for it (None: the server is down; the same
    knobs as the step before keep the same process, whose request count goes
    on), what the MES commits before it, and the error its run fails with (LoadsFailed names it)."""

    server: tuple[str, ...] | None = ()
    change: Callable[[Path], None] = lambda db: None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class MesFault:
    """`steps` on the base MES; `sees`: the ledger row step `sees_step` leaves;
    `change_log`: the MES serves every version of an item, not only its newest."""

    steps: tuple[MesStep, ...]
    sees: Sees
    sees_step: int = 0
    change_log: bool = False
    left_open: tuple[str, ...] = ()


BURST_429 = ("--burst", "2:4:429")  # requests 2-5 of the server's life
BURST_503 = ("--burst", "3:4:503")
NUL_OPERATOR = consumption(10, T0 + 5000) | {"operator_id": "op\x007"}
MES_FAULTS = [
    pytest.param(MesFault(
        # request 1 (work orders) is served, 2-5 are not; the next run's first try meets the last of them
        steps=(MesStep(BURST_429, error="HTTP 429 still after 2 retries"), MesStep(BURST_429)),
        sees=Sees("mes_consumptions", "failed", message="HTTP 429 still after 2 retries"),
    ), id="429_burst_beyond_the_retry_budget"),
    pytest.param(MesFault(
        # the first page of consumptions is read, then the server fails mid-read
        steps=(MesStep(BURST_503, error="HTTP 503 still after 2 retries"), MesStep(BURST_503)),
        sees=Sees("mes_consumptions", "failed", message="HTTP 503 still after 2 retries"),
    ), id="5xx_burst_beyond_the_retry_budget"),
    pytest.param(MesFault(
        steps=(MesStep(None, error="request failed after up to 2 retries"), MesStep()),
        sees=Sees("mes_work_orders", "failed", message="request failed after up to 2 retries"),
    ), id="down_for_a_whole_run"),
    pytest.param(MesFault(
        steps=(MesStep(("--loop-cursor",), error="cursor"), MesStep()),
        sees=Sees("mes_consumptions", "failed", message="cursor .* came back"),
    ), id="cursor_loops", marks=pytest.mark.timeout(120)),
    pytest.param(MesFault(
        steps=(MesStep(), MesStep(change=_add_items(consumption(4, T0 + 60_000, qty="0.5"),
                                                    consumption(4, T0 + 120_000, qty="0.25")))),
        sees=Sees("mes_consumptions", "loaded", message="2 older versions superseded within this read"),
        sees_step=1, change_log=True,
    ), id="item_corrected_twice"),
    pytest.param(MesFault(
        # a lagging node commits an item stamped before the watermark (T0 + 4000)
        steps=(MesStep(), MesStep(change=_add_items(consumption(99, T0 + 3000)))),
        sees=Sees("mes_consumptions", "loaded"), sees_step=1,
    ), id="late_committed_item"),
    pytest.param(MesFault(
        steps=(MesStep(change=_add_items(NUL_OPERATOR)),
               MesStep(change=_add_items(NUL_OPERATOR | {"operator_id": "op7", "updated_at": T0 + 6000}))),
        sees=Sees("mes_consumptions", "loaded", ("type:text",)),
    ), id="nul_in_a_value"),
    pytest.param(MesFault(
        # no corrected item has this id: its quarantined row waits for a person to release it
        steps=(MesStep(change=_add_items(consumption(11, T0 + 5000) | {"event_id": "C\x000011"})),),
        sees=Sees("mes_consumptions", "loaded", ("type:text",)), left_open=("type:text",),
    ), id="nul_in_a_key"),
]


def mes_items(db: Path) -> dict[str, dict[str, int]]:
    """table -> id -> newest updated_at of every item the MES server serves
    (its own paging, without faults)."""
    items: dict[str, dict[str, int]] = {}
    for table in MES_TABLES:
        newest = items.setdefault(table.name, {})
        query = {"updated_since": ["0"], "limit": ["1000"]}
        while True:
            page = read_page(db, table.source_name, query)
            for item in page["items"]:
                key = item[table.key[0]]
                newest[key] = max(newest.get(key, item["updated_at"]), item["updated_at"])
            if not page["next_cursor"]:
                break
            query = {**query, "cursor": [page["next_cursor"]]}
    return items


def assert_mes_nothing_lost(conninfo: str, db: Path) -> None:
    items = mes_items(db)
    assert_nothing_lost(conninfo, {
        table: {f"{contracts.BY_NAME[table].key[0]}={key}" for key in newest} for table, newest in items.items()
    })
    for table, newest in items.items():
        key = contracts.BY_NAME[table].key[0]
        in_raw = dict(_query(conninfo, f"select {key}, updated_at from raw.{table}"))
        assert in_raw == {k: v for k, v in newest.items() if k in in_raw}, f"raw.{table}: not the newest versions"


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _extract_mes(conninfo: str, url: str) -> None:
    extract_mes(conninfo, url, TOKEN, page_size=PAGE_SIZE, max_retries=MAX_RETRIES)


@pytest.mark.parametrize("fault", MES_FAULTS)
def test_mes_fault(fault: MesFault, databases: tuple[str, str], tmp_path: Path):
    faulty, control = databases
    db = create_db(tmp_path / "mes.sqlite", keyed=not fault.change_log)
    _mes_base(db)
    server, knobs = None, None
    try:
        for step_no, step in enumerate(fault.steps):
            if server is None or step.server != knobs:
                if server:
                    server.stop()
                server = MesProcess(db, *step.server) if step.server is not None else None
                knobs = step.server
            step.change(db)
            since = _last_load_id(faulty)
            url = server.base_url if server else _closed_port_url()
            if step.error:
                before = raw_content(faulty, "mes")
                # the MES run ends at the failure and names it (LoadsFailed)
                with pytest.raises(LoadsFailed, match=step.error):
                    _extract_mes(faulty, url)
                ((failed,),) = _query(faulty, "select table_name from ops.load_ledger where load_id > %s "
                                              "and status = 'failed'", (since,))
                assert raw_content(faulty, "mes")[failed] == before[failed], "a failed load left rows behind"
            else:
                _extract_mes(faulty, url)
                assert_mes_nothing_lost(faulty, db)
            if step_no == fault.sees_step:
                assert_sees(faulty, since, fault.sees)
        if knobs != ():  # the fault removed: the next run, then a run without it
            if server:
                server.stop()
            server = MesProcess(db)
        _extract_mes(faulty, server.base_url)
        assert_mes_nothing_lost(faulty, db)
        _extract_mes(control, server.base_url)
        assert_recovered(faulty, control, "mes", fault.left_open)
    finally:
        if server:
            server.stop()


# --- the warehouse: PostgreSQL restarted, a BI session across the publish swap --------------


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[EmbeddedPostgres, PgTarget]]:
    """A PostgreSQL of this module's own, on its own data directory: the tests
    restart it (stop by its pid, start again) without touching the session's server."""
    home = Path(tempfile.mkdtemp(prefix="sw-faults-", dir="/tmp"))
    home.chmod(0o755)  # the server's own system user must reach its data directory
    server = EmbeddedPostgres(home)
    target = server.start()
    yield server, target
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


def _databases(server: PgTarget, *names: str) -> list[str]:
    conninfos = []
    for dbname in names:
        ensure_database(server, dbname)
        conninfos.append(server.with_db(dbname).conninfo())
    return conninfos


def _wait_for(conninfo: str, statement: str, params=(), timeout: float = 60) -> None:
    """Until `statement` answers true: the fault's moment has come."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while not conn.execute(statement, params).fetchone()[0]:
            assert time.monotonic() < deadline, f"timed out waiting for: {statement}"
            time.sleep(0.02)


class Background(threading.Thread):
    """A call on its own thread, keeping what it raised."""

    def __init__(self, call: Callable[[], object]):
        super().__init__(daemon=True)
        self.call, self.error = call, None

    def run(self) -> None:
        try:
            self.call()
        except Exception as error:  # noqa: BLE001 - the test asserts on it
            self.error = error


MARTS_TABLES = ["fct_case"]
WAITING_FOR_A_LOCK = "select exists (select from pg_locks l join pg_database d on d.oid = l.database " \
                     "where not l.granted and d.datname = %s)"


def _restarted_during_a_load(server: EmbeddedPostgres, target: PgTarget, tmp_path: Path) -> None:
    faulty, control = _databases(target, "restart_load", "restart_load_control")
    db = create_db(tmp_path / "mes.sqlite")
    _mes_base(db)
    slow, mes = MesProcess(db, "--delay", "0.3"), None
    try:
        load = Background(lambda: _extract_mes(faulty, slow.base_url))
        load.start()
        # the first load has staged its batch and waits for the MES: stop the server under it
        _wait_for(target.with_db("postgres").conninfo(),
                  "select exists (select from pg_stat_activity where datname = %s "
                  "and state = 'idle in transaction' and query like '%%_extract_batch%%')", ("restart_load",))
        server.stop()
        load.join(60)
        server.start()
        assert isinstance(load.error, LoadsFailed), load.error
        assert all(isinstance(error, psycopg.OperationalError) for _, error in load.error.failures), load.error
        assert not any(raw_content(faulty, "mes").values()), "a load cut off half-way left rows behind"
        mes = MesProcess(db)
        _extract_mes(faulty, mes.base_url)  # the next run
        assert_mes_nothing_lost(faulty, db)
        _extract_mes(control, mes.base_url)
        assert_recovered(faulty, control, "mes")
    finally:
        for process in (slow, mes):
            if process:
                process.stop()


def _marts_before_a_swap(target: PgTarget, dbname: str) -> tuple[str, str]:
    """Two databases serving marts c1, c2 with c3 in the shadow; the control's
    shadow is then published without a fault."""
    faulty, control = _databases(target, dbname, f"{dbname}_control")
    for conninfo in (faulty, control):
        build_shadow(conninfo, ["c1", "c2"])
        publish.swap_in_shadow(conninfo)
        build_shadow(conninfo, ["c3"])
    publish.swap_in_shadow(control)
    return faulty, control


def _restarted_during_the_publish(server: EmbeddedPostgres, target: PgTarget, tmp_path: Path) -> None:
    faulty, control = _marts_before_a_swap(target, "restart_publish")
    bi = psycopg.connect(faulty, application_name="bi-dashboard")
    bi.execute("select count(*) from marts.fct_case").fetchone()  # holds the marts open
    swap = Background(lambda: publish.swap_in_shadow(faulty, lock_timeout=timedelta(seconds=60), attempts=1))
    swap.start()
    _wait_for(target.with_db("postgres").conninfo(), WAITING_FOR_A_LOCK, ("restart_publish",))
    server.stop()  # the swap has renamed the schemas and waits to drop the previous marts
    swap.join(60)
    bi.close()
    server.start()
    assert isinstance(swap.error, psycopg.OperationalError), swap.error
    assert published_cases(faulty) == ["c1", "c2"], "the previous marts are still served"
    assert published_cases(faulty, SHADOW) == ["c3"], "the shadow waits for the next publish"
    publish.swap_in_shadow(faulty)  # the next run's publish
    assert table_content(faulty, "marts", MARTS_TABLES) == table_content(control, "marts", MARTS_TABLES)


def _bi_session_across_the_swap(server: EmbeddedPostgres, target: PgTarget, tmp_path: Path) -> None:
    """The session keeps reading the marts it started with, the swap waits for
    it (within one lock timeout), and its next transaction reads the new marts."""
    faulty, control = _marts_before_a_swap(target, "bi_reader")
    with psycopg.connect(faulty, application_name="bi-dashboard") as bi:
        bi.execute("set transaction isolation level repeatable read")
        cases = "select case_id from marts.fct_case order by 1"
        assert bi.execute(cases).fetchall() == [("c1",), ("c2",)]
        started = time.monotonic()
        swap = Background(lambda: publish.swap_in_shadow(faulty))
        swap.start()
        _wait_for(faulty, WAITING_FOR_A_LOCK, ("bi_reader",))
        assert bi.execute(cases).fetchall() == [("c1",), ("c2",)]
        bi.commit()  # the dashboard's transaction ends
        swap.join(60)
        assert swap.error is None and time.monotonic() - started < publish.SWAP_LOCK_TIMEOUT.total_seconds()
        assert bi.execute(cases).fetchall() == [("c3",)]
    assert table_content(faulty, "marts", MARTS_TABLES) == table_content(control, "marts", MARTS_TABLES)


WAREHOUSE_FAULTS = [
    pytest.param(_restarted_during_a_load, id="postgres_restarted_during_a_load"),
    pytest.param(_restarted_during_the_publish, id="postgres_restarted_during_the_publish"),
    pytest.param(_bi_session_across_the_swap, id="bi_session_across_the_swap"),
]


@pytest.mark.parametrize("fault", WAREHOUSE_FAULTS)
def test_warehouse_fault(fault, own_server, tmp_path: Path):
    fault(*own_server, tmp_path)


# --- runs: the real extract DAG, rerun and run twice at once --------------------------------

BIG_EXPORT = csv_bytes(TASK_HEADER, [task(f"B{n:05d}") for n in range(20_000)])


@dataclasses.dataclass
class DagRunsCase:
    landing: Path
    faulty: str
    control: str
    outputs: list[str] = dataclasses.field(default_factory=list)
    returncodes: list[int] = dataclasses.field(default_factory=list)
    landing_ledger_rows: list[int] = dataclasses.field(default_factory=list)  # after each DAG run


def _process_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """The environment of an Airflow process of this module. Where the session
    writes no byte code (PYTHONDONTWRITEBYTECODE), every such process would
    compile Airflow again (~8 s of CPU each): they share a cache of their own
    in `home` instead, and nothing is written into the venv."""
    full = {**os.environ, **env, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
    if full.pop("PYTHONDONTWRITEBYTECODE", None):
        full["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return full


def _dags_test(env: dict[str, str], *logical_date: str) -> subprocess.Popen:
    """`airflow dags test extract_wms [date]`: a DAG run started by hand, which
    (like the CLI) ignores max_active_runs, as the scheduler would not."""
    return subprocess.Popen(
        [str(BIN_DIR / "airflow"), "dags", "test", "extract_wms", *logical_date],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _landing_ledger_rows(conninfo: str) -> int:
    return _query(conninfo, "select count(*) from ops.load_ledger where file_name like 'wms\\_%%'")[0][0]


def _lock_waiters(conninfo: str, dbname: str) -> int:
    return _query(conninfo, "select count(distinct l.pid) from pg_locks l join pg_database d on d.oid = l.database "
                            "where not l.granted and d.datname = %s", (dbname,))[0][0]


class ExtractDagRuns(threading.Thread):
    """The WMS extract DAG run for real (`airflow dags test`, its metadata on
    the session's server), on a thread of its own so that its Airflow
    processes overlap the cases above, which mostly wait on PostgreSQL.

    Rerun: one run of an interval, then the same interval again. Concurrency:
    two runs started together (the interval's and a manual one) on the same
    landing directory and warehouse. Both are held at their first step (the
    test keeps `ops.load_ledger` locked until both wait on it) and the export
    is large enough (20k rows) that the first is still staging it when the
    second decides what to load."""

    def __init__(self, server: PgTarget, home: Path):
        super().__init__(daemon=True)
        self.server, self.home, self.error = server, home, None
        self.databases = {f"{case}_{role}": f"dag_{case}_{role}_{uuid.uuid4().hex[:6]}"
                          for case in ("rerun", "concurrent") for role in ("faulty", "control")}
        self.metadata = f"airflow_{uuid.uuid4().hex[:8]}"
        self.cases: dict[str, DagRunsCase] = {}
        self.processes: list[subprocess.Popen] = []

    def _env(self, case: str, landing: Path) -> dict[str, str]:
        settings = dataclasses.replace(
            Settings.from_env(), home=self.home, wms_landing_dir=landing,
            location_map=location_map.write(landing.parent / "location_map.csv", [location_map.ZONE_ROW]),
        )
        warehouse = self.server.with_db(self.databases[f"{case}_faulty"])
        return _process_env(Runtime(settings).airflow_env(warehouse, "http://127.0.0.1:1") | {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.server.with_db(self.metadata).sqlalchemy_url("psycopg2"),
        }, self.home)

    def _start(self, env: dict[str, str], *logical_date: str) -> subprocess.Popen:
        self.processes.append(_dags_test(env, *logical_date))
        return self.processes[-1]

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # noqa: BLE001 - re-raised by the tests that read the runs
            self.error = error

    def _run(self) -> None:
        for dbname in (*self.databases.values(), self.metadata):
            ensure_database(self.server, dbname)
        envs = {}
        for case, files in (("rerun", {name(D1): EXPORT, name(D2): NEXT_DAY}),
                            ("concurrent", {name(D1): BIG_EXPORT, name(D2): NEXT_DAY})):
            landing = self.home / case / "landing"
            landing.mkdir(parents=True)
            deliver(landing, files)
            envs[case] = self._env(case, landing)
            self.cases[case] = DagRunsCase(
                landing, *(self.server.with_db(self.databases[f"{case}_{role}"]).conninfo()
                           for role in ("faulty", "control")))
        rerun, concurrent = self.cases["rerun"], self.cases["concurrent"]
        subprocess.run([str(BIN_DIR / "airflow"), "db", "migrate"], env=envs["rerun"],
                       check=True, capture_output=True, timeout=900)
        self._finish(rerun, self._start(envs["rerun"], "2026-04-12"))

        with psycopg.connect(concurrent.faulty, autocommit=True) as conn:
            ensure_schemas(conn)
        with psycopg.connect(concurrent.faulty) as barrier:
            barrier.execute("lock table ops.load_ledger in access exclusive mode")
            again = self._start(envs["rerun"], "2026-04-12")  # the finished interval, cleared and run again
            pair = [self._start(envs["concurrent"], "2026-04-13"), self._start(envs["concurrent"])]
            # both wait at their first step, whatever a fix makes them do next
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and all(p.poll() is None for p in pair) and _lock_waiters(
                    self.server.with_db("postgres").conninfo(), self.databases["concurrent_faulty"]) < 2:
                time.sleep(0.2)
            barrier.rollback()
        for process in pair:
            self._finish(concurrent, process)
        self._finish(rerun, again)
        for case in self.cases.values():
            extract_wms(case.control, case.landing)

    @staticmethod
    def _finish(case: DagRunsCase, process: subprocess.Popen) -> None:
        output, _ = process.communicate(timeout=900)
        case.outputs.append(output[-4000:])
        case.returncodes.append(process.returncode)
        case.landing_ledger_rows.append(_landing_ledger_rows(case.faulty))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()  # by its pid: only processes this thread started
                process.wait()
        self.join(60)
        for dbname in (*self.databases.values(), self.metadata):
            drop_database(self.server, dbname)


@pytest.fixture(scope="module", autouse=True)
def _extract_dag_runs(request, pg_server: PgTarget, tmp_path_factory) -> Iterator[ExtractDagRuns | None]:
    """Started with the module's first case, when the run faults are selected."""
    if not any(getattr(item, "originalname", None) == "test_run_fault" for item in request.session.items
               if item.module is request.module):
        yield None
        return
    runs = ExtractDagRuns(pg_server, tmp_path_factory.mktemp("airflow-home"))
    runs.start()
    yield runs
    runs.stop()


@pytest.fixture
def extract_dag_runs(_extract_dag_runs: ExtractDagRuns) -> dict[str, DagRunsCase]:
    _extract_dag_runs.join(1800)
    if _extract_dag_runs.error:
        raise _extract_dag_runs.error
    return _extract_dag_runs.cases


RUN_FAULTS = [
    pytest.param("rerun", id="rerun_of_a_finished_interval"),
    pytest.param("concurrent", id="two_concurrent_runs"),
]


# Not marked `airflow`: that mark sorts a test before the rest of the suite, and these
# must come after this module's other cases, which the DAG runs overlap.
@pytest.mark.parametrize("fault", RUN_FAULTS)
def test_run_fault(fault: str, extract_dag_runs: dict[str, DagRunsCase]):
    case = extract_dag_runs[fault]
    assert case.returncodes == [0, 0], "\n".join(case.outputs)
    assert_nothing_lost(case.faulty, wms_source(case.landing))
    loads = _query(case.faulty, "select file_name, count(*) from ops.load_ledger where status = 'loaded' "
                                "and table_name = 'wms_task' group by 1 order by 1")
    assert loads == [(name(D1), 1), (name(D2), 1)], "each file is loaded once"
    if fault == "rerun":
        first, rerun = case.landing_ledger_rows
        assert rerun == first, "the rerun passed over the files already decided on, without a ledger row"
    assert_recovered(case.faulty, case.control, "wms")
