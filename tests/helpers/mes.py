"""MES source rows, written into the demo MES server's SQLite database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

TOKEN = "test-token"
T0 = 1_775_950_000_000  # epoch ms, April 2026


def consumption(n: int, updated_at: int, qty: str = "1.5") -> dict:
    return {
        "event_id": f"C{n:04d}", "order_no": "1000123", "operation": "0010",
        "work_center": "WC01", "line": "L1", "barcode": "(01)06901234567892(10)B2604120A7",
        "batch": "B2604120A7", "qty": qty, "uom": "kg", "consumed_at": updated_at - 5000,
        "operator_id": "op7", "updated_at": updated_at,
    }


def write_rows(db: Path, table: str, rows: list[dict]) -> None:
    with sqlite3.connect(db) as conn:
        for row in rows:
            conn.execute(
                f"insert or replace into {table} ({', '.join(row)}) "
                f"values ({', '.join('?' * len(row))})",
                list(row.values()),
            )
