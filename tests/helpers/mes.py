"""MES source rows, written into the demo MES server's SQLite database, and
that server run as its own process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shrinkwatch.contracts import MES_TABLES

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


def create_db(db: Path, *, keyed: bool = True) -> Path:
    """A MES database with every contract table, empty. `keyed=False` keeps
    every version of an item (a change log) instead of the current one."""
    with sqlite3.connect(db) as conn:
        for table in MES_TABLES:
            columns = [f"{c} primary key" if keyed and c == table.key[0] else c for c in table.column_names]
            conn.execute(f"create table {table.name} ({', '.join(columns)})")
    return db


class MesProcess:
    """The demo MES server as its own process (`python -m shrinkwatch.demo.mes_server`),
    on 127.0.0.1, stopped by its pid. `options` are its command-line knobs."""

    def __init__(self, db: Path, *options: str, token: str = TOKEN):
        port_file = Path(tempfile.mkdtemp(prefix="mes-port-")) / "port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shrinkwatch.demo.mes_server", "--data", str(db), "--host", "127.0.0.1",
             "--port-file", str(port_file), *options],
            env={**os.environ, "SHRINKWATCH_MES_TOKEN": token},
        )
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the MES server did not start (exit code {self.process.returncode})")
            time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{port_file.read_text()}"
        port_file.unlink()
        port_file.parent.rmdir()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
