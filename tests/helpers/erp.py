"""ERP source rows, written into a test's SQLite ERP database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shrinkwatch.contracts import ERP_TABLES

DOC_COLUMNS = [c.name for c in ERP_TABLES[2].columns]


def doc(mblnr: str, cpudt: str, cputm: str, menge: str = "10.000", zeile: int = 1) -> dict:
    row = dict.fromkeys(DOC_COLUMNS)
    row |= {
        "mblnr": mblnr, "mjahr": 2026, "zeile": zeile, "bwart": "261", "shkzg": "H",
        "matnr": "000000000010001234", "werks": "1000", "lgort": "0001", "charg": "B2604120A7",
        "menge": menge, "meins": "KG", "budat": cpudt, "cpudt": cpudt, "cputm": cputm,
        "usnam": "LI.WEI", "dmbtr": "12.50",
    }
    return row


def insert(db: Path, table: str, rows: list[dict]) -> None:
    with sqlite3.connect(db) as conn:
        for row in rows:
            conn.execute(
                f"insert into {table} ({', '.join(row)}) values ({', '.join('?' * len(row))})",
                list(row.values()),
            )


def create_db(db: Path) -> Path:
    """An ERP database (SQLite) with every contract table, empty."""
    with sqlite3.connect(db) as conn:
        for table in ERP_TABLES:
            conn.execute(f"create table {table.source_name} ({', '.join(table.column_names)})")
    return db
