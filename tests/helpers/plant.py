"""What a demo plant delivered: the rows raw must hold once every source row is
loaded exactly once, counted from the sources themselves (not the ledger)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from shrinkwatch import contracts


def expected_raw_counts(demo_dir: Path, landing_dir: Path, held_back: frozenset[str] = frozenset()) -> dict[str, int]:
    """raw table -> rows. ERP and MES: every row of the source database. WMS:
    every row of every export, except a re-export whose bytes equal its day's
    export (sent twice) and an export that a later _<seq> replaced; an
    unchanged master export of another day is that day's export. Files in
    `held_back` have not been delivered yet."""
    expected = {}
    for source in ("erp", "mes"):
        with sqlite3.connect(demo_dir / f"{source}.sqlite") as db:
            for table in contracts.tables_of(source):
                expected[table.name] = db.execute(f"select count(*) from {table.name}").fetchone()[0]
    plant = json.loads((demo_dir / "plant.json").read_text())
    day_digest: dict[tuple[str, str], str] = {}
    by_entity = dict.fromkeys((t.source_name for t in contracts.tables_of("wms")), 0)
    delivered = [f for f in plant["wms_files"] if f["file"] not in held_back]
    for f in sorted(delivered, key=lambda f: (f["file_date"], f["seq"], f["file"])):
        digest = hashlib.sha256((landing_dir / f["file"]).read_bytes()).hexdigest()
        day = (f["entity"], f["file_date"])
        if day_digest.get(day) != digest and f["role"] != "replaced":
            by_entity[f["entity"]] += f["rows"]
        day_digest[day] = digest
    for table in contracts.tables_of("wms"):
        expected[table.name] = by_entity[table.source_name]
    return expected
