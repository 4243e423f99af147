"""Where the demo plant's rows go: ERP and MES SQLite databases, WMS CSV exports.

Rows arrive in plant-day chunks and are written at once, so memory stays bounded
by one day of activity whatever the scale. Every table's columns come from
`shrinkwatch.contracts`, never from a second list here.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shrinkwatch.contracts import ERP_TABLES, MES_TABLES, SourceTable, wms_table_for_entity

_ERP_TYPES = {
    "text": sa.String,
    "int": sa.Integer,
    "numeric": lambda: sa.Numeric(13, 3, asdecimal=False),
    "date": sa.Date,
    "time": sa.Time,
    "timestamp": sa.DateTime,
}

_MES_TYPES = {"text": "TEXT", "numeric": "REAL", "epoch_ms": "INTEGER", "int": "INTEGER"}

# The column a MES resource orders and pages by, after updated_at.
MES_ID_COLUMNS = {t.name: t.key[0] for t in MES_TABLES}


class ErpSink:
    """The ERP database, created and filled through SQLAlchemy Core only."""

    def __init__(self, path: Path) -> None:
        self.engine = sa.create_engine(f"sqlite:///{path}")
        self.metadata = sa.MetaData()
        self.tables = {t.name: self._declare(t) for t in ERP_TABLES}
        self.metadata.create_all(self.engine)
        self.counts = dict.fromkeys(self.tables, 0)

    def _declare(self, source: SourceTable) -> sa.Table:
        columns = [
            sa.Column(c.name, _ERP_TYPES[c.type](), primary_key=c.name in source.key)
            for c in source.columns
        ]
        return sa.Table(source.name, self.metadata, *columns)

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.engine.begin() as connection:
            connection.execute(self.tables[table].insert(), rows)
        self.counts[table] += len(rows)

    def close(self) -> None:
        self.engine.dispose()


class MesSink:
    """The MES store the demo MES server reads: one table per resource."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path)
        self.counts = {t.name: 0 for t in MES_TABLES}
        self._inserts = {}
        for table in MES_TABLES:
            id_column = MES_ID_COLUMNS[table.name]
            columns = ", ".join(
                f"{c.name} {_MES_TYPES[c.type]}{' PRIMARY KEY' if c.name == id_column else ''}"
                for c in table.columns
            )
            self.connection.execute(f"CREATE TABLE {table.name} ({columns})")
            self.connection.execute(
                f"CREATE INDEX {table.name}__updated ON {table.name} (updated_at, {id_column})"
            )
            marks = ", ".join("?" * len(table.columns))
            self._inserts[table.name] = (
                f"INSERT INTO {table.name} VALUES ({marks})",
                table.column_names,
            )

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        sql, names = self._inserts[table]
        self.connection.executemany(sql, [tuple(row[n] for n in names) for row in rows])
        self.connection.commit()
        self.counts[table] += len(rows)

    def close(self) -> None:
        self.connection.close()


def wms_csv_bytes(entity: str, rows: list[dict[str, Any]], encoding: str) -> bytes:
    """One WMS export file, header included, in the site's encoding."""
    names = wms_table_for_entity(entity).column_names
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    writer.writerows([row[n] for n in names] for row in rows)
    return buffer.getvalue().encode(encoding)
