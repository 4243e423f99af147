"""The shared validation and loading machinery, below any one source system."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import psycopg
import pytest

from shrinkwatch.contracts import BY_NAME
from shrinkwatch.extract.ledger import unconserved_loads
from shrinkwatch.extract.loader import SourceRow, _to_json, load_table, record_from_json
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


# PostgreSQL reads these as numbers the contract has no use for (NaN, infinities,
# hexadecimal, octal and binary integers); the parser refuses them on purpose.
_NUMBERS_REFUSED_BY_CHOICE = {"NaN", "Infinity", "-inf", "0x1F", "0o17", "0b101"}


_NUMBERS = [
    "12", " 12.500 ", "-0", "+.5", "5.", "1E5", "1e+5", "1_000", "1_000.000_1", ".5_5", "1e1_0", "0e999999",
    "1" * 131_072, "1e131071", "1e-16383", "0." + "0" * 16_382 + "1", "0e131072",
    # refused by PostgreSQL
    "١٢", "１２", "1e999999", "1e-999999", "1e131072", "1" * 131_073, "1e-16384", "1.5e-16383",
    "0." + "0" * 16_383 + "1", "0e-16384", "1__0", "_1", "1_", "1_.5", "1e_1", "1 2", ".e1", "1,5",
    *sorted(_NUMBERS_REFUSED_BY_CHOICE),
]


def test_the_numeric_parser_refuses_what_postgresql_refuses(warehouse):
    verdicts = {}
    with psycopg.connect(warehouse.conninfo()) as conn:
        for value in _NUMBERS:
            try:
                with conn.transaction():
                    stored = conn.execute("select %s::numeric", (value,)).fetchone()[0]
            except (psycopg.errors.InvalidTextRepresentation, psycopg.errors.NumericValueOutOfRange):
                stored = None
            try:
                parsed = PARSERS["numeric"](value)
            except InvalidValue:
                parsed = None
            verdicts[value[:20]] = (parsed is not None, stored is not None)
            if parsed is not None and stored is not None:
                assert Decimal(parsed.replace("_", "")) == stored
    by_choice = {v[:20] for v in _NUMBERS_REFUSED_BY_CHOICE}
    assert {v: verdict for v, verdict in verdicts.items() if verdict[0] != verdict[1]} == dict.fromkeys(
        by_choice, (False, True)
    )


@pytest.mark.parametrize(("type_", "value", "problem"), [
    ("text", "a\ud800b", "surrogate"),  # a JSON "\ud800" escape: not text PostgreSQL can hold
    ("timestamptz", "2026-04-12T01:23:45+16:00", "offset"),  # PostgreSQL takes up to ±15:59:59
    ("int", "١٢", "not an integer"),
])
def test_values_postgresql_refuses_are_invalid(type_, value, problem):
    with pytest.raises(InvalidValue, match=problem):
        PARSERS[type_](value)


def test_a_key_postgresql_cannot_hold_is_quarantined_under_a_readable_ref(warehouse):
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    rows = [scrap("S\x001", "2", 2000), scrap("S\ud8002", "2", 2000), scrap("S3", "2", 2000)]
    rows[2].values[3] = "bad\ud800barcode"  # in a value, and so in the raw record
    result = load_table(conninfo, BY_NAME["mes_scrap"], iter(rows))
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 0, 3)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute(
            "select source_ref, rule, raw_record->>'event_id', raw_record->>'barcode' "
            "from quarantine.mes_scrap order by source_ref collate \"C\""
        ).fetchall() == [
            ("event_id=S3", "type:text", "S3", "bad\\ud800barcode"),
            ("event_id=S\\ud8002", "type:text", "S\\ud8002", None),
            ("event_id=S\\x001", "type:text", "S\\u00001", None),
        ]


def test_a_quarantined_record_with_what_jsonb_refuses_reads_back_as_the_source_gave_it(warehouse):
    # a replay judges the record again: NUL and lone surrogates must come back, literal backslashes stay
    record = {"nul": "RF\x0007", "surrogate": "S\ud8002", "low": "\udc00", "path": "C:\\ud\\x", "ok": "不锈钢"}
    with psycopg.connect(warehouse.conninfo()) as conn:
        (stored,), = conn.execute("select %s::jsonb::text", (_to_json(record),)).fetchall()
    assert record_from_json(stored) == record


def test_a_row_the_loader_never_received_breaks_conservation(warehouse):
    # a reader that counted three source rows but handed on two: the ledger shows the loss
    conninfo = warehouse.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    rows = iter([scrap("S1", "2", 2000), scrap("S2", "2", 2000)])
    result = load_table(conninfo, BY_NAME["mes_scrap"], rows, rows_read=lambda: 3)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 0)
    assert "not conserved" in result.message
    with psycopg.connect(conninfo) as conn:
        assert [row[0] for row in unconserved_loads(conn)] == [result.load_id]
