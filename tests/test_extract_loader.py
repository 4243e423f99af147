"""The shared validation and loading machinery, below any one source system."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import psycopg
import pytest

from shrinkwatch.contracts import BY_NAME
from shrinkwatch.extract.loader import SourceRow, load_table
from shrinkwatch.extract.validation import PARSERS, InvalidValue, Rejection, RowValidator
from shrinkwatch.extract.warehouse import ensure_schemas


@pytest.mark.parametrize(("type_", "value", "expected"), [
    ("text", "  Φ12×100mm ", "Φ12×100mm"),
    ("text", "   ", None),
    ("int", " 0042 ", 42),
    ("int", Decimal("3"), 3),
    ("numeric", " 1e3 ", "1e3"),
    ("numeric", 0.1, "0.1"),
    ("numeric", Decimal("12.500"), "12.500"),
    ("date", "2026-04-12", date(2026, 4, 12)),
    ("time", "08:15:00", time(8, 15)),
    ("timestamp", "2026-04-12 08:15:00", datetime(2026, 4, 12, 8, 15)),
    ("timestamptz", "2026-04-12T01:23:45Z", datetime.fromisoformat("2026-04-12T01:23:45+00:00")),
    ("epoch_ms", 1775950000000, 1775950000000),
    ("epoch_ms", "1775950000000", 1775950000000),
])
def test_values_parse_per_contract_type(type_, value, expected):
    assert PARSERS[type_](value) == expected


@pytest.mark.parametrize(("type_", "value"), [
    ("int", "4.5"), ("int", True), ("int", 2**31), ("numeric", "1,5"), ("numeric", "NaN"),
    ("date", "12.04.2026"), ("date", "2026-02-30"), ("time", "8:15"),
    ("timestamp", "2026-04-12T08:15:00+08:00"), ("timestamptz", "2026-04-12T01:23:45"),
    ("epoch_ms", 1.5), ("text", "a\x00b"),
])
def test_malformed_values_are_refused(type_, value):
    with pytest.raises(InvalidValue):
        PARSERS[type_](value)


def test_rejection_names_rule_column_and_value():
    validator = RowValidator(BY_NAME["wms_item"])
    assert validator.validate(["SKU-1", "", "", "", "BAG", "25 kg", "KG", ""]) == Rejection(
        "type:numeric", "units_per_uom = '25 kg' is not a number"
    )
    assert validator.validate([" ", "", "", "", "BAG", "25", "KG", ""]).rule == "not_null_key"


def scrap(event_id: str, qty: str, updated_at: int) -> SourceRow:
    return SourceRow([event_id, "1000123", "WC01", None, "B1", qty, "kg", "R1", None,
                      updated_at - 1, "op7", updated_at])


def test_newest_mes_version_in_one_read_wins_and_counts_as_loaded(warehouse):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    rows = [scrap("S1", "2", 2000), scrap("S1", "3", 3000), scrap("S2", "1", 1000),
            scrap("S1", "9", 1000)]
    result = load_table(conninfo, BY_NAME["mes_scrap"], iter(rows), chunk_rows=2)
    assert (result.rows_read, result.rows_loaded, result.rows_inserted) == (4, 4, 2)
    assert result.watermark_to == "3000"
    assert "2 older versions superseded" in result.message
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("select event_id, qty from raw.mes_scrap order by 1").fetchall() == [
            ("S1", 3), ("S2", 1),
        ]
        # an older version arriving later never overwrites the newer one
        load_table(conninfo, BY_NAME["mes_scrap"], iter([scrap("S1", "2", 2000)]))
        assert conn.execute("select qty from raw.mes_scrap where event_id = 'S1'").fetchone() == (
            3,
        )


def test_a_failed_load_commits_nothing_but_its_failed_ledger_row(warehouse):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)

    def breaking_source():
        yield scrap("S1", "2", 2000)
        yield SourceRow(["S2", "1000123", "WC01", None, "B1", "x", "kg", None, None, 1, "o", 1])
        raise ConnectionError("source went away")

    with pytest.raises(ConnectionError):
        load_table(conninfo, BY_NAME["mes_scrap"], breaking_source(), chunk_rows=1)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("select count(*) from raw.mes_scrap").fetchone() == (0,)
        assert conn.execute("select count(*) from quarantine.mes_scrap").fetchone() == (0,)
        status, rows_read, message = conn.execute(
            "select status, rows_read, message from ops.load_ledger"
        ).fetchone()
    assert (status, rows_read) == ("failed", 0)
    assert message == "ConnectionError: source went away (after reading 2 rows)"
